//! The embedded backend: one SQLCipher file holding the phone's record tables (written by
//! gridsync-core's own code, `store::received`) and the center's tables beside them.
//!
//! SQLite has one writer at a time: write transactions take the writer connection
//! (`BEGIN IMMEDIATE`), reads run concurrently on a small pool of reader connections
//! (WAL). With one writer, sequences are given and committed in order, so a reader that
//! sees a sequence sees every lower one.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use automerge::Change;
use gridsync_core::doc::RecordDoc;
use gridsync_core::store::received::{self, area_condition};
use gridsync_core::{DbKey, Kind, Store};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};

use super::{
    AuditRow, DeviceAuth, DeviceRow, EnrolCode, LogAudit, LoggedChange, NewDevice, SessionRow, StaffRow, Storage,
    StorageError, StorageResult, StoredRecord, Tx, WorkerRow, prefix_bounds, split_scope,
};

const CENTER_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/001_center.sql"),
    include_str!("../../migrations/002_console.sql"),
    include_str!("../../migrations/003_worker_roles.sql"),
    include_str!("../../migrations/004_device_writes.sql"),
];
const META_SCHEMA: &str = "schema";
/// Idle reader connections kept open: one for each thread that may read at once.
const MAX_IDLE_READERS: usize = super::MAX_DB_THREADS;

pub struct SqliteStorage {
    path: PathBuf,
    key: [u8; 32],
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The key file beside a center database: 32 random bytes, hex, readable by the owner
/// only. Created with the database; a database without its key cannot be opened.
pub fn key_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn load_or_create_key(db: &Path) -> Result<[u8; 32], String> {
    let path = key_path(db);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let bytes = hex::decode(text.trim()).map_err(|_| format!("{} is not a hex key", path.display()))?;
        return bytes.try_into().map_err(|_| format!("{} must hold 32 bytes", path.display()));
    }
    if db.exists() {
        return Err(format!("{} exists but its key file {} is missing", db.display(), path.display()));
    }
    let mut key = [0u8; 32];
    SystemRandom::new().fill(&mut key).map_err(|_| "no system randomness".to_owned())?;
    super::write_private(&path, hex::encode(key).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key)
}

impl SqliteStorage {
    /// Opens (creating, with its key file) the center database at `db`, bringing the
    /// record tables and the center's tables up to date.
    pub fn open(db: &Path) -> Result<Self, String> {
        let key = load_or_create_key(db)?;
        // The record tables are the phone's: their migrations run through the store.
        drop(Store::open(db, DbKey::Raw(&key)).map_err(|e| format!("cannot open {}: {e}", db.display()))?);
        let writer = connect(db, &key).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        migrate(&writer).map_err(|e| format!("cannot migrate the center tables: {e}"))?;
        Ok(Self { path: db.to_owned(), key, writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    fn reader(&self) -> StorageResult<Connection> {
        match self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop() {
            Some(conn) => Ok(conn),
            None => connect(&self.path, &self.key).map_err(failed),
        }
    }
}

/// A connection to an existing center database, for tools that read its tables as they
/// are (`admin migrate`).
pub(crate) fn open_existing(db: &Path) -> Result<Connection, String> {
    if !db.exists() {
        return Err(format!("{} does not exist", db.display()));
    }
    let key = load_or_create_key(db)?;
    connect(db, &key).map_err(|e| format!("cannot open {}: {e}", db.display()))
}

fn connect(path: &Path, key: &[u8; 32]) -> rusqlite::Result<Connection> {
    let conn = gridsync_core::store::open_sqlite(path, OpenFlags::default())?;
    conn.pragma_update(None, "key", format!("x'{}'", hex::encode(key)))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS center_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT",
        )?;
        let version: usize = conn
            .query_row("SELECT value FROM center_meta WHERE key = ?1", [META_SCHEMA], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .and_then(|b| String::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(0);
        for (index, sql) in CENTER_MIGRATIONS.iter().enumerate().skip(version) {
            // The first migration's CREATE of center_meta already ran above.
            conn.execute_batch(&sql.replacen("CREATE TABLE center_meta", "CREATE TABLE IF NOT EXISTS center_meta", 1))?;
            conn.execute(
                "INSERT OR REPLACE INTO center_meta (key, value) VALUES (?1, ?2)",
                params![META_SCHEMA, (index + 1).to_string().into_bytes()],
            )?;
        }
        Ok(())
    })();
    conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
    result
}

/// A rusqlite error as a storage error: its kind, never its message (a constraint
/// message can quote row values).
fn failed(err: rusqlite::Error) -> StorageError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StorageError::Unavailable("the database is busy".into())
        }
        Some(code) => StorageError::Failed(format!("sqlite: {code:?}")),
        None => StorageError::Failed(format!("sqlite: {}", short_kind(&err))),
    }
}

fn short_kind(err: &rusqlite::Error) -> &'static str {
    match err {
        rusqlite::Error::QueryReturnedNoRows => "no rows",
        rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::FromSqlConversionFailure(..) => "column type",
        _ => "error",
    }
}

/// Core's errors are already free of row values (its own conversion of rusqlite's).
fn core_failed(err: gridsync_core::Error) -> StorageError {
    StorageError::Failed(format!("storing a record: {err}"))
}

impl Storage for SqliteStorage {
    fn write(&self) -> StorageResult<Box<dyn Tx + '_>> {
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute_batch("BEGIN IMMEDIATE").map_err(failed)?;
        Ok(Box::new(SqliteTx { conn: Conn::Writer(conn), storage: self, open: true }))
    }

    fn read(&self) -> StorageResult<Box<dyn Tx + '_>> {
        let conn = self.reader()?;
        conn.execute_batch("BEGIN").map_err(failed)?;
        Ok(Box::new(SqliteTx { conn: Conn::Reader(Some(conn)), storage: self, open: true }))
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn blob_dir(&self) -> Option<PathBuf> {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".blobs");
        Some(self.path.with_file_name(name))
    }
}

enum Conn<'a> {
    Writer(MutexGuard<'a, Connection>),
    Reader(Option<Connection>),
}

struct SqliteTx<'a> {
    conn: Conn<'a>,
    storage: &'a SqliteStorage,
    open: bool,
}

impl SqliteTx<'_> {
    fn conn(&self) -> &Connection {
        match &self.conn {
            Conn::Writer(guard) => guard,
            Conn::Reader(conn) => conn.as_ref().expect("a reader until dropped"),
        }
    }

    /// The worker `id`, or every worker.
    fn workers_where(&self, id: Option<&str>) -> StorageResult<Vec<WorkerRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, name, role, employment,
                        (SELECT group_concat(prefix, ',') FROM
                           (SELECT prefix FROM worker_scopes WHERE worker_id = workers.id ORDER BY prefix))
                 FROM workers WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
            )
            .map_err(failed)?;
        stmt.query_map([id], |r| {
            Ok(WorkerRow {
                id: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                employment: r.get(3)?,
                scope: split_scope(&r.get::<_, Option<String>>(4)?.unwrap_or_default()),
            })
        })
        .and_then(Iterator::collect)
        .map_err(failed)
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn().execute_batch("ROLLBACK");
        }
        if let Conn::Reader(conn) = &mut self.conn
            && let Some(conn) = conn.take()
        {
            let mut idle = self.storage.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
    }
}

fn parse_kind(kind: &str) -> StorageResult<Kind> {
    Kind::parse(kind).ok_or_else(|| StorageError::Failed("a record of an unknown kind".into()))
}

impl Tx for SqliteTx<'_> {
    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        self.conn().execute_batch("COMMIT").map_err(failed)?;
        self.open = false;
        Ok(())
    }

    fn meta(&mut self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        self.conn()
            .query_row("SELECT value FROM center_meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(failed)
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> StorageResult<()> {
        self.conn()
            .execute("INSERT OR REPLACE INTO center_meta (key, value) VALUES (?1, ?2)", params![key, value])
            .map_err(failed)?;
        Ok(())
    }

    fn put_area(&mut self, code: &str, name: &str) -> StorageResult<()> {
        self.conn()
            .execute("INSERT OR REPLACE INTO areas (code, name) VALUES (?1, ?2)", params![code, name])
            .map_err(failed)?;
        Ok(())
    }

    fn area_name(&mut self, code: &str) -> StorageResult<Option<String>> {
        self.conn()
            .prepare_cached("SELECT name FROM areas WHERE code = ?1")
            .and_then(|mut stmt| stmt.query_row([code], |r| r.get(0)).optional())
            .map_err(failed)
    }

    fn areas_empty(&mut self) -> StorageResult<bool> {
        self.conn().query_row("SELECT NOT EXISTS (SELECT 1 FROM areas)", [], |r| r.get(0)).map_err(failed)
    }

    fn area_has_below(&mut self, code: &str) -> StorageResult<bool> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM areas WHERE code > ?1 AND code < ?1 || '~' AND length(code) > length(?1))",
                [code],
                |r| r.get(0),
            )
            .map_err(failed)
    }

    fn put_worker(&mut self, worker: &WorkerRow, now: i64) -> StorageResult<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO workers (id, name, role, employment, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET name = ?2, role = ?3, employment = ?4",
            params![worker.id, worker.name, worker.role, worker.employment, now],
        )
        .map_err(failed)?;
        conn.execute("DELETE FROM worker_scopes WHERE worker_id = ?1", [&worker.id]).map_err(failed)?;
        for prefix in &worker.scope {
            conn.execute("INSERT INTO worker_scopes (worker_id, prefix) VALUES (?1, ?2)", params![worker.id, prefix])
                .map_err(failed)?;
        }
        Ok(())
    }

    fn worker(&mut self, id: &str) -> StorageResult<Option<WorkerRow>> {
        Ok(self.workers_where(Some(id))?.pop())
    }

    fn workers(&mut self) -> StorageResult<Vec<WorkerRow>> {
        self.workers_where(None)
    }

    fn put_enrol_code(&mut self, hash: &[u8], worker: &str, expires_at: i64) -> StorageResult<()> {
        self.conn()
            .execute(
                "INSERT INTO enrol_codes (code_hash, worker_id, expires_at) VALUES (?1, ?2, ?3)",
                params![hash, worker, expires_at],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn enrol_code(&mut self, hash: &[u8]) -> StorageResult<Option<EnrolCode>> {
        self.conn()
            .query_row(
                "SELECT worker_id, expires_at, used_at, device_id FROM enrol_codes WHERE code_hash = ?1",
                [hash],
                |r| {
                    Ok(EnrolCode {
                        worker_id: r.get(0)?,
                        expires_at: r.get(1)?,
                        used_at: r.get(2)?,
                        device_id: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(failed)
    }

    fn use_enrol_code(&mut self, hash: &[u8], device: &str, now: i64) -> StorageResult<()> {
        self.conn()
            .execute(
                "UPDATE enrol_codes SET used_at = ?2, device_id = ?3 WHERE code_hash = ?1",
                params![hash, now, device],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn device(&mut self, id: &str) -> StorageResult<Option<DeviceAuth>> {
        self.conn()
            .prepare_cached(
                "SELECT worker_id, public_key, actor, last_counter, revoked_at IS NOT NULL, wipe FROM devices WHERE id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([id], |r| {
                    Ok(DeviceAuth {
                        worker_id: r.get(0)?,
                        public_key: r.get(1)?,
                        actor: r.get(2)?,
                        last_counter: r.get::<_, i64>(3)? as u64,
                        revoked: r.get(4)?,
                        wipe: r.get(5)?,
                    })
                })
                .optional()
            })
            .map_err(failed)
    }

    fn actor_key(&mut self, actor: &str) -> StorageResult<Option<Vec<u8>>> {
        self.conn()
            .query_row("SELECT public_key FROM devices WHERE actor = ?1", [actor], |r| r.get(0))
            .optional()
            .map_err(failed)
    }

    fn insert_device(&mut self, d: &NewDevice<'_>) -> StorageResult<()> {
        self.conn()
            .execute(
                "INSERT INTO devices (id, worker_id, public_key, actor, name, app_version, enrolled_at, last_counter)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    d.id,
                    d.worker_id,
                    d.public_key,
                    d.actor,
                    d.name,
                    d.app_version,
                    d.enrolled_at,
                    d.counter as i64
                ],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn advance_counter(&mut self, id: &str, counter: u64, now: i64) -> StorageResult<bool> {
        let changed = self
            .conn()
            .prepare_cached("UPDATE devices SET last_counter = ?2, last_seen = ?3 WHERE id = ?1 AND last_counter < ?2")
            .and_then(|mut stmt| stmt.execute(params![id, counter as i64, now]))
            .map_err(failed)?;
        Ok(changed == 1)
    }

    fn devices(&mut self) -> StorageResult<Vec<DeviceRow>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id, worker_id, name, app_version, enrolled_at, last_seen, revoked_at IS NOT NULL, wipe
                 FROM devices ORDER BY enrolled_at, id",
            )
            .map_err(failed)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DeviceRow {
                    id: r.get(0)?,
                    worker_id: r.get(1)?,
                    name: r.get(2)?,
                    app_version: r.get(3)?,
                    enrolled_at: r.get(4)?,
                    last_seen: r.get(5)?,
                    revoked: r.get(6)?,
                    wipe: r.get(7)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(failed)?;
        Ok(rows)
    }

    fn revoke(&mut self, id: &str, wipe: bool, now: i64) -> StorageResult<bool> {
        let changed = self
            .conn()
            .execute(
                "UPDATE devices SET revoked_at = ifnull(revoked_at, ?2), wipe = wipe OR ?3 WHERE id = ?1",
                params![id, now, wipe],
            )
            .map_err(failed)?;
        Ok(changed == 1)
    }

    fn add_refusals(&mut self, counts: &[(String, i64)]) -> StorageResult<()> {
        for (reason, count) in counts {
            self.conn()
                .execute(
                    "INSERT INTO refusals (reason, count) VALUES (?1, ?2)
                     ON CONFLICT (reason) DO UPDATE SET count = count + ?2",
                    params![reason, count],
                )
                .map_err(failed)?;
        }
        Ok(())
    }

    fn refusals(&mut self) -> StorageResult<Vec<(String, i64)>> {
        let mut stmt = self.conn().prepare("SELECT reason, count FROM refusals ORDER BY reason").map_err(failed)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).and_then(Iterator::collect).map_err(failed)?;
        Ok(rows)
    }

    fn put_staff(&mut self, staff: &StaffRow) -> StorageResult<()> {
        self.conn()
            .execute(
                "INSERT INTO staff (id, name, role, scope, password_hash, failed_logins, locked_until)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, role = ?3, scope = ?4, password_hash = ?5,
                     failed_logins = ?6, locked_until = ?7",
                params![
                    staff.id,
                    staff.name,
                    staff.role,
                    staff.scope.join(","),
                    staff.password_hash,
                    staff.failed_logins,
                    staff.locked_until
                ],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn staff(&mut self, id: &str) -> StorageResult<Option<StaffRow>> {
        self.conn()
            .query_row(
                "SELECT id, name, role, scope, password_hash, failed_logins, locked_until FROM staff WHERE id = ?1",
                [id],
                |r| {
                    Ok(StaffRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        role: r.get(2)?,
                        scope: split_scope(&r.get::<_, String>(3)?),
                        password_hash: r.get(4)?,
                        failed_logins: r.get(5)?,
                        locked_until: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(failed)
    }

    fn set_login_failures(&mut self, id: &str, failed_logins: i64, locked_until: Option<i64>) -> StorageResult<()> {
        self.conn()
            .execute(
                "UPDATE staff SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1",
                params![id, failed_logins, locked_until],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn put_session(&mut self, token_hash: &[u8], session: &SessionRow) -> StorageResult<()> {
        self.conn()
            .execute(
                "INSERT INTO sessions (token_hash, staff_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, session.staff_id, session.csrf, session.expires_at],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn session(&mut self, token_hash: &[u8]) -> StorageResult<Option<SessionRow>> {
        self.conn()
            .query_row("SELECT staff_id, csrf, expires_at FROM sessions WHERE token_hash = ?1", [token_hash], |r| {
                Ok(SessionRow { staff_id: r.get(0)?, csrf: r.get(1)?, expires_at: r.get(2)? })
            })
            .optional()
            .map_err(failed)
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> StorageResult<()> {
        self.conn().execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash]).map_err(failed)?;
        Ok(())
    }

    fn add_audit(&mut self, row: &AuditRow) -> StorageResult<()> {
        self.conn()
            .execute(
                "INSERT INTO audit (at, staff_id, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.at, row.staff_id, row.action, row.target, row.detail],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn audit_log(&mut self, limit: u32) -> StorageResult<Vec<AuditRow>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT at, staff_id, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?1")
            .map_err(failed)?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(AuditRow {
                    at: r.get(0)?,
                    staff_id: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(failed)?;
        Ok(rows)
    }

    fn lock_device(&mut self, _id: &str) -> StorageResult<()> {
        // A write transaction holds the one writer: pushes are serialised already.
        Ok(())
    }

    fn batch_answer(&mut self, device: &str, batch: &str) -> StorageResult<Option<Vec<u8>>> {
        self.conn()
            .query_row(
                "SELECT response FROM batches WHERE device_id = ?1 AND batch_id = ?2",
                params![device, batch],
                |r| r.get(0),
            )
            .optional()
            .map_err(failed)
    }

    fn save_batch(&mut self, device: &str, batch: &str, answer: &[u8], now: i64) -> StorageResult<()> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO batches (device_id, batch_id, response, at) VALUES (?1, ?2, ?3, ?4)",
                params![device, batch, answer, now],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn device_writes(&mut self, device: &str, day: i64) -> StorageResult<(i64, i64)> {
        self.conn()
            .query_row(
                "SELECT records, changes FROM device_writes WHERE device_id = ?1 AND day = ?2",
                params![device, day],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(failed)
    }

    fn add_device_writes(&mut self, device: &str, day: i64, records: i64, changes: i64) -> StorageResult<()> {
        self.conn()
            .execute(
                "INSERT INTO device_writes (device_id, day, records, changes) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (device_id, day) DO UPDATE SET records = records + ?3, changes = changes + ?4",
                params![device, day, records, changes],
            )
            .map_err(failed)?;
        Ok(())
    }

    fn lock_records(&mut self, _ids: &[&str]) -> StorageResult<()> {
        // The one writer holds every record.
        Ok(())
    }

    fn record(&mut self, id: &str) -> StorageResult<Option<StoredRecord>> {
        load_record(self.conn(), id)
    }

    fn save_record(
        &mut self,
        id: &str,
        doc: &RecordDoc,
        changes: &[Change],
        device: &str,
        now: i64,
    ) -> StorageResult<usize> {
        received::save_received(self.conn(), id, doc, changes, device, now).map_err(core_failed)
    }

    fn max_seq(&mut self) -> StorageResult<u64> {
        let seq: i64 =
            self.conn().query_row("SELECT ifnull(max(seq), 0) FROM change_log", [], |r| r.get(0)).map_err(failed)?;
        Ok(seq as u64)
    }

    fn record_ids_after(&mut self, prefixes: &[String], after_id: &str, limit: u32) -> StorageResult<Vec<String>> {
        let (condition, mut params) = area_condition("area_code", prefixes);
        params.push(after_id.to_owned().into());
        params.push(i64::from(limit).into());
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT id FROM records WHERE {condition} AND id > ? ORDER BY id LIMIT ?"))
            .map_err(failed)?;
        let ids = stmt.query_map(params_from_iter(params.iter()), |r| r.get(0)).and_then(Iterator::collect);
        ids.map_err(failed)
    }

    fn count_records_after(&mut self, prefixes: &[String], after_id: &str) -> StorageResult<u64> {
        let (condition, mut params) = area_condition("area_code", prefixes);
        params.push(after_id.to_owned().into());
        let sql = format!("SELECT count(*) FROM records WHERE {condition} AND id > ?");
        let count: i64 = self.conn().query_row(&sql, params_from_iter(params.iter()), |r| r.get(0)).map_err(failed)?;
        Ok(count as u64)
    }

    fn changes_after(
        &mut self,
        prefixes: &[String],
        device: &str,
        after: u64,
        limit: u32,
    ) -> StorageResult<Vec<LoggedChange>> {
        let (condition, params) = area_condition("r.area_code", prefixes);
        let mut all: Vec<SqlValue> = vec![(after as i64).into()];
        all.extend(params);
        all.push(device.to_owned().into());
        all.push(i64::from(limit).into());
        let sql = format!(
            "SELECT c.seq, c.record_id, r.kind, c.bytes FROM change_log c JOIN records r ON r.id = c.record_id
             WHERE c.seq > ? AND {condition} AND (c.device IS NULL OR c.device != ?)
             ORDER BY c.seq LIMIT ?"
        );
        let mut stmt = self.conn().prepare_cached(&sql).map_err(failed)?;
        let rows: Vec<(i64, String, String, Vec<u8>)> = stmt
            .query_map(params_from_iter(all.iter()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(failed)?;
        rows.into_iter()
            .map(|(seq, record_id, kind, bytes)| {
                Ok(LoggedChange { seq: seq as u64, record_id, kind: parse_kind(&kind)?, bytes })
            })
            .collect()
    }

    fn count_changes_after(&mut self, prefixes: &[String], device: &str, after: u64) -> StorageResult<u64> {
        let (condition, params) = area_condition("r.area_code", prefixes);
        let mut all: Vec<SqlValue> = vec![(after as i64).into()];
        all.extend(params);
        all.push(device.to_owned().into());
        let sql = format!(
            "SELECT count(*) FROM change_log c JOIN records r ON r.id = c.record_id
             WHERE c.seq > ? AND {condition} AND (c.device IS NULL OR c.device != ?)"
        );
        let count: i64 = self.conn().query_row(&sql, params_from_iter(all.iter()), |r| r.get(0)).map_err(failed)?;
        Ok(count as u64)
    }

    fn for_each_heads(
        &mut self,
        prefixes: &[String],
        each: &mut dyn FnMut(&str, &[u8]) -> StorageResult<()>,
    ) -> StorageResult<()> {
        let (condition, params) = area_condition("area_code", prefixes);
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT id, heads FROM records WHERE {condition} ORDER BY id"))
            .map_err(failed)?;
        let mut rows = stmt.query(params_from_iter(params.iter())).map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            let id = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(failed)?;
            let heads = row.get_ref(1).and_then(|v| Ok(v.as_blob()?)).map_err(failed)?;
            each(id, heads)?;
        }
        Ok(())
    }

    fn record_ids_of_kind(
        &mut self,
        kind: Kind,
        prefix: &str,
        after_id: &str,
        limit: u32,
    ) -> StorageResult<Vec<String>> {
        let (low, high) = prefix_bounds(prefix);
        self.conn()
            .prepare_cached(
                "SELECT id FROM records WHERE kind = ?1 AND area_code >= ?2 AND area_code < ?3 AND id > ?4
                 ORDER BY id LIMIT ?5",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![kind.as_str(), low, high, after_id, i64::from(limit)], |r| r.get(0))?.collect()
            })
            .map_err(failed)
    }

    fn log_audit(&mut self) -> StorageResult<LogAudit> {
        let (rows, distinct): (i64, i64) = self
            .conn()
            .query_row(
                "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT record_id, hash FROM change_log)) FROM change_log",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(failed)?;
        Ok(LogAudit { rows: rows as u64, distinct: distinct as u64 })
    }
}

fn load_record(conn: &Connection, id: &str) -> StorageResult<Option<StoredRecord>> {
    let row: Option<(String, String, Option<Vec<u8>>, i64)> = conn
        .prepare_cached("SELECT kind, area_code, snapshot, snapshot_seq FROM records WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional())
        .map_err(failed)?;
    let Some((kind, area_code, snapshot, snapshot_seq)) = row else { return Ok(None) };
    let tail: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM change_log WHERE record_id = ?1 AND seq > ?2 ORDER BY seq")
        .and_then(|mut stmt| stmt.query_map(params![id, snapshot_seq], |r| r.get(0))?.collect())
        .map_err(failed)?;
    let history_bytes: i64 = conn
        .prepare_cached("SELECT ifnull(sum(length(bytes)), 0) FROM change_log WHERE record_id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |r| r.get(0)))
        .map_err(failed)?;
    Ok(Some(StoredRecord { kind: parse_kind(&kind)?, area_code, snapshot, tail, history_bytes: history_bytes as u64 }))
}

//! The PostgreSQL backend: a county's or a city's center, several stateless center
//! processes on one database.
//!
//! Concurrency, and why each promise of the trait holds:
//! - Write transactions run at READ COMMITTED and take row or advisory locks: a device's
//!   row (`lock_device`, its pushes one at a time), one advisory lock per record
//!   (`lock_records`, taken in hash order so two pushes never deadlock), the row of an
//!   enrolment code. A counter moves with `UPDATE … WHERE last_counter < $2`, which a
//!   racing twin re-checks after the first commits: one wins.
//! - Sequences commit in order. A push's changes are written at commit: the transaction
//!   takes the lock of `change_seq`'s one row, numbers its changes, inserts them and
//!   commits, and PostgreSQL releases the lock only after the commit is visible. So
//!   sequence `s + 1` can only be visible after `s` is, and a pull that saw a sequence
//!   has seen every lower one: the outbox gap cannot open. The lock is held for the
//!   insert and the commit only, never while documents are checked.
//! - Read transactions run at REPEATABLE READ, READ ONLY: one snapshot per answer.
//!
//! The driver is the synchronous `postgres` crate with an `r2d2` pool: the center's
//! rules run on the blocking pool anyway, as they do over rusqlite (docs/decisions.md).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use automerge::Change;
use gridsync_core::Kind;
use gridsync_core::doc::{RecordDoc, encode_heads};
use postgres::types::ToSql;
use postgres::{NoTls, Row, Statement};

use super::{
    AuditRow, DeviceAuth, DeviceRow, EnrolCode, LogAudit, LoggedChange, NewDevice, SessionRow, StaffRow, Storage,
    StorageError, StorageResult, StoredRecord, Tx, WorkerRow, prefix_bounds, split_scope,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/001_center.sql"),
    include_str!("../../migrations/postgres/002_console.sql"),
    include_str!("../../migrations/postgres/003_worker_roles.sql"),
    include_str!("../../migrations/postgres/004_device_writes.sql"),
];
/// A record's tail of changes is folded into a new snapshot once it is this long (as on
/// a phone: loading stays cheap, an edit never rewrites the whole document).
const COMPACT_AFTER: i32 = 32;
/// Connections one center process keeps to the database.
pub const POOL_SIZE: u32 = 16;
/// How long a request waits for a pooled connection before the phone is told to retry.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection.
const MAX_STATEMENTS: usize = 256;
/// The advisory lock that serialises migrations of several processes starting at once.
const MIGRATION_LOCK: i64 = 0x6772_6964_7379_6e63; // "gridsync"

pub struct PostgresStorage {
    pool: r2d2::Pool<Manager>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").field("state", &self.pool.state()).finish_non_exhaustive()
    }
}

/// A pooled connection with its prepared statements: each query is one round trip, not
/// a parse and then an execute.
struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StorageResult<Vec<Row>> {
        let statement = self.statement(sql).map_err(failed)?;
        self.client.query(&statement, params).map_err(failed)
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StorageResult<Option<Row>> {
        let statement = self.statement(sql).map_err(failed)?;
        self.client.query_opt(&statement, params).map_err(failed)
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StorageResult<Row> {
        let statement = self.statement(sql).map_err(failed)?;
        self.client.query_one(&statement, params).map_err(failed)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StorageResult<u64> {
        let statement = self.statement(sql).map_err(failed)?;
        self.client.execute(&statement, params).map_err(failed)
    }
}

#[derive(Debug)]
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn { client: self.config.connect(NoTls)?, statements: HashMap::new() })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// A PostgreSQL error as a storage error: its SQLSTATE, never its message (which can
/// quote row values). A lost connection, a database shutting down or refusing
/// connections, a serialisation failure or a deadlock are `Unavailable`: the phone
/// retries and the next attempt finds the database (or a fresh connection).
fn failed(err: postgres::Error) -> StorageError {
    let Some(state) = err.code() else {
        return StorageError::Unavailable(if err.is_closed() {
            "connection closed".into()
        } else {
            "connection".into()
        });
    };
    let code = state.code();
    if code.starts_with("08") || code.starts_with("57P") || ["53300", "40001", "40P01"].contains(&code) {
        StorageError::Unavailable(format!("postgres: {code}"))
    } else {
        StorageError::Failed(format!("postgres: {code}"))
    }
}

impl PostgresStorage {
    /// Connects to the database at `url` and brings its schema up to date (one process
    /// at a time, under an advisory lock).
    pub fn connect(url: &str) -> Result<Self, String> {
        let config: postgres::Config = url.parse().map_err(|_| "the PostgreSQL URL cannot be read".to_owned())?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(POOL_WAIT)
            // A broken connection fails its request as `Unavailable` and is dropped;
            // checking every checkout would cost a round trip per request.
            .test_on_check_out(false)
            .build(Manager { config })
            .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
        let storage = Self { pool };
        storage.migrate().map_err(|e| format!("cannot migrate the PostgreSQL schema: {e}"))?;
        Ok(storage)
    }

    /// Runs `f` with a client of the pool, outside the trait (`admin migrate` writes rows
    /// as they are).
    pub(crate) fn with_client<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut conn = self.connection().map_err(|e| e.to_string())?;
        f(&mut conn.client)
    }

    fn connection(&self) -> StorageResult<r2d2::PooledConnection<Manager>> {
        self.pool.get().map_err(|_| StorageError::Unavailable("no database connection free in time".into()))
    }

    /// A pooled connection with a transaction begun by `begin`. A connection the
    /// database closed while it sat in the pool (a restart) fails its first statement:
    /// it is dropped and another tried, so the first requests after the database comes
    /// back do not fail for the pool's stale connections.
    fn begin(&self, begin: &str) -> StorageResult<PgTx> {
        let mut last = StorageError::Unavailable("no database connection".into());
        for _ in 0..=POOL_SIZE {
            let mut conn = self.connection()?;
            match conn.client.batch_execute(begin) {
                Ok(()) => return Ok(PgTx { conn, open: true, pending: Vec::new(), compactions: Vec::new() }),
                Err(err) if conn.client.is_closed() => last = failed(err),
                Err(err) => return Err(failed(err)),
            }
        }
        Err(last)
    }

    fn migrate(&self) -> StorageResult<()> {
        let mut conn = self.connection()?;
        let client = &mut conn.client;
        let mut tx = client.transaction().map_err(failed)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(failed)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS center_schema (version integer NOT NULL)").map_err(failed)?;
        let version: i32 = match tx.query_opt("SELECT version FROM center_schema", &[]).map_err(failed)? {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO center_schema (version) VALUES (0)", &[]).map_err(failed)?;
                0
            }
        };
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).map_err(failed)?;
            tx.execute("UPDATE center_schema SET version = $1", &[&(index as i32 + 1)]).map_err(failed)?;
        }
        tx.commit().map_err(failed)
    }
}

/// Creates an empty database beside the one `url` names and returns its URL: a test or
/// a benchmark gets a center of its own on a shared cluster.
pub fn fresh_database(url: &str) -> Result<String, String> {
    let config: postgres::Config = url.parse().map_err(|_| "the PostgreSQL URL cannot be read".to_owned())?;
    let mut client = config.connect(NoTls).map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    let name = format!("gridsync_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE DATABASE {name}")).map_err(|e| format!("cannot create a database: {e}"))?;
    // The same URL with the new database's name as its path.
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let host_part = base[authority..].find('/').map_or(base, |i| &base[..authority + i]);
    Ok(match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    })
}

impl Storage for PostgresStorage {
    fn write(&self) -> StorageResult<Box<dyn Tx + '_>> {
        Ok(Box::new(self.begin("BEGIN")?))
    }

    fn read(&self) -> StorageResult<Box<dyn Tx + '_>> {
        Ok(Box::new(self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// A change to be logged at commit, when its sequence is given.
struct PendingChange {
    record_id: String,
    hash: Vec<u8>,
    bytes: Vec<u8>,
    device: String,
    logged_at: i64,
}

struct PgTx {
    conn: r2d2::PooledConnection<Manager>,
    open: bool,
    pending: Vec<PendingChange>,
    /// Records whose new snapshot is written at commit, once their sequences are known.
    compactions: Vec<(String, Vec<u8>)>,
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.client.batch_execute("ROLLBACK");
        }
    }
}

/// `(column >= $n AND column < $n+1) OR …` for each prefix, numbering parameters from
/// `first`, with the bounds to pass. An empty set of prefixes matches nothing.
fn area_condition(column: &str, prefixes: &[String], first: usize) -> (String, Vec<String>) {
    if prefixes.is_empty() {
        return ("false".into(), Vec::new());
    }
    let mut bounds = Vec::with_capacity(prefixes.len() * 2);
    let clauses: Vec<String> = prefixes
        .iter()
        .enumerate()
        .map(|(index, prefix)| {
            let (low, high) = prefix_bounds(prefix);
            bounds.push(low);
            bounds.push(high);
            let n = first + index * 2;
            format!("({column} >= ${n} AND {column} < ${})", n + 1)
        })
        .collect();
    (format!("({})", clauses.join(" OR ")), bounds)
}

/// The parameters of a query: `fixed` in front, then the prefix bounds.
fn with_bounds<'a>(fixed: &[&'a (dyn ToSql + Sync)], bounds: &'a [String]) -> Vec<&'a (dyn ToSql + Sync)> {
    fixed.iter().copied().chain(bounds.iter().map(|b| b as &(dyn ToSql + Sync))).collect()
}

fn parse_kind(kind: &str) -> StorageResult<Kind> {
    Kind::parse(kind).ok_or_else(|| StorageError::Failed("a record of an unknown kind".into()))
}

fn counter(value: u64) -> StorageResult<i64> {
    i64::try_from(value).map_err(|_| StorageError::Failed("a counter out of range".into()))
}

impl PgTx {
    /// The worker `id`, or every worker.
    fn workers_where(&mut self, id: Option<&str>) -> StorageResult<Vec<WorkerRow>> {
        let rows = self.conn.query(
            "SELECT id, name, role, employment,
                    array(SELECT prefix FROM worker_scopes WHERE worker_id = workers.id ORDER BY prefix)
             FROM workers WHERE $1::text IS NULL OR id = $1 ORDER BY id",
            &[&id],
        )?;
        Ok(rows
            .iter()
            .map(|r| WorkerRow { id: r.get(0), name: r.get(1), role: r.get(2), employment: r.get(3), scope: r.get(4) })
            .collect())
    }

    fn load_record(&mut self, id: &str) -> StorageResult<Option<StoredRecord>> {
        let Some(row) =
            self.conn.query_opt("SELECT kind, area_code, snapshot, snapshot_seq FROM records WHERE id = $1", &[&id])?
        else {
            return Ok(None);
        };
        let snapshot_seq: i64 = row.get(3);
        let mut tail: Vec<Vec<u8>> = self
            .conn
            .query(
                "SELECT bytes FROM change_log WHERE record_id = $1 AND seq > $2 ORDER BY seq",
                &[&id, &snapshot_seq],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let logged: i64 = self
            .conn
            .query_one(
                "SELECT coalesce(sum(octet_length(bytes)), 0)::bigint FROM change_log WHERE record_id = $1",
                &[&id],
            )?
            .get(0);
        // This transaction's own changes, logged at commit, are part of the record too.
        let mut history_bytes = logged as u64;
        for change in self.pending.iter().filter(|c| c.record_id == id) {
            history_bytes += change.bytes.len() as u64;
            tail.push(change.bytes.clone());
        }
        Ok(Some(StoredRecord {
            kind: parse_kind(row.get(0))?,
            area_code: row.get(1),
            snapshot: row.get(2),
            tail,
            history_bytes,
        }))
    }

    /// Numbers and writes the pending changes, then the snapshots waiting for them.
    fn log_pending(&mut self) -> StorageResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let count = self.pending.len() as i64;
        // The lock of this row is held until the commit is visible: sequences commit in
        // order (see the module's comment).
        let top: i64 =
            self.conn.query_one("UPDATE change_seq SET value = value + $1 RETURNING value", &[&count])?.get(0);
        let seqs: Vec<i64> = (top - count + 1..=top).collect();
        let pending = std::mem::take(&mut self.pending);
        let ids: Vec<&str> = pending.iter().map(|c| c.record_id.as_str()).collect();
        let hashes: Vec<&[u8]> = pending.iter().map(|c| c.hash.as_slice()).collect();
        let bytes: Vec<&[u8]> = pending.iter().map(|c| c.bytes.as_slice()).collect();
        let devices: Vec<&str> = pending.iter().map(|c| c.device.as_str()).collect();
        let at: Vec<i64> = pending.iter().map(|c| c.logged_at).collect();
        self.conn.execute(
            "INSERT INTO change_log (seq, record_id, hash, bytes, device, logged_at)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::bigint[])",
            &[&seqs, &ids, &hashes, &bytes, &devices, &at],
        )?;
        for (id, snapshot) in std::mem::take(&mut self.compactions) {
            self.conn.execute(
                "UPDATE records SET snapshot = $2, tail_len = 0,
                     snapshot_seq = (SELECT max(seq) FROM change_log WHERE record_id = $1)
                 WHERE id = $1",
                &[&id, &snapshot],
            )?;
        }
        Ok(())
    }
}

impl Tx for PgTx {
    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        self.log_pending()?;
        self.conn.client.batch_execute("COMMIT").map_err(failed)?;
        self.open = false;
        Ok(())
    }

    fn meta(&mut self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.conn.query_opt("SELECT value FROM center_meta WHERE key = $1", &[&key])?.map(|r| r.get(0)))
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO center_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn put_area(&mut self, code: &str, name: &str) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO areas (code, name) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET name = $2",
            &[&code, &name],
        )?;
        Ok(())
    }

    fn area_name(&mut self, code: &str) -> StorageResult<Option<String>> {
        Ok(self.conn.query_opt("SELECT name FROM areas WHERE code = $1", &[&code])?.map(|r| r.get(0)))
    }

    fn areas_empty(&mut self) -> StorageResult<bool> {
        Ok(self.conn.query_one("SELECT NOT EXISTS (SELECT 1 FROM areas)", &[])?.get(0))
    }

    fn area_has_below(&mut self, code: &str) -> StorageResult<bool> {
        let (low, high) = prefix_bounds(code);
        Ok(self
            .conn
            .query_one("SELECT EXISTS (SELECT 1 FROM areas WHERE code > $1 AND code < $2)", &[&low, &high])?
            .get(0))
    }

    fn put_worker(&mut self, worker: &WorkerRow, now: i64) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO workers (id, name, role, employment, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET name = $2, role = $3, employment = $4",
            &[&worker.id, &worker.name, &worker.role, &worker.employment, &now],
        )?;
        self.conn.execute("DELETE FROM worker_scopes WHERE worker_id = $1", &[&worker.id])?;
        self.conn.execute(
            "INSERT INTO worker_scopes (worker_id, prefix) SELECT $1, unnest($2::text[])",
            &[&worker.id, &worker.scope],
        )?;
        Ok(())
    }

    fn worker(&mut self, id: &str) -> StorageResult<Option<WorkerRow>> {
        Ok(self.workers_where(Some(id))?.pop())
    }

    fn workers(&mut self) -> StorageResult<Vec<WorkerRow>> {
        self.workers_where(None)
    }

    fn put_enrol_code(&mut self, hash: &[u8], worker: &str, expires_at: i64) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO enrol_codes (code_hash, worker_id, expires_at) VALUES ($1, $2, $3)",
            &[&hash, &worker, &expires_at],
        )?;
        Ok(())
    }

    fn enrol_code(&mut self, hash: &[u8]) -> StorageResult<Option<EnrolCode>> {
        let row = self.conn.query_opt(
            "SELECT worker_id, expires_at, used_at, device_id FROM enrol_codes WHERE code_hash = $1 FOR UPDATE",
            &[&hash],
        )?;
        Ok(row.map(|r| EnrolCode { worker_id: r.get(0), expires_at: r.get(1), used_at: r.get(2), device_id: r.get(3) }))
    }

    fn use_enrol_code(&mut self, hash: &[u8], device: &str, now: i64) -> StorageResult<()> {
        self.conn.execute(
            "UPDATE enrol_codes SET used_at = $2, device_id = $3 WHERE code_hash = $1",
            &[&hash, &now, &device],
        )?;
        Ok(())
    }

    fn device(&mut self, id: &str) -> StorageResult<Option<DeviceAuth>> {
        let row = self.conn.query_opt(
            "SELECT worker_id, public_key, actor, last_counter, revoked_at IS NOT NULL, wipe FROM devices WHERE id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| DeviceAuth {
            worker_id: r.get(0),
            public_key: r.get(1),
            actor: r.get(2),
            last_counter: r.get::<_, i64>(3) as u64,
            revoked: r.get(4),
            wipe: r.get(5),
        }))
    }

    fn actor_key(&mut self, actor: &str) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.conn.query_opt("SELECT public_key FROM devices WHERE actor = $1 LIMIT 1", &[&actor])?.map(|r| r.get(0)))
    }

    fn insert_device(&mut self, d: &NewDevice<'_>) -> StorageResult<()> {
        let counter = counter(d.counter)?;
        self.conn.execute(
            "INSERT INTO devices (id, worker_id, public_key, actor, name, app_version, enrolled_at, last_counter)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&d.id, &d.worker_id, &d.public_key, &d.actor, &d.name, &d.app_version, &d.enrolled_at, &counter],
        )?;
        Ok(())
    }

    fn advance_counter(&mut self, id: &str, value: u64, now: i64) -> StorageResult<bool> {
        let value = counter(value)?;
        let changed = self.conn.execute(
            "UPDATE devices SET last_counter = $2, last_seen = $3 WHERE id = $1 AND last_counter < $2",
            &[&id, &value, &now],
        )?;
        Ok(changed == 1)
    }

    fn devices(&mut self) -> StorageResult<Vec<DeviceRow>> {
        let rows = self.conn.query(
            "SELECT id, worker_id, name, app_version, enrolled_at, last_seen, revoked_at IS NOT NULL, wipe
             FROM devices ORDER BY enrolled_at, id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| DeviceRow {
                id: r.get(0),
                worker_id: r.get(1),
                name: r.get(2),
                app_version: r.get(3),
                enrolled_at: r.get(4),
                last_seen: r.get(5),
                revoked: r.get(6),
                wipe: r.get(7),
            })
            .collect())
    }

    fn revoke(&mut self, id: &str, wipe: bool, now: i64) -> StorageResult<bool> {
        let changed = self.conn.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, $2), wipe = wipe OR $3 WHERE id = $1",
            &[&id, &now, &wipe],
        )?;
        Ok(changed == 1)
    }

    fn add_refusals(&mut self, counts: &[(String, i64)]) -> StorageResult<()> {
        for (reason, count) in counts {
            self.conn.execute(
                "INSERT INTO refusals (reason, count) VALUES ($1, $2)
                 ON CONFLICT (reason) DO UPDATE SET count = refusals.count + $2",
                &[reason, count],
            )?;
        }
        Ok(())
    }

    fn refusals(&mut self) -> StorageResult<Vec<(String, i64)>> {
        let rows = self.conn.query("SELECT reason, count FROM refusals ORDER BY reason", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn put_staff(&mut self, staff: &StaffRow) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO staff (id, name, role, scope, password_hash, failed_logins, locked_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET name = $2, role = $3, scope = $4, password_hash = $5,
                 failed_logins = $6, locked_until = $7",
            &[
                &staff.id,
                &staff.name,
                &staff.role,
                &staff.scope.join(","),
                &staff.password_hash,
                &(staff.failed_logins as i32),
                &staff.locked_until,
            ],
        )?;
        Ok(())
    }

    fn staff(&mut self, id: &str) -> StorageResult<Option<StaffRow>> {
        let row = self.conn.query_opt(
            "SELECT id, name, role, scope, password_hash, failed_logins, locked_until FROM staff WHERE id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| StaffRow {
            id: r.get(0),
            name: r.get(1),
            role: r.get(2),
            scope: split_scope(r.get(3)),
            password_hash: r.get(4),
            failed_logins: i64::from(r.get::<_, i32>(5)),
            locked_until: r.get(6),
        }))
    }

    fn set_login_failures(&mut self, id: &str, failed_logins: i64, locked_until: Option<i64>) -> StorageResult<()> {
        self.conn.execute(
            "UPDATE staff SET failed_logins = $2, locked_until = $3 WHERE id = $1",
            &[&id, &(failed_logins as i32), &locked_until],
        )?;
        Ok(())
    }

    fn put_session(&mut self, token_hash: &[u8], session: &SessionRow) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO sessions (token_hash, staff_id, csrf, expires_at) VALUES ($1, $2, $3, $4)",
            &[&token_hash, &session.staff_id, &session.csrf, &session.expires_at],
        )?;
        Ok(())
    }

    fn session(&mut self, token_hash: &[u8]) -> StorageResult<Option<SessionRow>> {
        let row = self
            .conn
            .query_opt("SELECT staff_id, csrf, expires_at FROM sessions WHERE token_hash = $1", &[&token_hash])?;
        Ok(row.map(|r| SessionRow { staff_id: r.get(0), csrf: r.get(1), expires_at: r.get(2) }))
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> StorageResult<()> {
        self.conn.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])?;
        Ok(())
    }

    fn add_audit(&mut self, row: &AuditRow) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO audit (at, staff_id, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&row.at, &row.staff_id, &row.action, &row.target, &row.detail],
        )?;
        Ok(())
    }

    fn audit_log(&mut self, limit: u32) -> StorageResult<Vec<AuditRow>> {
        let rows = self.conn.query(
            "SELECT at, staff_id, action, target, detail FROM audit ORDER BY seq DESC LIMIT $1",
            &[&i64::from(limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| AuditRow {
                at: r.get(0),
                staff_id: r.get(1),
                action: r.get(2),
                target: r.get(3),
                detail: r.get(4),
            })
            .collect())
    }

    fn lock_device(&mut self, id: &str) -> StorageResult<()> {
        self.conn.query_opt("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", &[&id])?;
        Ok(())
    }

    fn batch_answer(&mut self, device: &str, batch: &str) -> StorageResult<Option<Vec<u8>>> {
        let row = self
            .conn
            .query_opt("SELECT response FROM batches WHERE device_id = $1 AND batch_id = $2", &[&device, &batch])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn save_batch(&mut self, device: &str, batch: &str, answer: &[u8], now: i64) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO batches (device_id, batch_id, response, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&device, &batch, &answer, &now],
        )?;
        Ok(())
    }

    fn device_writes(&mut self, device: &str, day: i64) -> StorageResult<(i64, i64)> {
        let row = self.conn.query_opt(
            "SELECT records, changes FROM device_writes WHERE device_id = $1 AND day = $2",
            &[&device, &day],
        )?;
        Ok(row.map(|r| (r.get(0), r.get(1))).unwrap_or_default())
    }

    fn add_device_writes(&mut self, device: &str, day: i64, records: i64, changes: i64) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO device_writes (device_id, day, records, changes) VALUES ($1, $2, $3, $4)
             ON CONFLICT (device_id, day) DO UPDATE SET records = device_writes.records + $3,
                 changes = device_writes.changes + $4",
            &[&device, &day, &records, &changes],
        )?;
        Ok(())
    }

    fn lock_records(&mut self, ids: &[&str]) -> StorageResult<()> {
        // In hash order, the same in every transaction: two pushes sharing records wait
        // for each other instead of deadlocking.
        self.conn.query(
            "SELECT count(pg_advisory_xact_lock(h)) FROM
                 (SELECT DISTINCT hashtextextended(id, 0) AS h FROM unnest($1::text[]) AS id ORDER BY 1) AS locks",
            &[&ids],
        )?;
        Ok(())
    }

    fn record(&mut self, id: &str) -> StorageResult<Option<StoredRecord>> {
        self.load_record(id)
    }

    fn save_record(
        &mut self,
        id: &str,
        doc: &RecordDoc,
        changes: &[Change],
        device: &str,
        now: i64,
    ) -> StorageResult<usize> {
        let hashes: Vec<Vec<u8>> = changes.iter().map(|c| c.hash().0.to_vec()).collect();
        let mut known: HashSet<Vec<u8>> = self
            .conn
            .query("SELECT hash FROM change_log WHERE record_id = $1 AND hash = ANY($2)", &[&id, &hashes])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        known.extend(self.pending.iter().filter(|c| c.record_id == id).map(|c| c.hash.clone()));
        let mut new = 0;
        for (change, hash) in changes.iter().zip(hashes) {
            if known.insert(hash.clone()) {
                self.pending.push(PendingChange {
                    record_id: id.to_owned(),
                    hash,
                    bytes: change.raw_bytes().to_vec(),
                    device: device.to_owned(),
                    logged_at: now,
                });
                new += 1;
            }
        }
        let area_code = doc.area_code().unwrap_or_default();
        let deleted = doc.is_deleted().map_err(|e| StorageError::Failed(format!("reading a record: {e}")))?;
        let conflicts =
            doc.conflicts().map_err(|e| StorageError::Failed(format!("reading a record: {e}")))?.len() as i32;
        let tail_len: i32 = self
            .conn
            .query_one(
                "INSERT INTO records (id, kind, area_code, heads, deleted, conflicts, created_at, updated_at, tail_len)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET area_code = $3, heads = $4, deleted = $5, conflicts = $6,
                     updated_at = $7, tail_len = records.tail_len + $8
                 RETURNING tail_len",
                &[
                    &id,
                    &doc.kind().as_str(),
                    &area_code,
                    &encode_heads(&doc.heads()),
                    &deleted,
                    &conflicts,
                    &now,
                    &(new as i32),
                ],
            )?
            .get(0);
        // Changes still waiting for their dependencies are not in a snapshot.
        if tail_len > COMPACT_AFTER && !doc.has_queued_changes() {
            self.compactions.retain(|(pending, _)| pending != id);
            self.compactions.push((id.to_owned(), doc.save()));
        }
        Ok(new)
    }

    fn max_seq(&mut self) -> StorageResult<u64> {
        let seq: i64 = self.conn.query_one("SELECT coalesce(max(seq), 0) FROM change_log", &[])?.get(0);
        Ok(seq as u64)
    }

    fn record_ids_after(&mut self, prefixes: &[String], after_id: &str, limit: u32) -> StorageResult<Vec<String>> {
        let (condition, bounds) = area_condition("area_code", prefixes, 3);
        let limit = i64::from(limit);
        let sql = format!("SELECT id FROM records WHERE id > $1 AND {condition} ORDER BY id LIMIT $2");
        let rows = self.conn.query(&sql, &with_bounds(&[&after_id, &limit], &bounds))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn count_records_after(&mut self, prefixes: &[String], after_id: &str) -> StorageResult<u64> {
        let (condition, bounds) = area_condition("area_code", prefixes, 2);
        let sql = format!("SELECT count(*) FROM records WHERE id > $1 AND {condition}");
        let count: i64 = self.conn.query_one(&sql, &with_bounds(&[&after_id], &bounds))?.get(0);
        Ok(count as u64)
    }

    fn changes_after(
        &mut self,
        prefixes: &[String],
        device: &str,
        after: u64,
        limit: u32,
    ) -> StorageResult<Vec<LoggedChange>> {
        let (condition, bounds) = area_condition("r.area_code", prefixes, 4);
        let (after, limit) = (counter(after)?, i64::from(limit));
        let sql = format!(
            "SELECT c.seq, c.record_id, r.kind, c.bytes FROM change_log c JOIN records r ON r.id = c.record_id
             WHERE c.seq > $1 AND (c.device IS NULL OR c.device <> $2) AND {condition}
             ORDER BY c.seq LIMIT $3"
        );
        let rows = self.conn.query(&sql, &with_bounds(&[&after, &device, &limit], &bounds))?;
        rows.iter()
            .map(|r| {
                Ok(LoggedChange {
                    seq: r.get::<_, i64>(0) as u64,
                    record_id: r.get(1),
                    kind: parse_kind(r.get(2))?,
                    bytes: r.get(3),
                })
            })
            .collect()
    }

    fn count_changes_after(&mut self, prefixes: &[String], device: &str, after: u64) -> StorageResult<u64> {
        let (condition, bounds) = area_condition("r.area_code", prefixes, 3);
        let after = counter(after)?;
        let sql = format!(
            "SELECT count(*) FROM change_log c JOIN records r ON r.id = c.record_id
             WHERE c.seq > $1 AND (c.device IS NULL OR c.device <> $2) AND {condition}"
        );
        let count: i64 = self.conn.query_one(&sql, &with_bounds(&[&after, &device], &bounds))?.get(0);
        Ok(count as u64)
    }

    fn for_each_heads(
        &mut self,
        prefixes: &[String],
        each: &mut dyn FnMut(&str, &[u8]) -> StorageResult<()>,
    ) -> StorageResult<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let (condition, bounds) = area_condition("area_code", prefixes, 1);
        let sql = format!("SELECT id, heads FROM records WHERE {condition} ORDER BY id");
        let statement = self.conn.statement(&sql).map_err(failed)?;
        let params = with_bounds(&[], &bounds);
        // Rows stream from the server one at a time: a township's hundred thousand
        // records are never held at once.
        let mut rows = self.conn.client.query_raw(&statement, params.iter().copied()).map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            each(row.get(0), row.get(1))?;
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
        let rows = self.conn.query(
            "SELECT id FROM records WHERE kind = $1 AND area_code >= $2 AND area_code < $3 AND id > $4
             ORDER BY id LIMIT $5",
            &[&kind.as_str(), &low, &high, &after_id, &i64::from(limit)],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn log_audit(&mut self) -> StorageResult<LogAudit> {
        let row = self.conn.query_one(
            "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT record_id, hash FROM change_log) d) FROM change_log",
            &[],
        )?;
        Ok(LogAudit { rows: row.get::<_, i64>(0) as u64, distinct: row.get::<_, i64>(1) as u64 })
    }
}

//! Everything the center keeps, behind one trait: records (automerge documents and their
//! change log with the global sequence), workers and scopes, enrolment codes, devices
//! and their request counters, batches, refusals, areas and settings. The rules (who may
//! do what, which change is accepted) live above it in `center`, `push` and `pull`; a
//! backend only stores and queries, inside transactions.
//!
//! Two backends: [`sqlite`] (one encrypted file, the embedded default for a township)
//! and [`postgres`] (a county or a city: several center processes on one database). One
//! conformance suite (`center/tests/storage.rs`) runs every promise against both.
//!
//! What a backend must guarantee, beyond storing:
//! - [`Tx::advance_counter`] is atomic: of two requests with the same counter, one wins.
//! - [`Tx::lock_device`] serialises one device's pushes, and [`Tx::lock_records`] the
//!   writers of one record, until the transaction ends.
//! - Sequences commit in order: once a reader sees a change with sequence `s`, every
//!   change with a lower sequence is visible too, so a pull cursor never skips one (the
//!   outbox gap). Each backend says how it keeps this.

pub mod postgres;
pub mod sqlite;

use automerge::Change;
use gridsync_core::Kind;
use gridsync_core::doc::RecordDoc;

/// A storage failure. `Unavailable` is the database being away (stopped, pool
/// exhausted): the phone is told to retry. Messages never hold row values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Failed(String),
}

pub type StorageResult<T> = Result<T, StorageError>;

/// A record as stored: its kind and area, the compacted snapshot and the changes since.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub kind: Kind,
    pub area_code: String,
    pub snapshot: Option<Vec<u8>>,
    pub tail: Vec<Vec<u8>>,
    /// Bytes of every change of the record ever logged (the history bound).
    pub history_bytes: u64,
}

/// One change of the global log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: u64,
    pub record_id: String,
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

/// What authenticating a device needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    pub worker_id: String,
    pub public_key: Vec<u8>,
    pub actor: String,
    pub last_counter: u64,
    pub revoked: bool,
    pub wipe: bool,
}

/// A device at enrolment.
#[derive(Debug, Clone)]
pub struct NewDevice<'a> {
    pub id: &'a str,
    pub worker_id: &'a str,
    pub public_key: &'a [u8],
    pub actor: &'a str,
    pub name: &'a str,
    pub app_version: &'a str,
    pub enrolled_at: i64,
    pub counter: u64,
}

/// A one-time enrolment code, by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolCode {
    pub worker_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub device_id: Option<String>,
}

/// A grid worker as the township registers them: a role (`grid_worker`, `grid_chief`),
/// an employment (`full_time`, `part_time`) and area-code prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub employment: String,
    pub scope: Vec<String>,
}

/// An enrolled device as `admin devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub worker_id: String,
    pub name: String,
    pub app_version: String,
    pub enrolled_at: i64,
    pub last_seen: Option<i64>,
    pub revoked: bool,
    pub wipe: bool,
}

/// A member of the center's staff as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRow {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Area-code prefixes.
    pub scope: Vec<String>,
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub staff_id: String,
    pub csrf: String,
    pub expires_at: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    pub at: i64,
    pub staff_id: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// How many changes the log holds, and how many distinct ones (they must be equal:
/// a change stored twice is a duplicate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAudit {
    pub rows: u64,
    pub distinct: u64,
}

/// A center database.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// A read-write transaction. Dropped without [`Tx::commit`], it rolls back.
    fn write(&self) -> StorageResult<Box<dyn Tx + '_>>;
    /// A read-only transaction over one consistent snapshot.
    fn read(&self) -> StorageResult<Box<dyn Tx + '_>>;
    /// "sqlite" or "postgres", for logs and figures.
    fn backend(&self) -> &'static str;
    /// Where photo blobs go when nothing else is said: beside an embedded database's
    /// file; `None` for a server database (then `GRIDSYNC_BLOB_DIR` or `--blobs`).
    fn blob_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
}

/// The operations of one transaction. Reads see the transaction's own writes.
pub trait Tx {
    fn commit(self: Box<Self>) -> StorageResult<()>;

    // ---- settings and areas -------------------------------------------------------
    fn meta(&mut self, key: &str) -> StorageResult<Option<Vec<u8>>>;
    fn set_meta(&mut self, key: &str, value: &[u8]) -> StorageResult<()>;
    fn put_area(&mut self, code: &str, name: &str) -> StorageResult<()>;
    fn area_name(&mut self, code: &str) -> StorageResult<Option<String>>;
    fn areas_empty(&mut self) -> StorageResult<bool>;
    /// Whether some registered area lies strictly below `code`.
    fn area_has_below(&mut self, code: &str) -> StorageResult<bool>;

    // ---- workers, enrolment, devices -------------------------------------------------
    /// Adds a worker, or replaces their name, role, employment and scope.
    fn put_worker(&mut self, worker: &WorkerRow, now: i64) -> StorageResult<()>;
    /// A worker; `None` for an unknown one.
    fn worker(&mut self, id: &str) -> StorageResult<Option<WorkerRow>>;
    /// Every worker, by id.
    fn workers(&mut self) -> StorageResult<Vec<WorkerRow>>;
    fn put_enrol_code(&mut self, hash: &[u8], worker: &str, expires_at: i64) -> StorageResult<()>;
    /// The code with `hash`, locked until the transaction ends.
    fn enrol_code(&mut self, hash: &[u8]) -> StorageResult<Option<EnrolCode>>;
    fn use_enrol_code(&mut self, hash: &[u8], device: &str, now: i64) -> StorageResult<()>;
    fn device(&mut self, id: &str) -> StorageResult<Option<DeviceAuth>>;
    /// The public key of the device holding `actor`, if any.
    fn actor_key(&mut self, actor: &str) -> StorageResult<Option<Vec<u8>>>;
    fn insert_device(&mut self, device: &NewDevice<'_>) -> StorageResult<()>;
    /// Moves the device's counter to `counter` if it is higher than the last one; false
    /// when it is not (a replay). Atomic.
    fn advance_counter(&mut self, id: &str, counter: u64, now: i64) -> StorageResult<bool>;
    fn devices(&mut self) -> StorageResult<Vec<DeviceRow>>;
    /// Revokes a device (ordering a wipe with `wipe`); false for an unknown one.
    fn revoke(&mut self, id: &str, wipe: bool, now: i64) -> StorageResult<bool>;
    fn add_refusals(&mut self, counts: &[(String, i64)]) -> StorageResult<()>;
    fn refusals(&mut self) -> StorageResult<Vec<(String, i64)>>;

    // ---- the console's staff, sessions and audit -----------------------------------
    /// Adds a member of staff, or replaces their name, role, scope and password.
    fn put_staff(&mut self, staff: &StaffRow) -> StorageResult<()>;
    fn staff(&mut self, id: &str) -> StorageResult<Option<StaffRow>>;
    /// Sets the count of failed logins in a row and the end of a lockout.
    fn set_login_failures(&mut self, id: &str, failed: i64, locked_until: Option<i64>) -> StorageResult<()>;
    fn put_session(&mut self, token_hash: &[u8], session: &SessionRow) -> StorageResult<()>;
    fn session(&mut self, token_hash: &[u8]) -> StorageResult<Option<SessionRow>>;
    fn delete_session(&mut self, token_hash: &[u8]) -> StorageResult<()>;
    fn add_audit(&mut self, row: &AuditRow) -> StorageResult<()>;
    /// The newest `limit` lines of the audit log, newest first.
    fn audit_log(&mut self, limit: u32) -> StorageResult<Vec<AuditRow>>;

    // ---- pushes -------------------------------------------------------------------
    /// Serialises the pushes of one device until the transaction ends.
    fn lock_device(&mut self, id: &str) -> StorageResult<()>;
    fn batch_answer(&mut self, device: &str, batch: &str) -> StorageResult<Option<Vec<u8>>>;
    fn save_batch(&mut self, device: &str, batch: &str, answer: &[u8], now: i64) -> StorageResult<()>;
    /// Serialises the writers of these records until the transaction ends.
    /// What `device` wrote on `day` (China date, days since the epoch): new records and
    /// changes; `(0, 0)` for a day it wrote nothing.
    fn device_writes(&mut self, device: &str, day: i64) -> StorageResult<(i64, i64)>;
    /// Adds to what `device` wrote on `day`.
    fn add_device_writes(&mut self, device: &str, day: i64, records: i64, changes: i64) -> StorageResult<()>;
    fn lock_records(&mut self, ids: &[&str]) -> StorageResult<()>;
    fn record(&mut self, id: &str) -> StorageResult<Option<StoredRecord>>;
    /// Stores `doc` after `changes` (from `device`) were applied: the record, its
    /// projection and each change not logged before, under the next global sequences.
    /// Returns how many changes were new.
    fn save_record(
        &mut self,
        id: &str,
        doc: &RecordDoc,
        changes: &[Change],
        device: &str,
        now: i64,
    ) -> StorageResult<usize>;

    // ---- pulls and digests ---------------------------------------------------------
    /// The highest global sequence given to a change this transaction can see.
    fn max_seq(&mut self) -> StorageResult<u64>;
    /// Ids of records under `prefixes` after `after_id`, in id order.
    fn record_ids_after(&mut self, prefixes: &[String], after_id: &str, limit: u32) -> StorageResult<Vec<String>>;
    fn count_records_after(&mut self, prefixes: &[String], after_id: &str) -> StorageResult<u64>;
    /// Changes after `after` to records under `prefixes`, not sent by `device`, in
    /// sequence order, at most `limit`.
    fn changes_after(
        &mut self,
        prefixes: &[String],
        device: &str,
        after: u64,
        limit: u32,
    ) -> StorageResult<Vec<LoggedChange>>;
    fn count_changes_after(&mut self, prefixes: &[String], device: &str, after: u64) -> StorageResult<u64>;
    /// Calls `each` with (id, encoded heads) of every record under `prefixes`, in id
    /// order, one at a time.
    fn for_each_heads(
        &mut self,
        prefixes: &[String],
        each: &mut dyn FnMut(&str, &[u8]) -> StorageResult<()>,
    ) -> StorageResult<()>;
    /// Ids of the records of `kind` under `prefix` after `after_id`, in id order.
    fn record_ids_of_kind(
        &mut self,
        kind: Kind,
        prefix: &str,
        after_id: &str,
        limit: u32,
    ) -> StorageResult<Vec<String>>;
    /// Counts of the change log, for the reliability suites.
    fn log_audit(&mut self) -> StorageResult<LogAudit>;
}

/// The most threads that do database work at once: the server's blocking pool, and so
/// the SQLite backend's idle readers (one for each thread that may read at once).
pub const MAX_DB_THREADS: usize = 16;

/// Writes a new file only its owner can read (a database key, a TLS key).
pub(crate) fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

/// Opens the storage a `--db` argument names: a `postgres://` (or `postgresql://`) URL,
/// or the path of an embedded SQLite file (created with its key file when missing).
pub fn open(db: &str) -> Result<Box<dyn Storage>, String> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        Ok(Box::new(postgres::PostgresStorage::connect(db)?))
    } else {
        Ok(Box::new(sqlite::SqliteStorage::open(std::path::Path::new(db))?))
    }
}

/// A staff scope as stored: comma-separated prefixes.
pub(crate) fn split_scope(stored: &str) -> Vec<String> {
    stored.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

/// The low and high bound of the area codes under `prefix`, for range scans: codes are
/// digits, and `~` sorts after every digit (byte order; PostgreSQL's columns use the C
/// collation for it). An empty prefix covers every code.
pub(crate) fn prefix_bounds(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}~"))
}

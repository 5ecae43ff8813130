//! Opening the encrypted database: key, pragmas, then migrations in one IMMEDIATE
//! transaction keyed on `PRAGMA user_version`.

use std::path::Path;
use std::sync::Once;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};

/// The numbered migrations, in order. A landed migration is never edited.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/001_init.sql"),
    include_str!("../../migrations/002_review_and_conflicts.sql"),
    include_str!("../../migrations/003_sync.sql"),
    include_str!("../../migrations/004_search_terms.sql"),
    include_str!("../../migrations/005_ack_by_hash.sql"),
    include_str!("../../migrations/006_search_spellings.sql"),
    include_str!("../../migrations/007_blobs.sql"),
    include_str!("../../migrations/008_quarantine_index.sql"),
    include_str!("../../migrations/009_search_index.sql"),
    include_str!("../../migrations/010_search_key.sql"),
];

/// A migration holding this line changes how projections are derived: the store
/// rebuilds them from the documents after migrating.
const REBUILD_MARKER: &str = "-- gridsync: rebuild projections";

/// Set in `meta` in the migration's transaction, deleted in the rebuild's: a rebuild cut
/// short (the app killed while a large store rebuilt, at an open that takes seconds)
/// runs again at the next open instead of leaving the projections of the old schema.
pub(crate) const META_PROJECTIONS_STALE: &str = "projections_stale";

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How the caller keys the database.
#[derive(Clone, Copy)]
pub enum DbKey<'a> {
    /// A raw 256-bit key from the platform keystore; opening costs well under a
    /// millisecond. What apps should use.
    Raw(&'a [u8; 32]),
    /// A passphrase, stretched by SQLCipher's PBKDF2 (~300 ms on a phone). Only for
    /// tools where a person types the secret.
    Passphrase(&'a str),
}

impl std::fmt::Debug for DbKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbKey::Raw(_) => "DbKey::Raw(..)",
            DbKey::Passphrase(_) => "DbKey::Passphrase(..)",
        })
    }
}

/// Opens a SQLite connection once the library has finished initialising.
///
/// SQLite marks itself initialised before it runs SQLCipher's own initialisation, so a
/// thread keying a database while another thread's first open is still inside
/// `sqlite3_initialize` finds SQLCipher "not initialized" and `PRAGMA key` fails with a
/// bare SQLITE_ERROR (CI hit it; reproduced in about one run in 200 of a test binary
/// with 16 threads). The
/// process's first open therefore runs alone and to the end before any other starts.
pub fn open_sqlite(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    static LIBRARY_READY: Once = Once::new();
    LIBRARY_READY.call_once(|| {
        // Opening any database runs the library's initialisation to completion; an
        // error here would come back from the real open below.
        drop(Connection::open_in_memory());
    });
    Connection::open_with_flags(path, flags)
}

/// Opens (creating if missing) and migrates the database at `path`. A wrong key is
/// [`Error::WrongKey`] and leaves the file byte for byte as it was. Returns whether the
/// projections must be rebuilt.
pub(crate) fn open_connection(path: &Path, key: DbKey<'_>) -> Result<(Connection, bool)> {
    let conn = open_sqlite(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // SQLCipher logs decryption failures to stderr by default; a wrong key is reported
    // through our typed error instead.
    conn.pragma_update(None, "cipher_log_level", "NONE")?;
    apply_key(&conn, key)?;
    // The first read decrypts page 1: a wrong key fails here, before anything writes.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0)).map_err(|err| {
        match Error::from(err) {
            Error::Storage { .. } | Error::WrongKey => Error::WrongKey,
            other => other,
        }
    })?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit survives a flat battery, not only a killed process.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // 16 MiB of decrypted pages instead of SQLite's 2 MiB: every page read from disk
    // is decrypted and checked by SQLCipher, and at 50,000 records the indexes a search
    // or an edit walks no longer fit in 2 MiB (docs/performance.md).
    conn.pragma_update(None, "cache_size", -16_384)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    let rebuild = migrate(&conn, MIGRATIONS.len())?;
    Ok((conn, rebuild))
}

fn apply_key(conn: &Connection, key: DbKey<'_>) -> Result<()> {
    let value = match key {
        DbKey::Raw(bytes) => format!("x'{}'", hex::encode(bytes)),
        DbKey::Passphrase(text) => text.to_owned(),
    };
    conn.pragma_update(None, "key", value)?;
    Ok(())
}

/// Brings the schema up to `target` migrations, all in one IMMEDIATE transaction.
/// Returns whether the projections must be rebuilt: a migration asked for it (never for
/// a new, empty database), now or at an open whose rebuild did not finish.
pub(crate) fn migrate(conn: &Connection, target: usize) -> Result<bool> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew { found: current, supported: SCHEMA_VERSION });
    }
    let mut rebuild = false;
    for (index, sql) in MIGRATIONS.iter().enumerate().take(target).skip(current as usize) {
        tx.execute_batch(sql)?;
        rebuild |= current > 0 && sql.contains(REBUILD_MARKER);
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    if rebuild {
        tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, x'01')", [META_PROJECTIONS_STALE])?;
    }
    let stale = target > 0
        && tx.query_row("SELECT count(*) FROM meta WHERE key = ?1", [META_PROJECTIONS_STALE], |row| {
            row.get::<_, i64>(0)
        })? > 0;
    tx.commit()?;
    if (current as usize) < target {
        tracing::info!(from = current, to = target, "store schema migrated");
    }
    Ok(stale)
}

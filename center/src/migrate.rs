//! Moving a township up: `gridsync-center admin migrate --from center.db --to postgres://…`
//! copies a township's embedded center into PostgreSQL, beside townships moved before.
//!
//! - Phones keep syncing without re-enrolment: devices keep their keys and counters,
//!   workers their scopes, the township its key (stored as that township's key, so its
//!   persons' ids still check), and every change keeps its sequence, shifted by an
//!   offset reserved for this township. The first township into an empty database keeps
//!   its sequences as they are, so its phones' cursors read on where they were; a later
//!   township's phones read their township's history once more after the move (applied
//!   once: a change a phone holds is ignored), since their cursors predate the offset.
//! - Idempotent and resumable: records are copied a page at a time, one transaction a
//!   page, every row inserted only when missing; the offset is reserved once and kept in
//!   the target, so running the command again after an interruption finishes the copy.
//! - Verified: the digest of (record id, heads) over the township's areas is computed on
//!   both sides and must be equal, and every change must have arrived.

use std::path::Path;

use postgres::types::ToSql;
use rusqlite::{Connection, params};

use crate::center::{Center, META_TOWNSHIP_KEY_OF};
use crate::storage::postgres::PostgresStorage;
use crate::storage::sqlite::open_existing;

/// Records copied per transaction.
const PAGE: i64 = 200;
/// The target's record of a township moved in: the sequence offset it was given.
const META_OFFSET_OF: &str = "migrated_offset:";

/// What a migration did, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationReport {
    pub townships: Vec<String>,
    pub records: u64,
    pub changes: u64,
    pub devices: u64,
    pub workers: u64,
    /// Added to every sequence of the township's changes.
    pub offset: i64,
    /// The digests over the township's areas, source and target, are equal.
    pub digest_equal: bool,
}

/// Copies the embedded center at `from` into the PostgreSQL database at `to`.
pub fn migrate(from: &Path, to: &str) -> Result<MigrationReport, String> {
    let source_center = Center::open(from)?;
    let source = open_existing(from)?;
    let townships = townships_of(&source)?;
    let target = PostgresStorage::connect(to)?;
    let key = source_center.township_key();
    let copied = target.with_client(|client| {
        let mut copy = Copy { source: &source, target: client };
        for township in &townships {
            copy.claim_key(township, &key)?;
        }
        let offset = copy.reserve_offset(&townships[0])?;
        let people = copy.people()?;
        let records = copy.records(offset)?;
        Ok((offset, people, records))
    })?;
    let (offset, (workers, devices), records) = copied;
    // Verified in the target itself: the reserved range holds every change of the
    // source, and the township's records have the source's heads.
    let (logged, top): (i64, i64) = source
        .query_row("SELECT count(*), ifnull(max(seq), 0) FROM change_log", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql)?;
    let arrived: i64 = target.with_client(|client| {
        let row = client
            .query_one("SELECT count(*) FROM change_log WHERE seq > $1 AND seq <= $2", &[&offset, &(offset + top)])
            .map_err(sql)?;
        Ok(row.get(0))
    })?;
    if arrived != logged {
        return Err(format!("{arrived} of the township's {logged} changes are in the target: run the command again"));
    }
    let target_center = Center::new(Box::new(target))?;
    let before = source_center.digest_of(&townships).map_err(|e| e.to_string())?;
    let after = target_center.digest_of(&townships).map_err(|e| e.to_string())?;
    Ok(MigrationReport {
        townships,
        records,
        changes: arrived as u64,
        devices,
        workers,
        offset,
        digest_equal: before == after,
    })
}

fn sql(err: impl std::fmt::Display) -> String {
    format!("migration: {err}")
}

/// The 9-digit township codes the source center serves: those of its workers' scopes and
/// of its records. Exactly one, or the move is refused (a county center is moved as
/// PostgreSQL already).
fn townships_of(source: &Connection) -> Result<Vec<String>, String> {
    let mut stmt = source
        .prepare(
            "SELECT DISTINCT substr(prefix, 1, 9) FROM worker_scopes WHERE length(prefix) >= 9
             UNION SELECT DISTINCT substr(area_code, 1, 9) FROM records WHERE length(area_code) >= 9",
        )
        .map_err(sql)?;
    let codes: Vec<String> = stmt.query_map([], |r| r.get(0)).and_then(Iterator::collect).map_err(sql)?;
    match codes.len() {
        1 => Ok(codes),
        0 => Err("the source center has no worker or record to place in a township".into()),
        _ => Err(format!("the source center spans several townships ({}): move them one at a time", codes.join(", "))),
    }
}

struct Copy<'a> {
    source: &'a Connection,
    target: &'a mut postgres::Client,
}

impl Copy<'_> {
    fn exec(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, String> {
        self.target.execute(statement, params).map_err(sql)
    }

    /// Stores the township's key under its code; a different key already there means
    /// another township claimed the code, and nothing is copied.
    fn claim_key(&mut self, township: &str, key: &[u8]) -> Result<(), String> {
        let name = format!("{META_TOWNSHIP_KEY_OF}{township}");
        self.exec("INSERT INTO center_meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&name, &key])?;
        let held: Vec<u8> =
            self.target.query_one("SELECT value FROM center_meta WHERE key = $1", &[&name]).map_err(sql)?.get(0);
        if held != key {
            return Err(format!("township {township} is already in the target with another key"));
        }
        Ok(())
    }

    /// The offset of this township's sequences: reserved once (the range above every
    /// sequence given so far, as long as the source's log) and kept for a resumed run.
    fn reserve_offset(&mut self, township: &str) -> Result<i64, String> {
        let name = format!("{META_OFFSET_OF}{township}");
        if let Some(row) =
            self.target.query_opt("SELECT value FROM center_meta WHERE key = $1", &[&name]).map_err(sql)?
        {
            let bytes: Vec<u8> = row.get(0);
            return String::from_utf8(bytes).ok().and_then(|t| t.parse().ok()).ok_or_else(|| sql("unreadable offset"));
        }
        let top: i64 =
            self.source.query_row("SELECT ifnull(max(seq), 0) FROM change_log", [], |r| r.get(0)).map_err(sql)?;
        let mut tx = self.target.transaction().map_err(sql)?;
        // The same row lock every push takes: no change of another township gets a
        // sequence inside the reserved range.
        let end: i64 =
            tx.query_one("UPDATE change_seq SET value = value + $1 RETURNING value", &[&top]).map_err(sql)?.get(0);
        let offset = end - top;
        tx.execute("INSERT INTO center_meta (key, value) VALUES ($1, $2)", &[&name, &offset.to_string().into_bytes()])
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(offset)
    }

    /// Areas, workers and their scopes, enrolment codes, devices (keys, actors, counters,
    /// revocations) and the answers to batches. Returns (workers, devices).
    fn people(&mut self) -> Result<(u64, u64), String> {
        let source = self.source;
        let mut tx = self.target.transaction().map_err(sql)?;
        let mut areas = source.prepare("SELECT code, name FROM areas").map_err(sql)?;
        for row in areas.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(sql)? {
            let (code, name) = row.map_err(sql)?;
            tx.execute("INSERT INTO areas (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&code, &name])
                .map_err(sql)?;
        }
        let mut workers = source.prepare("SELECT id, name, created_at, role, employment FROM workers").map_err(sql)?;
        let worker_rows: Vec<(String, String, i64, String, String)> = workers
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .and_then(Iterator::collect)
            .map_err(sql)?;
        for (id, name, created_at, role, employment) in &worker_rows {
            let prefixes: Vec<String> = source
                .prepare("SELECT prefix FROM worker_scopes WHERE worker_id = ?1 ORDER BY prefix")
                .and_then(|mut s| s.query_map([id], |r| r.get(0))?.collect())
                .map_err(sql)?;
            let held: Option<Vec<String>> = tx
                .query_opt(
                    "SELECT array(SELECT prefix FROM worker_scopes WHERE worker_id = $1 ORDER BY prefix)
                     FROM workers WHERE id = $1",
                    &[id],
                )
                .map_err(sql)?
                .map(|r| r.get(0));
            match held {
                Some(held) if held != prefixes => {
                    return Err(format!("worker {id} is already in the target with another scope: rename one"));
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "INSERT INTO workers (id, name, created_at, role, employment) VALUES ($1, $2, $3, $4, $5)",
                        &[id, name, created_at, role, employment],
                    )
                    .map_err(sql)?;
                    tx.execute(
                        "INSERT INTO worker_scopes (worker_id, prefix) SELECT $1, unnest($2::text[])",
                        &[id, &prefixes],
                    )
                    .map_err(sql)?;
                }
            }
        }
        let mut codes = source
            .prepare("SELECT code_hash, worker_id, expires_at, used_at, device_id FROM enrol_codes")
            .map_err(sql)?;
        type CodeRow = (Vec<u8>, String, i64, Option<i64>, Option<String>);
        let code_rows: Vec<CodeRow> = codes
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .and_then(Iterator::collect)
            .map_err(sql)?;
        let mut devices = source
            .prepare(
                "SELECT id, worker_id, public_key, actor, name, app_version, enrolled_at, last_counter, last_seen,
                        revoked_at, wipe FROM devices",
            )
            .map_err(sql)?;
        type DeviceRow = (String, String, Vec<u8>, String, String, String, i64, i64, Option<i64>, Option<i64>, bool);
        let device_rows: Vec<DeviceRow> =
            devices.query_map([], |r| DeviceRow::try_from(r)).and_then(Iterator::collect).map_err(sql)?;
        for (id, worker, key, actor, name, version, enrolled, counter, seen, revoked, wipe) in &device_rows {
            // A resumed run keeps the higher counter and any revocation made meanwhile.
            tx.execute(
                "INSERT INTO devices (id, worker_id, public_key, actor, name, app_version, enrolled_at, last_counter,
                                      last_seen, revoked_at, wipe)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET last_counter = greatest(devices.last_counter, excluded.last_counter),
                     revoked_at = coalesce(devices.revoked_at, excluded.revoked_at), wipe = devices.wipe OR excluded.wipe",
                &[id, worker, key, actor, name, version, enrolled, counter, seen, revoked, wipe],
            )
            .map_err(sql)?;
        }
        for (hash, worker, expires, used, device) in &code_rows {
            tx.execute(
                "INSERT INTO enrol_codes (code_hash, worker_id, expires_at, used_at, device_id)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[hash, worker, expires, used, device],
            )
            .map_err(sql)?;
        }
        let mut batches = source.prepare("SELECT device_id, batch_id, response, at FROM batches").map_err(sql)?;
        let mut rows = batches.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let (device, batch, response, at): (String, String, Vec<u8>, i64) = (
                row.get(0).map_err(sql)?,
                row.get(1).map_err(sql)?,
                row.get(2).map_err(sql)?,
                row.get(3).map_err(sql)?,
            );
            tx.execute(
                "INSERT INTO batches (device_id, batch_id, response, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&device, &batch, &response, &at],
            )
            .map_err(sql)?;
        }
        drop(rows);
        tx.commit().map_err(sql)?;
        Ok((worker_rows.len() as u64, device_rows.len() as u64))
    }

    /// Every record and its changes, a page of records per transaction. Returns how many
    /// records the source holds.
    fn records(&mut self, offset: i64) -> Result<u64, String> {
        let source = self.source;
        let mut after = String::new();
        let mut records = 0u64;
        loop {
            let mut page = source
                .prepare(
                    "SELECT id, kind, area_code, snapshot, snapshot_seq, tail_len, heads, deleted, conflicts,
                            created_at, updated_at
                     FROM records WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(sql)?;
            type RecordRow = (String, String, String, Option<Vec<u8>>, i64, i64, Vec<u8>, bool, i64, i64, i64);
            let rows: Vec<RecordRow> = page
                .query_map(params![after, PAGE], |r| RecordRow::try_from(r))
                .and_then(Iterator::collect)
                .map_err(sql)?;
            let Some(last) = rows.last() else { return Ok(records) };
            after.clone_from(&last.0);
            let mut tx = self.target.transaction().map_err(sql)?;
            for (id, kind, area, snapshot, snapshot_seq, tail_len, heads, deleted, conflicts, created, updated) in &rows
            {
                let snapshot_seq = if *snapshot_seq > 0 { snapshot_seq + offset } else { 0 };
                let (tail_len, conflicts) = (*tail_len as i32, *conflicts as i32);
                tx.execute(
                    "INSERT INTO records (id, kind, area_code, snapshot, snapshot_seq, tail_len, heads, deleted,
                                          conflicts, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                    &[id, kind, area, snapshot, &snapshot_seq, &tail_len, heads, deleted, &conflicts, created, updated],
                )
                .map_err(sql)?;
                let mut logged = source
                    .prepare_cached("SELECT seq, hash, bytes, device, logged_at FROM change_log WHERE record_id = ?1")
                    .map_err(sql)?;
                let mut rows = logged.query([id]).map_err(sql)?;
                while let Some(row) = rows.next().map_err(sql)? {
                    let seq: i64 = row.get::<_, i64>(0).map_err(sql)? + offset;
                    let (hash, bytes): (Vec<u8>, Vec<u8>) = (row.get(1).map_err(sql)?, row.get(2).map_err(sql)?);
                    let (device, at): (Option<String>, i64) = (row.get(3).map_err(sql)?, row.get(4).map_err(sql)?);
                    tx.execute(
                        "INSERT INTO change_log (seq, record_id, hash, bytes, device, logged_at)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        &[&seq, id, &hash, &bytes, &device, &at],
                    )
                    .map_err(sql)?;
                }
                records += 1;
            }
            tx.commit().map_err(sql)?;
            fail::fail_point!("migrate.after_page", |_| Err("stopped after a page".into()));
        }
    }
}

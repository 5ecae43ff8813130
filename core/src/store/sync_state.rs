//! The phone's side of sync in the store: its enrolment, the request counter, what to
//! push and what the center answered, pull pages with their cursor, scope changes,
//! quarantine, sync status and the remote wipe. Every step that sync takes is one
//! transaction, so a killed process or a dropped connection resumes where it stopped.

use automerge::{ActorId, Change};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::apply::{apply_in, project_if_readable};
use super::records::{self, Origin};
use super::{ApplyOutcome, RemoteChange, Store, meta_get, meta_set, projection};
use crate::area::{AreaCode, Scope};
use crate::doc::{GENESIS_ACTOR, RecordDoc};
use crate::error::{Error, Result};
use crate::model::Millis;
use crate::rules;
use crate::sync::wire::{Cursor, EnrolResponse, PushResponse, Snapshot};

const META_DEVICE: &str = "sync.device_id";
const META_KEY: &str = "sync.signing_key";
const META_CENTER: &str = "sync.center_url";
const META_CA: &str = "sync.ca_certificate";
const META_CURSOR: &str = "sync.cursor";
const META_COUNTER: &str = "sync.counter";
const META_LAST_SUCCESS: &str = "sync.last_success";
const META_LAST_ERROR: &str = "sync.last_error";
/// Set while records outside the scope were kept for unsent local changes.
const META_PRUNE_PENDING: &str = "sync.prune_pending";

/// What a phone needs to talk to its center, from enrolment.
#[derive(Clone)]
pub struct SyncIdentity {
    pub device_id: String,
    pub center_url: String,
    pub ca_certificate: Option<String>,
    pub signing_key_pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SyncIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncIdentity")
            .field("device_id", &self.device_id)
            .field("center_url", &self.center_url)
            .finish()
    }
}

/// What the app shows about sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub enrolled: bool,
    /// When the last sync completed (device clock, ms).
    pub last_success: Option<Millis>,
    /// Local changes the center has not stored yet.
    pub pending_changes: u64,
    /// Local changes the center refused (see `Store::quarantined`).
    pub quarantined_changes: u64,
    /// The last sync's error, if it failed.
    pub last_error: Option<SyncError>,
}

/// Why the last sync failed: its stable code, the English text and the Chinese one a
/// worker reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    pub code: String,
    pub message: String,
    pub message_zh: String,
}

/// What the change log holds, for audits after faults and crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChangeAudit {
    /// Changes made on this device.
    pub made_here: u64,
    /// Changes received from elsewhere.
    pub received: u64,
    /// Rows beyond the first for one change hash: always 0 in a healthy store.
    pub duplicated: u64,
}

/// A local change the center refused, kept for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedChange {
    pub record_id: String,
    pub hash: String,
    pub code: String,
    /// The center's reason, in English, for the township's staff and the logs (what a
    /// grid worker reads is `zh::refusal_zh(code, reason)`).
    pub reason: String,
    pub at: Millis,
}

/// What recording a push answer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushTally {
    pub acknowledged: usize,
    pub quarantined: usize,
}

/// Local changes the center has not acknowledged (the partial index `change_log_unacked`).
pub(crate) const PENDING_COUNT: &str = "SELECT count(*) FROM change_log WHERE origin = 0 AND acked = 0";
/// Local changes the center refused (the partial index `change_log_quarantined`).
pub(crate) const QUARANTINED_COUNT: &str = "SELECT count(*) FROM change_log WHERE origin = 0 AND acked = 2";

impl Store {
    /// Stores what enrolment returned, in one transaction: identity and key, worker,
    /// scope, township key, and a fresh cursor.
    pub fn save_enrolment(&mut self, center_url: &str, response: &EnrolResponse, key_pkcs8: &[u8]) -> Result<()> {
        let scope = Scope::new(response.scope.iter().cloned())?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        meta_set(&tx, META_DEVICE, response.device_id.as_bytes())?;
        meta_set(&tx, META_KEY, key_pkcs8)?;
        meta_set(&tx, META_CENTER, center_url.as_bytes())?;
        match &response.ca_certificate {
            Some(pem) => meta_set(&tx, META_CA, pem.as_bytes())?,
            None => {
                tx.execute("DELETE FROM meta WHERE key = ?1", [META_CA])?;
            }
        }
        set_cursor(&tx, &Cursor::fresh())?;
        tx.commit()?;
        self.set_worker(&response.worker_id)?;
        if let Some(duties) = response.duties {
            self.set_duties(duties)?;
        }
        self.set_scope(scope)?;
        self.set_township_key(&response.township_key)
    }

    pub fn sync_identity(&self) -> Result<Option<SyncIdentity>> {
        let text = |key| -> Result<Option<String>> {
            Ok(meta_get(&self.conn, key)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        let (Some(device_id), Some(center_url), Some(signing_key_pkcs8)) =
            (text(META_DEVICE)?, text(META_CENTER)?, meta_get(&self.conn, META_KEY)?)
        else {
            return Ok(None);
        };
        Ok(Some(SyncIdentity { device_id, center_url, ca_certificate: text(META_CA)?, signing_key_pkcs8 }))
    }

    /// The next request counter, made durable before the request is sent, so a counter
    /// is never used twice even if the app is killed mid-request.
    pub fn next_request_counter(&mut self) -> Result<u64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = meta_get(&tx, META_COUNTER)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        // Never below the clock in µs: a database restored from a backup still moves on.
        let next = (current + 1).max(((self.clock)().max(0) as u64).saturating_mul(1_000));
        meta_set(&tx, META_COUNTER, &next.to_be_bytes())?;
        tx.commit()?;
        Ok(next)
    }

    /// Local changes not yet stored at the center, oldest first (causal order), at most
    /// `max_changes`, about `max_bytes`, and no more ops than the center takes in a
    /// batch ([`crate::rules::MAX_BATCH_OPS`]).
    pub fn pending_push(&self, max_changes: u32, max_bytes: usize) -> Result<Vec<(i64, RemoteChange)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.seq, c.record_id, r.kind, c.bytes FROM change_log c JOIN records r ON r.id = c.record_id
             WHERE c.acked = 0 AND c.origin = 0 ORDER BY c.seq LIMIT ?1",
        )?;
        let mut rows = stmt.query([max_changes])?;
        let mut out = Vec::new();
        let (mut bytes, mut ops) = (0, 0);
        while let Some(row) = rows.next()? {
            let change: Vec<u8> = row.get(3)?;
            // The center bounds a batch's ops too (what applying it costs): one change
            // is always within it, so every batch carries at least one.
            let change_ops = rules::declared_ops(&change);
            if (bytes + change.len() > max_bytes || ops + change_ops > rules::MAX_BATCH_OPS) && !out.is_empty() {
                break;
            }
            bytes += change.len();
            ops += change_ops;
            let kind: String = row.get(2)?;
            let kind = crate::model::Kind::parse(&kind).ok_or_else(|| Error::Document("unknown record kind".into()))?;
            out.push((row.get(0)?, RemoteChange { record_id: row.get(1)?, kind, bytes: change }));
        }
        Ok(out)
    }

    /// Records the center's answer to a push of the changes logged as `sent` (their
    /// local sequences, from [`Store::pending_push`]), in one transaction: accepted
    /// changes are acknowledged, refused ones quarantined with the reason. Only the rows
    /// sent are acknowledged: two records can hold byte-identical changes (the same
    /// values written by this device in the same second), and acknowledging a hash
    /// everywhere would mark one that never left the phone.
    pub fn record_push(&mut self, sent: &[i64], response: &PushResponse) -> Result<PushTally> {
        let now = (self.clock)();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut tally = PushTally::default();
        {
            let accepted: std::collections::HashSet<&[u8]> = response.accepted.iter().map(Vec::as_slice).collect();
            let mut hash_of = tx.prepare_cached("SELECT hash FROM change_log WHERE seq = ?1 AND origin = 0")?;
            let mut ack = tx.prepare_cached("UPDATE change_log SET acked = 1 WHERE seq = ?1 AND acked != 1")?;
            for seq in sent {
                let hash: Option<Vec<u8>> = hash_of.query_row([seq], |row| row.get(0)).optional()?;
                if hash.is_some_and(|hash| accepted.contains(hash.as_slice())) {
                    tally.acknowledged += ack.execute([seq])?;
                }
            }
            let mut hold = tx.prepare_cached(
                "UPDATE change_log SET acked = 2 WHERE record_id = ?1 AND hash = ?2 AND origin = 0 AND acked = 0",
            )?;
            let mut note = tx.prepare_cached(
                "INSERT OR REPLACE INTO quarantine (record_id, hash, code, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for rejected in &response.rejected {
                tally.quarantined += hold.execute(params![rejected.record_id, rejected.hash])?;
                let code = serde_json::to_value(rejected.code).ok().and_then(|v| v.as_str().map(str::to_owned));
                note.execute(params![rejected.record_id, rejected.hash, code, rejected.reason, now])?;
            }
        }
        tx.commit()?;
        Ok(tally)
    }

    /// Turns a bootstrap of some areas into one of the whole scope, keeping where the
    /// changes resume after it.
    pub fn restart_bootstrap(&mut self) -> Result<()> {
        if let Cursor::Bootstrap { resume, .. } = self.sync_cursor()? {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            set_cursor(&tx, &Cursor::Bootstrap { prefixes: None, after_id: String::new(), resume })?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Where the next pull starts.
    pub fn sync_cursor(&self) -> Result<Cursor> {
        match meta_get(&self.conn, META_CURSOR)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|_| Error::Document("stored cursor is unreadable".into()))
            }
            None => Ok(Cursor::fresh()),
        }
    }

    /// Applies one pull page and stores its cursor in one transaction. Handles a scope
    /// the center changed: a widened scope starts a bootstrap of the new prefixes; a
    /// narrowed one removes records no longer covered, except those with local changes
    /// the center has not stored yet (they go once acknowledged).
    pub fn apply_pull(
        &mut self,
        snapshots: &[Snapshot],
        changes: &[RemoteChange],
        cursor: &Cursor,
        scope: &[String],
    ) -> Result<ApplyOutcome> {
        let now = (self.clock)();
        let new_scope = Scope::new(scope.iter().cloned())?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcome = apply_snapshots_in(&tx, &self.actor, snapshots, now)?;
        let applied = apply_in(&tx, &self.actor, changes, Origin::Remote, None, now)?;
        outcome.new_changes += applied.new_changes;
        outcome.known_changes += applied.known_changes;
        outcome.records += applied.records;
        outcome.waiting += applied.waiting;
        let mut cursor = cursor.clone();
        let scope_changed = self.scope.as_ref() != Some(&new_scope);
        if let Some(old) = self.scope.as_ref().filter(|old| **old != new_scope) {
            let added: Vec<String> = new_scope.prefixes().iter().filter(|p| !old.covers(p)).cloned().collect();
            if !added.is_empty() {
                let resume = match &cursor {
                    Cursor::Changes { after } => Some(*after),
                    Cursor::Bootstrap { resume, .. } => *resume,
                };
                cursor = Cursor::Bootstrap { prefixes: Some(added), after_id: String::new(), resume };
            }
            meta_set(&tx, super::META_SCOPE, &serde_json::to_vec(&new_scope).unwrap_or_default())?;
        }
        // Pruning walks every record: only when the scope changed, or records were kept
        // back earlier for local changes the center had not stored yet.
        if scope_changed || meta_get(&tx, META_PRUNE_PENDING)?.is_some() {
            if remove_uncovered(&tx, &new_scope)? > 0 {
                meta_set(&tx, META_PRUNE_PENDING, &[1])?;
            } else {
                tx.execute("DELETE FROM meta WHERE key = ?1", [META_PRUNE_PENDING])?;
            }
        }
        set_cursor(&tx, &cursor)?;
        fail::fail_point!("pull.page.before_commit");
        tx.commit()?;
        fail::fail_point!("pull.page.after_commit");
        self.scope = Some(new_scope);
        Ok(outcome)
    }

    /// Merges compacted documents from the center (digest repair), in one transaction.
    pub fn apply_snapshots(&mut self, snapshots: &[Snapshot]) -> Result<ApplyOutcome> {
        let now = (self.clock)();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = apply_snapshots_in(&tx, &self.actor, snapshots, now)?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Marks every local change of `record_ids` as not yet stored at the center, so the
    /// next push sends them again (the center ignores what it has). Digest repair.
    pub fn resend_local_changes(&mut self, record_ids: &[String]) -> Result<usize> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut count = 0;
        for id in record_ids {
            count +=
                tx.execute("UPDATE change_log SET acked = 0 WHERE record_id = ?1 AND origin = 0 AND acked = 1", [id])?;
        }
        tx.commit()?;
        Ok(count)
    }

    /// Remembers how the last sync ended, for [`Store::sync_status`].
    pub fn record_sync_result(&mut self, error: Option<&Error>) -> Result<()> {
        match error {
            None => {
                meta_set(&self.conn, META_LAST_SUCCESS, &(self.clock)().to_be_bytes())?;
                self.conn.execute("DELETE FROM meta WHERE key = ?1", [META_LAST_ERROR])?;
            }
            Some(error) => {
                let typed = SyncError { code: error.code(), message: error.to_string(), message_zh: error.zh() };
                let json = serde_json::to_vec(&typed).map_err(|e| Error::Document(e.to_string()))?;
                meta_set(&self.conn, META_LAST_ERROR, &json)?
            }
        }
        Ok(())
    }

    /// What waits and what was refused. Read at every sync and by the app's sync bar:
    /// both counts read an index of their own rows, never the change log
    /// (`the_sync_status_reads_no_more_than_what_waits`).
    pub fn sync_status(&self) -> Result<SyncStatus> {
        let count = |sql: &str| -> Result<u64> { Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
        Ok(SyncStatus {
            enrolled: meta_get(&self.conn, META_DEVICE)?.is_some(),
            last_success: meta_get(&self.conn, META_LAST_SUCCESS)?
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map(i64::from_be_bytes),
            pending_changes: count(PENDING_COUNT)?,
            quarantined_changes: count(QUARANTINED_COUNT)?,
            // A database from before typed errors held the English text alone.
            last_error: meta_get(&self.conn, META_LAST_ERROR)?.map(|bytes| {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| SyncError {
                    code: "sync.failed".into(),
                    message: String::from_utf8_lossy(&bytes).into_owned(),
                    message_zh: "上次同步没有完成".into(),
                })
            }),
        })
    }

    /// Counts the change log's rows by origin, and any change stored twice.
    pub fn change_audit(&self) -> Result<ChangeAudit> {
        let (made_here, received, duplicated) = self.conn.query_row(
            "SELECT count(*) FILTER (WHERE origin = 0), count(*) FILTER (WHERE origin = 1),
                    count(*) - count(DISTINCT hash) FROM change_log",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)),
        )?;
        Ok(ChangeAudit { made_here: made_here as u64, received: received as u64, duplicated: duplicated as u64 })
    }

    /// The local changes the center refused, newest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT record_id, hash, code, reason, at FROM quarantine ORDER BY at DESC, record_id")?;
        let rows = stmt.query_map([], |row| {
            let (code, reason): (String, String) = (row.get(2)?, row.get(3)?);
            Ok(QuarantinedChange {
                record_id: row.get(0)?,
                hash: hex::encode(row.get::<_, Vec<u8>>(1)?),
                code,
                reason,
                at: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Erases every record, change and setting: the remote wipe of a revoked (lost or
    /// stolen) phone, ordered deliberately by the center. The only path on which
    /// gridsync deletes data that may not have reached the center.
    pub fn wipe(&mut self) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        projection::clear(&tx)?;
        for table in ["quarantine", "change_log", "records", "meta", "blob_uploads", "blob_downloads", "blobs"] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        tx.commit()?;
        // Reclaim the pages so the erased data does not linger in the file.
        // VACUUM rewrites through the WAL: checkpoint after it, or the WAL keeps the pages.
        self.conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        self.scope = None;
        self.township_key = None;
        self.worker.clear();
        Ok(())
    }
}

fn set_cursor(tx: &Transaction<'_>, cursor: &Cursor) -> Result<()> {
    meta_set(tx, META_CURSOR, &serde_json::to_vec(cursor).map_err(|e| Error::Document(e.to_string()))?)
}

/// Applies snapshots: a record new here is stored from its snapshot as is; a record
/// already here gets the snapshot's changes through the ordinary apply path, so the
/// change log stays complete.
fn apply_snapshots_in(
    tx: &Transaction<'_>,
    actor: &ActorId,
    snapshots: &[Snapshot],
    now: Millis,
) -> Result<ApplyOutcome> {
    let mut outcome = ApplyOutcome::default();
    let genesis = ActorId::from(GENESIS_ACTOR);
    for snapshot in snapshots {
        outcome.records += 1;
        let doc = RecordDoc::load(snapshot.kind, actor, Some(&snapshot.document), [])?;
        if records::record_kind(tx, &snapshot.record_id)?.is_none() {
            // Stored as it came, it skips the change-by-change rules (a center not trusted
            // with the phone's records could send anything).
            if let Err(breach) = rules::check_document(&doc) {
                outcome.refuse(&snapshot.record_id, &breach, 1);
                continue;
            }
            records::persist_doc(tx, &snapshot.record_id, &doc, &[], Origin::Remote, None, now)?;
            tx.prepare_cached("UPDATE records SET snapshot = ?2, snapshot_seq = 0 WHERE id = ?1")?
                .execute(params![snapshot.record_id, snapshot.document])?;
            project_if_readable(tx, &snapshot.record_id, &doc, now)?;
            continue;
        }
        let changes: Vec<RemoteChange> = doc
            .changes_since(&[])
            .into_iter()
            .filter(|c: &Change| c.actor_id() != &genesis)
            .map(|c| RemoteChange {
                record_id: snapshot.record_id.clone(),
                kind: snapshot.kind,
                bytes: c.raw_bytes().to_vec(),
            })
            .collect();
        let applied = apply_in(tx, actor, &changes, Origin::Remote, None, now)?;
        outcome.new_changes += applied.new_changes;
        outcome.known_changes += applied.known_changes;
        outcome.waiting += applied.waiting;
    }
    Ok(outcome)
}

/// Removes records outside `scope` that hold no local change the center lacks; returns
/// how many it kept for pending changes (records with quarantined changes are kept too,
/// with the refused changes, but do not call for another pass).
fn remove_uncovered(tx: &Transaction<'_>, scope: &Scope) -> Result<usize> {
    let (mut kept, mut removed) = (0, 0);
    let candidates: Vec<(String, String)> = tx
        .prepare_cached("SELECT id, area_code FROM records WHERE area_code != ''")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, area) in candidates {
        let covered = AreaCode::parse("area_code", &area).is_ok_and(|a| scope.contains(&a));
        if covered {
            continue;
        }
        // Pending changes may still be stored by the center; quarantined ones stay with
        // their record for a person to see, but will not change on their own.
        let (pending, quarantined): (i64, i64) = tx.query_row(
            "SELECT count(*) FILTER (WHERE acked = 0), count(*) FILTER (WHERE acked = 2)
             FROM change_log WHERE record_id = ?1 AND origin = 0",
            [&id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        if pending > 0 {
            kept += 1;
        } else if quarantined == 0 {
            projection::forget(tx, &id)?;
            for table in ["change_log", "quarantine"] {
                tx.execute(&format!("DELETE FROM {table} WHERE record_id = ?1"), [&id])?;
            }
            tx.execute("DELETE FROM records WHERE id = ?1", [&id])?;
            removed += 1;
        }
    }
    if removed > 0 {
        projection::purge_forgotten(tx)?;
    }
    Ok(kept)
}

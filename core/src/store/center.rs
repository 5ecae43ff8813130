//! The center's side of sync, on the same store: accepting a device's changes under its
//! scope, and serving pulls and fetches. The rules live here, in core, beside the
//! phone's, so both ends apply the same ones.

use automerge::Change;
use rusqlite::{OptionalExtension, TransactionBehavior, params_from_iter, types::Value as SqlValue};

use super::records::{self, Origin};
use super::scoped::area_condition;
use super::{Store, projection};
use crate::area::{AreaCode, Scope};
use crate::doc::RecordDoc;
use crate::error::{Error, Result};
use crate::ids::TownshipKey;
use crate::model::{Kind, Person, Record};
use crate::rules::{self, Breach};
use crate::store::RemoteChange;
use crate::sync::wire::{Cursor, PullResponse, RejectCode, Rejected, Snapshot};

/// What the center did with a pushed batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Hashes the center now holds (new or already held).
    pub accepted: Vec<Vec<u8>>,
    pub rejected: Vec<Rejected>,
    /// Changes new to the center.
    pub new_changes: usize,
}

/// The most changes one pushed batch may carry (docs/protocol.md).
pub const MAX_BATCH_CHANGES: usize = 500;
/// The most change bytes one pushed batch may carry. A phone sends 128 KiB batches;
/// one large change (a long note) may travel alone up to [`rules::MAX_CHANGE_BYTES`].
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// The most distinct records one fetch may name, and the most document bytes it answers.
pub const MAX_FETCH_RECORDS: usize = 200;
pub const MAX_FETCH_BYTES: usize = 4 << 20;

/// The device a push comes from, as the center authenticated it.
#[derive(Clone, Copy)]
pub struct Pusher<'a> {
    pub device: &'a str,
    /// The automerge actor bound to the device at enrolment (hex).
    pub actor: &'a str,
    /// The worker the device is enrolled for: every change names them.
    pub worker: &'a str,
    pub scope: &'a Scope,
    /// The township key, to check that a person's id is the one its ID number gives.
    pub township_key: &'a TownshipKey,
    /// Whether an area code is in the township's register (always true while the
    /// township has imported none).
    pub area_registered: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for Pusher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher").field("device", &self.device).field("worker", &self.worker).finish_non_exhaustive()
    }
}

/// Limits of one pull page.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub max_items: u32,
    pub max_bytes: u32,
}

impl Store {
    /// Accepts a device's changes, in one transaction, checked record by record: a
    /// record's changes are refused when the record is outside the device's scope before
    /// or after them, when they break a record rule (`rules`), when they would make it
    /// invalid, when they were not made by the device's actor and worker, or when their
    /// dependencies are unknown. A batch with any refusal stores nothing (the phone
    /// quarantines the refused changes and sends the rest again); a batch over its
    /// limits, or with bytes that are no change, is refused whole.
    pub fn accept_push(&mut self, pusher: &Pusher<'_>, changes: &[RemoteChange]) -> Result<PushOutcome> {
        let bytes: usize = changes.iter().map(|c| c.bytes.len()).sum();
        if changes.len() > MAX_BATCH_CHANGES || bytes > MAX_BATCH_BYTES {
            return Err(Error::TooLarge(format!(
                "a batch carries at most {MAX_BATCH_CHANGES} changes and {MAX_BATCH_BYTES} bytes of changes"
            )));
        }
        let by_record = super::apply::group_by_record(changes)?;
        let now = (self.clock)();
        let mut outcome = PushOutcome::default();
        let refuse = |outcome: &mut PushOutcome, id: &str, changes: &[Change], breach: Breach| {
            // A refused id may be anything a phone sent (control characters, 100,000
            // characters): only a well-formed one reaches the log.
            let shown =
                if uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id) { id } else { "-" };
            tracing::info!(record = shown, code = ?breach.code, reason = %breach.reason, "change refused");
            outcome.rejected.extend(changes.iter().map(|c| Rejected {
                record_id: id.to_owned(),
                hash: c.hash().0.to_vec(),
                code: breach.code,
                reason: breach.reason.clone(),
            }));
        };
        // 1. What the changes say by themselves, for the whole batch, before anything
        //    outside the device's scope is looked at.
        for (id, (kind, changes)) in &by_record {
            if let Err(breach) = check_alone(id, *kind, changes, pusher) {
                refuse(&mut outcome, id, changes, breach);
            }
        }
        if !outcome.rejected.is_empty() {
            return Ok(outcome);
        }
        // 2. Records that are new or in scope: applied and checked.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ready = Vec::new();
        let mut elsewhere = Vec::new();
        for (id, (kind, changes)) in &by_record {
            match check_applied(&tx, &self.actor, id, *kind, changes, pusher) {
                Ok(Some(doc)) => ready.push((*id, doc, changes)),
                Ok(None) => elsewhere.push((*id, changes)),
                Err(breach) => refuse(&mut outcome, id, changes, breach),
            }
        }
        // 3. Only a batch that is otherwise clean learns that a record exists outside the
        //    scope, and nothing of its area or kind (docs/security.md, "No oracle").
        if outcome.rejected.is_empty() {
            for (id, changes) in elsewhere {
                tracing::warn!(record = id, device = pusher.device, "push to a record outside the scope");
                let breach = Breach::new(
                    RejectCode::OutOfScope,
                    "this record is registered outside your area: ask the township to transfer it",
                );
                refuse(&mut outcome, id, changes, breach);
            }
        }
        if !outcome.rejected.is_empty() {
            return Ok(outcome);
        }
        for (id, doc, changes) in ready {
            outcome.new_changes +=
                records::persist_doc(&tx, id, &doc, changes, Origin::Remote, Some(pusher.device), now)?;
            projection::project(&tx, id, &doc, now)?;
            outcome.accepted.extend(changes.iter().map(|c| c.hash().0.to_vec()));
        }
        fail::fail_point!("center.apply.before_commit");
        tx.commit()?;
        fail::fail_point!("center.apply.after_commit");
        Ok(outcome)
    }

    /// The highest global sequence the center has given a change.
    pub fn max_seq(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT ifnull(max(seq), 0) FROM change_log", [], |row| row.get::<_, i64>(0))? as u64)
    }

    /// The next page of what `device` (with `scope`) should receive after `cursor`.
    pub fn serve_pull(&self, device: &str, scope: &Scope, cursor: &Cursor, limits: PageLimits) -> Result<PullResponse> {
        let max_items = limits.max_items.clamp(1, 2_000);
        let max_bytes = limits.max_bytes.clamp(1_024, 4 << 20) as usize;
        let mut response = PullResponse {
            snapshots: Vec::new(),
            changes: Vec::new(),
            cursor: cursor.clone(),
            more: false,
            remaining: 0,
            scope: scope.prefixes().to_vec(),
        };
        match cursor {
            Cursor::Bootstrap { prefixes, after_id, resume } => {
                let prefixes = intersect(prefixes.as_deref(), scope);
                let resume = match resume {
                    Some(seq) => *seq,
                    None => self.max_seq()?,
                };
                let (condition, mut params) = area_condition("area_code", &prefixes);
                params.push(after_id.clone().into());
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT id FROM records WHERE {condition} AND id > ? ORDER BY id LIMIT ?"
                ))?;
                params.push(i64::from(max_items + 1).into());
                let ids: Vec<String> =
                    stmt.query_map(params_from_iter(params.iter()), |row| row.get(0))?.collect::<Result<_, _>>()?;
                let mut bytes = 0;
                let mut last = after_id.clone();
                for id in ids.iter().take(max_items as usize) {
                    if bytes >= max_bytes && !response.snapshots.is_empty() {
                        break;
                    }
                    last.clone_from(id);
                    if let Some(snapshot) = self.readable_snapshot(id)? {
                        bytes += snapshot.document.len();
                        response.snapshots.push(snapshot);
                    }
                }
                let finished = ids.len() <= max_items as usize && ids.last().is_none_or(|id| *id == last);
                response.remaining = self.count_records_after(&prefixes, &last)?;
                response.cursor = if finished {
                    Cursor::Changes { after: resume }
                } else {
                    Cursor::Bootstrap { prefixes: Some(prefixes), after_id: last, resume: Some(resume) }
                };
                // After the last snapshot page, the changes since `resume` follow.
                response.more = true;
                if finished && resume == self.max_seq()? {
                    response.more = false;
                }
            }
            Cursor::Changes { after } => {
                let (condition, mut params) = area_condition("r.area_code", scope.prefixes());
                let sql = format!(
                    "SELECT c.seq, c.record_id, r.kind, c.bytes FROM change_log c JOIN records r ON r.id = c.record_id
                     WHERE c.seq > ? AND {condition} AND (c.device IS NULL OR c.device != ?)
                     ORDER BY c.seq LIMIT ?"
                );
                let mut all_params: Vec<SqlValue> = vec![(*after as i64).into()];
                all_params.append(&mut params);
                all_params.push(device.to_owned().into());
                all_params.push(i64::from(max_items + 1).into());
                let mut stmt = self.conn.prepare_cached(&sql)?;
                let mut rows = stmt.query(params_from_iter(all_params.iter()))?;
                let mut bytes = 0;
                let mut last = *after;
                let mut more = false;
                while let Some(row) = rows.next()? {
                    let blob = row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
                    if response.changes.len() == max_items as usize
                        || (bytes + blob.len() > max_bytes && !response.changes.is_empty())
                    {
                        more = true;
                        break;
                    }
                    bytes += blob.len();
                    last = row.get::<_, i64>(0)? as u64;
                    let kind: String = row.get(2)?;
                    response.changes.push(RemoteChange {
                        record_id: row.get(1)?,
                        kind: Kind::parse(&kind).ok_or_else(|| Error::Document("unknown record kind".into()))?,
                        bytes: blob.to_vec(),
                    });
                }
                if !more {
                    // Everything after `after` was seen: skip past the device's own and
                    // out-of-scope changes too.
                    last = last.max(self.max_seq()?);
                }
                response.more = more;
                response.cursor = Cursor::Changes { after: last };
                if more {
                    response.remaining = self.count_changes_after(device, scope, last)?;
                }
            }
        }
        Ok(response)
    }

    /// Compacted documents of the records named, each once, skipping any outside
    /// `scope` and any that cannot be read (reported, never a failed answer), and
    /// stopping at [`MAX_FETCH_BYTES`] (the phone asks again for the rest).
    pub fn fetch_in_scope(&self, scope: &Scope, ids: &[String]) -> Result<Vec<Snapshot>> {
        let mut unique: Vec<&String> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        if unique.len() > MAX_FETCH_RECORDS {
            return Err(Error::TooLarge(format!("a fetch names at most {MAX_FETCH_RECORDS} records")));
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for id in unique {
            if bytes >= MAX_FETCH_BYTES {
                break;
            }
            let area: Option<String> = self
                .conn
                .prepare_cached("SELECT area_code FROM records WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            let in_scope = area.and_then(|a| AreaCode::parse("area_code", &a).ok()).is_some_and(|a| scope.contains(&a));
            if in_scope && let Some(snapshot) = self.readable_snapshot(id)? {
                bytes += snapshot.document.len();
                out.push(snapshot);
            }
        }
        Ok(out)
    }

    /// A record's compacted document, or `None` when it cannot be read (a record the
    /// rules did not yet guard, damaged on disk): one bad record must not fail the
    /// answer every phone of its grid needs. Logged for the township's IT.
    fn readable_snapshot(&self, id: &str) -> Result<Option<Snapshot>> {
        match records::load_doc(&self.conn, &self.actor, id, None) {
            Ok(doc) => Ok(Some(Snapshot { record_id: id.to_owned(), kind: doc.kind(), document: doc.save() })),
            Err(Error::Document(reason)) => {
                tracing::error!(record = id, %reason, "record unreadable: skipped in pulls and fetches");
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    fn count_records_after(&self, prefixes: &[String], after_id: &str) -> Result<u64> {
        let (condition, mut params) = area_condition("area_code", prefixes);
        params.push(after_id.to_owned().into());
        let sql = format!("SELECT count(*) FROM records WHERE {condition} AND id > ?");
        Ok(self.conn.query_row(&sql, params_from_iter(params.iter()), |row| row.get::<_, i64>(0))? as u64)
    }

    fn count_changes_after(&self, device: &str, scope: &Scope, after: u64) -> Result<u64> {
        let (condition, params) = area_condition("r.area_code", scope.prefixes());
        let mut all: Vec<SqlValue> = vec![(after as i64).into()];
        all.extend(params);
        all.push(device.to_owned().into());
        let sql = format!(
            "SELECT count(*) FROM change_log c JOIN records r ON r.id = c.record_id
             WHERE c.seq > ? AND {condition} AND (c.device IS NULL OR c.device != ?)"
        );
        Ok(self.conn.query_row(&sql, params_from_iter(all.iter()), |row| row.get::<_, i64>(0))? as u64)
    }
}

/// Checks one record's pushed changes by what they say themselves: the record id's form,
/// the device's actor and worker, and the record rules op by op.
fn check_alone(id: &str, kind: Kind, changes: &[Change], pusher: &Pusher<'_>) -> std::result::Result<(), Breach> {
    check_record_id(id, kind)?;
    for change in changes {
        if change.actor_id().to_hex_string() != pusher.actor {
            return Err(Breach::new(RejectCode::WrongAuthor, "changes must be made by the pushing device's actor"));
        }
        if change.message() != Some(pusher.worker) {
            return Err(Breach::new(RejectCode::WrongWorker, "a change must name the device's worker"));
        }
        rules::check_change(kind, change)?;
    }
    Ok(())
}

/// Applies one record's pushed changes to its document and checks the result. Returns
/// the document (nothing is written yet), or `None` when the record exists outside the
/// device's scope (then nothing else about it is looked at).
fn check_applied(
    conn: &rusqlite::Connection,
    actor: &automerge::ActorId,
    id: &str,
    kind: Kind,
    changes: &[Change],
    pusher: &Pusher<'_>,
) -> std::result::Result<Option<RecordDoc>, Breach> {
    let storage = |e: Error| Breach::new(RejectCode::Invalid, format!("could not be checked: {e}"));
    let in_scope = |area: Option<&str>| -> bool {
        area.and_then(|a| AreaCode::parse("area_code", a).ok()).is_some_and(|a| pusher.scope.contains(&a))
    };
    let existing: Option<(String, String)> = conn
        .prepare_cached("SELECT kind, area_code FROM records WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .map_err(|e| storage(e.into()))?;
    let mut doc = match existing {
        Some((_, area)) if !in_scope(Some(&area)) => return Ok(None),
        Some((existing, _)) if existing != kind.as_str() => {
            return Err(Breach::new(RejectCode::WrongKind, "the record id names a record of another kind"));
        }
        Some(_) => records::load_doc(conn, actor, id, Some(kind)).map_err(storage)?,
        None => RecordDoc::new(kind, actor).map_err(storage)?,
    };
    let history: u64 = conn
        .prepare_cached("SELECT ifnull(sum(length(bytes)), 0) FROM change_log WHERE record_id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |row| row.get::<_, i64>(0)))
        .map_err(|e| storage(e.into()))? as u64;
    let added: u64 = changes.iter().map(|c| c.raw_bytes().len() as u64).sum();
    if history + added > rules::MAX_RECORD_HISTORY_BYTES {
        return Err(Breach::new(
            RejectCode::TooLarge,
            format!("a record's history holds at most {} bytes", rules::MAX_RECORD_HISTORY_BYTES),
        ));
    }
    doc.apply_changes(changes.to_vec()).map_err(|e| Breach::new(RejectCode::Malformed, e.to_string()))?;
    if doc.has_queued_changes() {
        return Err(Breach::new(RejectCode::MissingDependencies, "an earlier change of this record is missing"));
    }
    rules::check_bounds(&doc)?;
    if !in_scope(doc.area_code().as_deref()) {
        return Err(Breach::new(RejectCode::OutOfScope, "area_code would be outside this device's scope"));
    }
    if !doc.area_code().is_some_and(|area| (pusher.area_registered)(&area)) {
        return Err(Breach::new(RejectCode::Invalid, "invalid area_code: must be an area of the township's register"));
    }
    doc.validate().map_err(|e| match e {
        Error::Invalid(v) => Breach::new(RejectCode::Invalid, v.to_string()),
        other => Breach::new(RejectCode::Invalid, other.to_string()),
    })?;
    for change in changes {
        rules::check_steps(&doc, change)?;
    }
    if kind == Kind::Person {
        check_person_id(id, &doc, pusher.township_key)?;
    }
    Ok(Some(doc))
}

/// Record ids are UUIDs in their canonical form: a UUIDv7, or for a person a UUIDv8
/// derived from the ID number (docs/protocol.md, "Record ids").
fn check_record_id(id: &str, kind: Kind) -> std::result::Result<(), Breach> {
    let bad =
        || Breach::new(RejectCode::BadRecordId, "a record id is a lower-case UUIDv7 (a person's may be a UUIDv8)");
    let uuid = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    let canonical = uuid.hyphenated().to_string() == id;
    match uuid.get_version_num() {
        7 if canonical => Ok(()),
        8 if canonical && kind == Kind::Person => Ok(()),
        _ => Err(bad()),
    }
}

/// A person whose id is derived (a UUIDv8) holds the ID number it was derived from, for
/// ever: nobody can register someone else's number under it, or squat an id.
fn check_person_id(id: &str, doc: &RecordDoc, key: &TownshipKey) -> std::result::Result<(), Breach> {
    if uuid::Uuid::parse_str(id).map(|u| u.get_version_num()).ok() != Some(8) {
        return Ok(());
    }
    let person: Person = doc.read().map_err(|_| Breach::new(RejectCode::Invalid, "the person cannot be read"))?;
    match person.identity_document() {
        Some((id_type, number)) if key.person_id(id_type, number) == id => Ok(()),
        _ => Err(Breach::new(
            RejectCode::IdNumberMismatch,
            "a person's id is derived from their ID number, which never changes on that record",
        )),
    }
}

/// The prefixes of `requested` (all of `scope` when `None`) that lie within `scope`.
fn intersect(requested: Option<&[String]>, scope: &Scope) -> Vec<String> {
    let Some(requested) = requested else { return scope.prefixes().to_vec() };
    let mut out: Vec<String> = Vec::new();
    for prefix in requested {
        for allowed in scope.prefixes() {
            if prefix.starts_with(allowed.as_str()) {
                out.push(prefix.clone());
            } else if allowed.starts_with(prefix.as_str()) {
                out.push(allowed.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

//! Applying changes made on other replicas: idempotent and order-independent.
//!
//! A change already known is ignored; a change whose dependencies have not arrived is
//! logged and stays queued in its document (each load re-queues it from the log) until
//! they do. Everything a batch brings moves in one transaction with the projections and
//! the change log.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{Change, ChangeHash};
use rusqlite::Transaction;
use serde::Serialize;

use super::records::{self, Origin};
use super::{Store, projection};
use crate::doc::RecordDoc;
use crate::error::{Error, Result};
use crate::model::{Kind, Millis};
use crate::rules::{self, Admission, Breach, Profile};
use crate::sync::wire::{RejectCode, RemoteChange};

/// What applying a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// Changes new to this replica.
    pub new_changes: usize,
    /// Changes it had already (repeated deliveries).
    pub known_changes: usize,
    /// Records the batch touched.
    pub records: usize,
    /// Records left with changes waiting for dependencies that have not arrived.
    pub waiting: usize,
    /// Changes not applied because they break a record rule (see `rules`).
    pub refused: usize,
}

impl ApplyOutcome {
    /// Counts `changes` of record `id` as refused for `breach`, and logs why.
    pub(crate) fn refuse(&mut self, id: &str, breach: &Breach, changes: usize) {
        tracing::warn!(record = id, code = ?breach.code, reason = %breach.reason, "incoming change refused");
        self.refused += changes;
    }
}

impl Store {
    /// Applies changes from another replica in one transaction. Idempotent: applying a
    /// batch twice, or in another order, leaves the same documents. Malformed change
    /// bytes fail the whole batch and store nothing.
    pub fn apply_remote(&mut self, changes: &[RemoteChange]) -> Result<ApplyOutcome> {
        let now = (self.clock)();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let outcome = apply_in(&tx, &self.actor, changes, Origin::Remote, None, now)?;

        tx.commit()?;
        Ok(outcome)
    }

    /// Every logged change after local sequence `after`, oldest first, at most `limit`,
    /// with its sequence. Each record's changes come in causal order.
    pub fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, RemoteChange)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.seq, c.record_id, r.kind, c.bytes FROM change_log c JOIN records r ON r.id = c.record_id
             WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(rusqlite::params![after, limit], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, Vec<u8>>(3)?))
        })?;
        rows.map(|row| {
            let (seq, record_id, kind, bytes) = row?;
            let kind = Kind::parse(&kind).ok_or_else(|| Error::Document(format!("unknown record kind {kind:?}")))?;
            Ok((seq, RemoteChange { record_id, kind, bytes }))
        })
        .collect()
    }
}

/// Applies `changes` inside `tx`, record by record.
pub(crate) fn apply_in(
    tx: &Transaction<'_>,
    actor: &automerge::ActorId,
    changes: &[RemoteChange],
    origin: Origin,
    device: Option<&str>,
    now: Millis,
) -> Result<ApplyOutcome> {
    let by_record = group_by_record(changes).map_err(|breach| Error::Document(breach.reason))?;
    let mut outcome = ApplyOutcome { records: by_record.len(), ..ApplyOutcome::default() };
    for (id, (kind, changes)) in by_record {
        let mut doc = match records::record_kind(tx, id)? {
            Some(_) => records::load_doc(tx, actor, id, Some(kind))?,
            None => RecordDoc::new(kind, actor)?,
        };
        // The same pipeline the center admits with: a change that breaks a rule is not
        // applied (a center that let it through is not trusted with the phone's records).
        let admission = Admission { profile: Profile::Replica, author: None };
        if let Err(breach) = admission.alone(kind, &changes) {
            outcome.refuse(id, &breach, changes.len());
            continue;
        }
        let before = doc.heads();
        doc.apply_changes(changes.clone())?;
        // Judged once applied, whenever that is: a change still waiting for earlier
        // changes has no history here to be judged against yet.
        let judged = newly_applied(tx, id, &doc, &before, &changes)?.and_then(|applied| {
            let Ok(judged) = admission.applied::<std::convert::Infallible>(id, &doc, &applied, None);
            judged.map(|()| applied)
        });
        let applied = match judged {
            Ok(applied) => applied,
            Err(breach) => {
                outcome.refuse(id, &breach, changes.len());
                continue;
            }
        };
        let received = changes.len();
        let logged = records::persist_doc(tx, id, &doc, &in_log_order(applied, changes), origin, device, now)?;
        outcome.new_changes += logged;
        outcome.known_changes += received - logged;
        if doc.has_queued_changes() {
            outcome.waiting += 1;
        }
        project_if_readable(tx, id, &doc, now)?;
    }
    Ok(outcome)
}

/// The changes `doc` applied since it was at `before`, in causal order: the batch's, and
/// any that waited in the log for what this batch brought. One that is in neither (a
/// document stored with changes its log never held) is a breach: it cannot be judged.
fn newly_applied(
    tx: &Transaction<'_>,
    id: &str,
    doc: &RecordDoc,
    before: &[ChangeHash],
    batch: &[Change],
) -> Result<Result<Vec<Change>, Breach>> {
    let from_batch: HashMap<ChangeHash, &Change> = batch.iter().map(|change| (change.hash(), change)).collect();
    let mut applied = Vec::new();
    for meta in doc.automerge().get_changes_meta(before) {
        let change = match from_batch.get(&meta.hash) {
            Some(change) => (*change).clone(),
            None => match records::logged_change(tx, id, &meta.hash)? {
                Some(change) => change,
                None => return Ok(Err(Breach::new(RejectCode::Malformed, "a change applied here is in no log"))),
            },
        };
        applied.push(change);
    }
    Ok(Ok(applied))
}

/// The changes to log for a batch: those applied, in causal order, then those still
/// waiting. So a batch that arrived reordered is logged with every applied change after
/// the changes it depends on, and a replica reading this log in order (the changes it
/// sends) does not meet them out of order.
fn in_log_order(applied: Vec<Change>, batch: Vec<Change>) -> Vec<Change> {
    let applied_hashes: HashSet<ChangeHash> = applied.iter().map(Change::hash).collect();
    let waiting = batch.into_iter().filter(|change| !applied_hashes.contains(&change.hash()));
    applied.into_iter().chain(waiting).collect()
}

/// A batch's changes parsed and grouped by record, each record's in batch order. Fails,
/// describing the first bad change (never its content), when bytes are over the size
/// limit, are not an uncompressed automerge change (checked before automerge parses
/// them), or one record is named with two kinds.
pub fn group_by_record(changes: &[RemoteChange]) -> Result<BTreeMap<&str, (Kind, Vec<Change>)>, Breach> {
    let mut by_record: BTreeMap<&str, (Kind, Vec<Change>)> = BTreeMap::new();
    for (index, change) in changes.iter().enumerate() {
        let at = |breach: Breach| Breach::new(breach.code, format!("change {index} of the batch: {}", breach.reason));
        rules::check_change_bytes(&change.bytes).map_err(at)?;
        let parsed = Change::from_bytes(change.bytes.clone())
            .map_err(|_| at(Breach::new(RejectCode::Malformed, "not an automerge change")))?;
        let entry = by_record.entry(&change.record_id).or_insert_with(|| (change.kind, Vec::new()));
        if entry.0 != change.kind {
            return Err(at(Breach::new(RejectCode::Malformed, "names another kind for its record")));
        }
        entry.1.push(parsed);
    }
    Ok(by_record)
}

impl From<Breach> for Error {
    /// A batch-level breach: over a limit, or bytes that are no change at all.
    fn from(breach: Breach) -> Self {
        match breach.code {
            RejectCode::TooLarge => Error::TooLarge(breach.reason),
            _ => Error::Protocol(breach.reason),
        }
    }
}

/// Projects `doc` unless it cannot be read yet: its first change may still be waiting
/// for dependencies, or a newer app version may have written a value this one does not
/// know. The document itself is stored either way and synced untouched.
pub(crate) fn project_if_readable(tx: &rusqlite::Connection, id: &str, doc: &RecordDoc, now: Millis) -> Result<()> {
    match projection::project(tx, id, doc, now) {
        Err(Error::Document(reason)) => {
            tracing::warn!(record = id, kind = %doc.kind(), %reason, "record not projected");
            Ok(())
        }
        other => other,
    }
}

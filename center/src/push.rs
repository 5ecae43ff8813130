//! Accepting a device's pushed changes: the center's record rules, above the storage.
//!
//! A record's changes are refused when the record is outside the device's scope before or
//! after them, when they break a record rule (`gridsync_core::rules`), when they would
//! make it invalid, when they were not made by the device's actor and worker, or when
//! their dependencies are unknown. A batch with any refusal stores nothing (the phone
//! quarantines the refused changes and sends the rest again); a batch over its limits,
//! or with bytes that are no change, is refused whole.

use automerge::{ActorId, Change};
use gridsync_core::doc::RecordDoc;
use gridsync_core::ids::TownshipKey;
use gridsync_core::rules::{self, Admission, Author, Breach, CenterChecks, Profile};
use gridsync_core::store::{RemoteChange, group_by_record};
use gridsync_core::sync::wire::{RejectCode, Rejected};
use gridsync_core::{AreaCode, Duties, Kind, Person, Record, Scope};

use crate::storage::{StorageError, StoredRecord, Tx};

/// The most changes one pushed batch may carry (docs/protocol.md).
pub const MAX_BATCH_CHANGES: usize = 500;
/// The most change bytes one pushed batch may carry. A phone sends 128 KiB batches;
/// one large change (a long note) may travel alone up to [`rules::MAX_CHANGE_BYTES`].
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// The most new records one device may register in a day (China date): a grid's whole
/// census (a few hundred households, a thousand or two persons) fits several times.
pub const MAX_NEW_RECORDS_PER_DAY: i64 = 5_000;
/// The most changes one device may push in a day: one a second for fourteen hours, and
/// then some.
pub const MAX_CHANGES_PER_DAY: i64 = 100_000;

/// What the center did with a pushed batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Hashes the center now holds (new or already held).
    pub accepted: Vec<Vec<u8>>,
    pub rejected: Vec<Rejected>,
    /// Changes new to the center.
    pub new_changes: usize,
}

/// The device a push comes from, as the center authenticated it.
#[derive(Clone, Copy)]
pub struct Pusher<'a> {
    pub device: &'a str,
    /// The automerge actor bound to the device at enrolment (hex).
    pub actor: &'a str,
    /// The worker the device is enrolled for: every change names them.
    pub worker: &'a str,
    pub scope: &'a Scope,
    /// The worker's role under the township's policy: the steps their changes may take.
    pub duties: Duties,
    /// The township key, to check that a person's id is the one its ID number gives.
    pub township_key: &'a TownshipKey,
}

impl std::fmt::Debug for Pusher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher").field("device", &self.device).field("worker", &self.worker).finish_non_exhaustive()
    }
}

/// Why a push could not be answered: a batch refused whole, the device's write budget
/// for the day spent, or the storage failing.
#[derive(Debug)]
pub enum PushError {
    Batch(Breach),
    Budget(String),
    Storage(StorageError),
}

impl From<StorageError> for PushError {
    fn from(err: StorageError) -> Self {
        PushError::Storage(err)
    }
}

/// The actor the center loads documents with: it reads them, it never writes with it.
pub(crate) fn reading_actor() -> ActorId {
    ActorId::from([0u8; 16])
}

/// Loads a stored record's document.
pub(crate) fn load(record: &StoredRecord) -> gridsync_core::Result<RecordDoc> {
    RecordDoc::load(record.kind, &reading_actor(), record.snapshot.as_deref(), record.tail.iter().map(Vec::as_slice))
}

/// Checks and applies a device's changes inside `tx` (which the caller commits when
/// nothing was refused).
pub fn accept(
    tx: &mut dyn Tx,
    pusher: &Pusher<'_>,
    changes: &[RemoteChange],
    now: i64,
) -> Result<PushOutcome, PushError> {
    check_batch(changes).map_err(PushError::Batch)?;
    let by_record = group_by_record(changes).map_err(PushError::Batch)?;
    let mut outcome = PushOutcome::default();
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
    // 2. Records that are new or in scope: applied and checked, each held against other
    //    writers until the transaction ends (ids in order, so two pushes never deadlock).
    let ids: Vec<&str> = by_record.keys().copied().collect();
    tx.lock_records(&ids)?;
    let mut ready = Vec::new();
    let mut elsewhere = Vec::new();
    let mut new_records = 0;
    for (id, (kind, changes)) in &by_record {
        match check_applied(tx, id, *kind, changes, pusher)? {
            Ok(Some((doc, new))) => {
                new_records += i64::from(new);
                ready.push((*id, doc, changes));
            }
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
    // Within the device's budget for the day: a stolen phone cannot fill the township
    // with junk records faster than the township can see it (`admin devices`).
    let day = gridsync_core::time::china_day(now);
    let (records_today, changes_today) = tx.device_writes(pusher.device, day)?;
    if records_today + new_records > MAX_NEW_RECORDS_PER_DAY
        || changes_today + changes.len() as i64 > MAX_CHANGES_PER_DAY
    {
        tracing::warn!(
            device = pusher.device,
            records_today,
            changes_today,
            "device over its write budget for the day"
        );
        return Err(PushError::Budget(format!(
            "this device has written its {MAX_NEW_RECORDS_PER_DAY} new records or {MAX_CHANGES_PER_DAY} changes for \
             today: the rest waits on the phone until tomorrow"
        )));
    }
    for (id, doc, changes) in ready {
        outcome.new_changes += tx.save_record(id, &doc, changes, pusher.device, now)?;
        outcome.accepted.extend(changes.iter().map(|c| c.hash().0.to_vec()));
    }
    tx.add_device_writes(pusher.device, day, new_records, outcome.new_changes as i64)?;
    Ok(outcome)
}

/// Checks a batch's size by what it carries and declares, from its bytes alone: cheap
/// enough to run before any lock is taken, so a batch over its bounds never waits for
/// (or holds up) the honest phones' writes.
pub fn check_batch(changes: &[RemoteChange]) -> Result<(), Breach> {
    let bytes: usize = changes.iter().map(|c| c.bytes.len()).sum();
    if changes.len() > MAX_BATCH_CHANGES || bytes > MAX_BATCH_BYTES {
        return Err(Breach::new(
            RejectCode::TooLarge,
            format!("a batch carries at most {MAX_BATCH_CHANGES} changes and {MAX_BATCH_BYTES} bytes of changes"),
        ));
    }
    let ops: u64 = changes.iter().map(|c| rules::declared_ops(&c.bytes)).sum();
    if ops > rules::MAX_BATCH_OPS {
        return Err(Breach::new(
            RejectCode::TooLarge,
            format!("the changes of a batch hold at most {} ops together", rules::MAX_BATCH_OPS),
        ));
    }
    // Each change's own header, too (it is checked again where the changes are parsed).
    changes.iter().try_for_each(|change| rules::check_change_bytes(&change.bytes))
}

fn refuse(outcome: &mut PushOutcome, id: &str, changes: &[Change], breach: Breach) {
    // A refused id may be anything a phone sent (control characters, 100,000
    // characters): only a well-formed one reaches the log.
    let shown = if uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id) { id } else { "-" };
    tracing::info!(record = shown, code = ?breach.code, reason = %breach.reason, "change refused");
    outcome.rejected.extend(changes.iter().map(|c| Rejected {
        record_id: id.to_owned(),
        hash: c.hash().0.to_vec(),
        code: breach.code,
        reason: breach.reason.clone(),
    }));
}

impl Pusher<'_> {
    /// How the record rules judge this device's push (`rules::admit`).
    fn admission(&self) -> Admission<'_> {
        Admission {
            profile: Profile::DevicePush,
            author: Some(Author { actor: self.actor, worker: self.worker, duties: &self.duties }),
        }
    }
}

/// The center's own stages of the admission pipeline: the area the changes leave a
/// record in must be within `scope` and the township's register; a derived person id
/// must hold its ID number. Used for a device's push and a staff change alike.
pub(crate) struct AtCenter<'a> {
    pub tx: &'a mut dyn Tx,
    pub scope: &'a dyn Fn(&str) -> bool,
    pub township_key: &'a TownshipKey,
}

impl CenterChecks for AtCenter<'_> {
    type Error = StorageError;

    fn check_area(&mut self, doc: &RecordDoc) -> Result<Result<(), Breach>, StorageError> {
        let area = doc.area_code().unwrap_or_default();
        if !(self.scope)(&area) {
            return Ok(Err(Breach::new(RejectCode::OutOfScope, "area_code would be outside this device's scope")));
        }
        if !area_registered(self.tx, &area)? {
            return Ok(Err(Breach::new(
                RejectCode::Invalid,
                "invalid area_code: must be an area of the township's register",
            )));
        }
        Ok(Ok(()))
    }

    fn check_identity(&mut self, id: &str, doc: &RecordDoc) -> Result<Result<(), Breach>, StorageError> {
        Ok(if doc.kind() == Kind::Person { check_person_id(id, doc, self.township_key) } else { Ok(()) })
    }
}

/// Checks one record's pushed changes by what they say themselves: the record id's form,
/// then the admission pipeline's first stages (actor, worker, rules op by op, role).
fn check_alone(id: &str, kind: Kind, changes: &[Change], pusher: &Pusher<'_>) -> Result<(), Breach> {
    check_record_id(id, kind)?;
    pusher.admission().alone(kind, changes)
}

/// Applies one record's pushed changes to its document and checks the result. Returns
/// the document (nothing is written yet) and whether the record is new, or `None` when the record exists outside the
/// device's scope and the changes would pass as a new record's (what its stored
/// document holds is never looked at). The outer error is the storage failing.
fn check_applied(
    tx: &mut dyn Tx,
    id: &str,
    kind: Kind,
    changes: &[Change],
    pusher: &Pusher<'_>,
) -> Result<Result<Option<(RecordDoc, bool)>, Breach>, StorageError> {
    let in_scope = |area: Option<&str>| -> bool {
        area.and_then(|a| AreaCode::parse("area_code", a).ok()).is_some_and(|a| pusher.scope.contains(&a))
    };
    let unreadable = |e: gridsync_core::Error| Breach::new(RejectCode::Invalid, format!("could not be checked: {e}"));
    let stored = tx.record(id)?;
    // A record outside the scope: changes built on its history (a phone that had it
    // before a transfer) learn that it lies elsewhere; any others are judged as a new
    // record's would be, and learn it only if they would pass as one. Otherwise a
    // lone invalid person answered `out_of_scope` exactly when its ID number was
    // registered somewhere in the township (an oracle for anyone with the township key).
    let elsewhere = stored.as_ref().is_some_and(|record| !in_scope(Some(&record.area_code)));
    if let Some(record) = stored.as_ref().filter(|_| elsewhere)
        && builds_on_history(record, changes)
    {
        return Ok(Ok(None));
    }
    let (mut doc, history) = match &stored {
        Some(record) if !elsewhere && record.kind != kind => {
            return Ok(Err(Breach::new(RejectCode::WrongKind, "the record id names a record of another kind")));
        }
        Some(record) if !elsewhere => match load(record) {
            Ok(doc) => (doc, record.history_bytes),
            Err(e) => return Ok(Err(unreadable(e))),
        },
        _ => match RecordDoc::new(kind, &reading_actor()) {
            Ok(doc) => (doc, 0),
            Err(e) => return Ok(Err(unreadable(e))),
        },
    };
    let added: u64 = changes.iter().map(|c| c.raw_bytes().len() as u64).sum();
    if history + added > rules::MAX_RECORD_HISTORY_BYTES {
        return Ok(Err(Breach::new(
            RejectCode::TooLarge,
            format!("a record's history holds at most {} bytes", rules::MAX_RECORD_HISTORY_BYTES),
        )));
    }
    // Bounded before they are applied: the ops, not the bytes, are what a load costs.
    let added_ops: u64 = changes.iter().map(|c| c.len() as u64).sum();
    if doc.ops() + added_ops > rules::MAX_RECORD_OPS {
        return Ok(Err(Breach::new(
            RejectCode::TooLarge,
            format!("a record holds at most {} ops", rules::MAX_RECORD_OPS),
        )));
    }
    if let Err(e) = doc.apply_changes(changes.to_vec()) {
        return Ok(Err(Breach::new(RejectCode::Malformed, e.to_string())));
    }
    let in_scope = |area: &str| in_scope(Some(area));
    let mut center = AtCenter { tx, scope: &in_scope, township_key: pusher.township_key };
    let valid = pusher.admission().applied(id, &doc, changes, Some(&mut center))?;
    let new = stored.is_none();
    Ok(valid.map(|()| (!elsewhere).then_some((doc, new))))
}

/// Whether `changes` build on `record`'s own history beyond its genesis: every
/// dependency is one of theirs or a change the record holds, and one at least is a
/// change the record holds that is not its genesis. Only a writer who has seen the
/// record can write such changes.
fn builds_on_history(record: &StoredRecord, changes: &[Change]) -> bool {
    let Ok(doc) = load(record) else { return false };
    let genesis = RecordDoc::new(record.kind, &reading_actor()).map(|g| g.heads()).unwrap_or_default();
    let theirs: std::collections::HashSet<_> = changes.iter().map(Change::hash).collect();
    let deps = || changes.iter().flat_map(|c| c.deps()).filter(|dep| !theirs.contains(dep));
    deps().all(|dep| doc.automerge().get_change_meta_by_hash(dep).is_some()) && deps().any(|dep| !genesis.contains(dep))
}

/// Whether `code` is an area of the township's register (`admin import-areas`), as far
/// down as the register goes: a code is accepted when it is registered, or when its
/// nearest registered ancestor (village, grid) has nothing registered below it. Any
/// code is accepted while the register is empty.
pub(crate) fn area_registered(tx: &mut dyn Tx, code: &str) -> Result<bool, StorageError> {
    if code.is_empty() {
        return Ok(false);
    }
    if tx.areas_empty()? {
        return Ok(true);
    }
    let mut nearest = "";
    for len in [12, 15, 17].into_iter().filter(|len| *len <= code.len()) {
        if tx.area_name(&code[..len])?.is_some() {
            nearest = &code[..len];
        }
    }
    if nearest == code {
        return Ok(true);
    }
    Ok(!nearest.is_empty() && !tx.area_has_below(nearest)?)
}

/// Record ids are UUIDs in their canonical form: a UUIDv7, or for a person a UUIDv8
/// derived from the ID number (docs/protocol.md, "Record ids").
fn check_record_id(id: &str, kind: Kind) -> Result<(), Breach> {
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
fn check_person_id(id: &str, doc: &RecordDoc, key: &TownshipKey) -> Result<(), Breach> {
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

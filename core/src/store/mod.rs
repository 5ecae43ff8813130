//! The store: records as automerge documents in an encrypted SQLite database, with
//! typed projections and an append-only change log, all moved in one transaction per
//! write.
//!
//! One [`Store`] owns the one writer connection. It is `Send` but not `Sync`: share it
//! behind a mutex. Memory stays bounded whatever the number of records: a write loads
//! one document, lists and searches read projections, and rebuilds walk records one at
//! a time.

mod apply;
mod blobs;
mod digest;
mod open;
mod projection;
mod query;
pub mod received;
mod records;
mod search;
mod sync_state;

use std::path::Path;

use automerge::ActorId;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use crate::sync::wire::RemoteChange;
pub use apply::{ApplyOutcome, group_by_record};
pub use blobs::{AttachmentState, PendingBlob, PhotoLimits, blob_hash};
pub use digest::{DIGEST_BUCKETS, ScopeDigest, bucket_of};
pub use open::{DbKey, SCHEMA_VERSION, open_sqlite};
pub use query::{ConflictedRow, HouseholdRow, IncidentFilter, IncidentRow, Page, Paged, PersonRow, VisitRow};
pub use records::Origin;
pub use sync_state::{ChangeAudit, PushTally, QuarantinedChange, SyncError, SyncIdentity, SyncStatus};

use crate::area::Scope;
use crate::doc::{Author, Conflict, HistoryEntry, RecordDoc};
use crate::error::{Error, Result, Rule, ValidationError};
use crate::ids::{TownshipKey, new_record_id};
use crate::model::{Finding, FollowUp, Incident, Kind, Millis, Record};
use crate::roles::Duties;

/// Records being written together by [`Store::batch`], in its one transaction.
pub struct Batch<'a> {
    tx: &'a Transaction<'a>,
    actor: &'a ActorId,
    author: Author<'a>,
    scope: Option<&'a Scope>,
    township_key: Option<&'a TownshipKey>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// Registers a new record as [`Store::create`] does, as part of the batch.
    pub fn create<T: Record>(&mut self, mut record: T) -> Result<String> {
        record.normalize();
        let new_id = new_record_id();
        record.assign_on_create(&new_id, self.author.at);
        record.validate()?;
        check_scope(self.scope, &record)?;
        let id = match record.identity_document() {
            Some((id_type, number)) => self
                .township_key
                .ok_or(Error::NotConfigured("township key (enrol the device first)"))?
                .person_id(id_type, number),
            None => new_id,
        };
        if records::record_kind(self.tx, &id)?.is_some() {
            return Err(Error::AlreadyExists { kind: T::KIND.as_str(), id });
        }
        let mut doc = RecordDoc::new(T::KIND, self.actor)?;
        let before = doc.heads();
        doc.write(&record, &self.author)?;
        save_local(self.tx, &id, &doc, &before, self.author.at)?;
        Ok(id)
    }
}

/// A record as read from its document.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    pub id: String,
    pub record: T,
    /// Deleted records keep their data and can be restored.
    pub deleted: bool,
    /// The document's heads (hex change hashes, sorted).
    pub heads: Vec<String>,
}

/// A record's kind, tombstone and heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub kind: Kind,
    pub deleted: bool,
    /// Hex change hashes, sorted.
    pub heads: Vec<String>,
}

pub use crate::time::{Clock, system_clock};

/// The gridsync store on a phone (and, with the same tables, at the center).
pub struct Store {
    conn: Connection,
    actor: ActorId,
    worker: String,
    scope: Option<Scope>,
    township_key: Option<TownshipKey>,
    /// The worker's role and township policy, from enrolment (none on a replica that
    /// was never enrolled).
    duties: Option<Duties>,
    clock: Clock,
    photo_limits: PhotoLimits,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("actor", &self.actor.to_hex_string()).finish_non_exhaustive()
    }
}

pub(crate) const META_ACTOR: &str = "actor";
const META_WORKER: &str = "worker";
pub(crate) const META_SCOPE: &str = "scope";

const META_TOWNSHIP_KEY: &str = "township_key";
const META_DUTIES: &str = "duties";

impl Store {
    /// Opens or creates the store at `path`. A wrong key fails with
    /// [`Error::WrongKey`] and leaves the file untouched.
    pub fn open(path: impl AsRef<Path>, key: DbKey<'_>) -> Result<Self> {
        let (conn, rebuild) = open::open_connection(path.as_ref(), key)?;
        let actor = match meta_get(&conn, META_ACTOR)? {
            Some(bytes) => ActorId::from(bytes),
            None => {
                // A device's actor is random and never reused: automerge requires one
                // actor never to make two different changes with the same sequence.
                let actor = ActorId::from(uuid::Uuid::new_v4().as_bytes());
                meta_set(&conn, META_ACTOR, actor.to_bytes())?;
                actor
            }
        };
        let mut store = Self {
            conn,
            actor,
            worker: String::new(),
            scope: None,
            township_key: None,
            duties: None,
            clock: system_clock,
            photo_limits: PhotoLimits::default(),
        };
        store.reload_settings()?;
        if rebuild {
            store.rebuild_projections()?;
        }
        Ok(store)
    }

    /// Re-reads the worker, scope and township key from the database, after another
    /// connection (a sync running on its own) may have changed them.
    pub fn reload_settings(&mut self) -> Result<()> {
        self.worker = meta_get(&self.conn, META_WORKER)?.and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
        self.scope = meta_get(&self.conn, META_SCOPE)?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(|_| Error::Document("stored scope is unreadable".into()))?;
        self.township_key = meta_get(&self.conn, META_TOWNSHIP_KEY)?.map(|k| TownshipKey::new(&k));
        // Unreadable duties (written by a newer version) leave the center to judge.
        self.duties = meta_get(&self.conn, META_DUTIES)?.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Ok(())
    }

    /// Replaces the wall clock (simulations and tests).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// This device's automerge actor, hex.
    pub fn device_actor(&self) -> String {
        self.actor.to_hex_string()
    }

    /// The worker signed in on this device ("" before enrolment).
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The worker whose edits this device records from now on.
    pub fn set_worker(&mut self, worker: &str) -> Result<()> {
        meta_set(&self.conn, META_WORKER, worker.as_bytes())?;
        self.worker = worker.to_owned();
        Ok(())
    }

    /// The worker's role and township policy: the steps this device offers and takes.
    pub fn duties(&self) -> Option<Duties> {
        self.duties
    }

    /// Records the worker's duties (from enrolment).
    pub fn set_duties(&mut self, duties: Duties) -> Result<()> {
        let bytes = serde_json::to_vec(&duties).map_err(|e| Error::Document(e.to_string()))?;
        meta_set(&self.conn, META_DUTIES, &bytes)?;
        self.duties = Some(duties);
        Ok(())
    }

    /// The area prefixes this device may create and change records in. Without a scope
    /// (before enrolment) every area is allowed.
    pub fn set_scope(&mut self, scope: Scope) -> Result<()> {
        let bytes = serde_json::to_vec(&scope).map_err(|e| Error::Document(e.to_string()))?;
        meta_set(&self.conn, META_SCOPE, &bytes)?;
        self.scope = Some(scope);
        Ok(())
    }

    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// The township's secret for person ids, from enrolment.
    pub fn set_township_key(&mut self, secret: &[u8]) -> Result<()> {
        if secret.len() < 16 {
            return Err(ValidationError::new("township_key", Rule::KeyBytes { bytes: 16 }).into());
        }
        meta_set(&self.conn, META_TOWNSHIP_KEY, secret)?;
        self.township_key = Some(TownshipKey::new(secret));
        Ok(())
    }

    fn check_scope<T: Record>(&self, record: &T) -> Result<()> {
        check_scope(self.scope.as_ref(), record)
    }

    /// Registers a new record and returns its id. A person with an identity document
    /// gets the id derived from it; registering the same document again is
    /// [`Error::AlreadyExists`].
    pub fn create<T: Record>(&mut self, record: T) -> Result<String> {
        self.batch(|batch| batch.create(record))
    }

    /// Writes records together, in one transaction: every record `write` creates is
    /// stored, or none is (an import from a spreadsheet, a household with its members).
    /// One commit instead of one per record; each record is checked as by
    /// [`Store::create`], and the first that fails fails the whole batch.
    pub fn batch<R>(&mut self, write: impl FnOnce(&mut Batch<'_>) -> Result<R>) -> Result<R> {
        let now = (self.clock)();
        let Store { conn, actor, worker, scope, township_key, .. } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut batch = Batch {
            tx: &tx,
            actor,
            author: Author { worker, at: now },
            scope: scope.as_ref(),
            township_key: township_key.as_ref(),
        };
        let result = write(&mut batch)?;
        fail::fail_point!("store.write.before_commit");
        tx.commit()?;
        fail::fail_point!("store.write.after_commit");
        Ok(result)
    }

    /// Writes an edit a user made on a screen that read record `id` at `read_at` (the
    /// [`Stored::heads`] it showed): `edited` is that record with the user's changes,
    /// and only the fields where it differs from the record as read are written. A
    /// field someone else changed since `read_at` is not written back; one the user
    /// changed too becomes a visible conflict, never a silent overwrite (see
    /// `docs/merge.md`, "Edits"). Timelines are not touched (append to them instead).
    pub fn edit<T: Record>(&mut self, id: &str, read_at: &[String], edited: T) -> Result<()> {
        self.edit_with::<T>(id, read_at, |_| Ok(edited))
    }

    /// Like [`Store::edit`], with the changes made by `change` on the record as it
    /// was read at `read_at`: a caller that names the fields it changes leaves every
    /// other field exactly as it was.
    pub fn edit_with<T: Record>(
        &mut self,
        id: &str,
        read_at: &[String],
        change: impl FnOnce(T) -> Result<T>,
    ) -> Result<()> {
        let read_at = parse_heads(read_at)?;
        let scope = self.scope.clone();
        self.change_doc(id, T::KIND, |doc, author| {
            let as_read = doc.as_of(&read_at)?;
            let as_read = as_read.as_ref().unwrap_or(doc);
            let before = as_read.read::<T>()?;
            let mut edited = change(before.clone())?;
            edited.normalize();
            edited.validate()?;
            check_scope(scope.as_ref(), &edited)?;
            check_identity_fixed(&before, &edited)?;
            // What the user changed, measured from what the screen showed; only that is
            // written, on a base that has not seen what others did since.
            let changed = as_read.changed_fields(&edited)?;
            if changed.is_empty() {
                return Ok(false);
            }
            let mut base = doc.edit_base(&read_at)?;
            let target = base.as_mut().unwrap_or(&mut *doc);
            if !target.write_fields(&edited, Some(&changed), author)? {
                return Ok(false);
            }
            if let Some(base) = &base {
                doc.absorb(base)?;
            }
            Ok(true)
        })
    }

    /// Replaces every field of record `id` with `record`'s, relative to the document
    /// as it stands now: a field `record` leaves empty is cleared, and a value that
    /// arrived by sync since the caller read the record is overwritten. Only for a
    /// caller that means to replace the whole record; an edit on a screen is
    /// [`Store::edit`].
    pub fn replace<T: Record>(&mut self, id: &str, mut record: T) -> Result<()> {
        record.normalize();
        record.validate()?;
        self.check_scope(&record)?;
        self.change_doc(id, T::KIND, |doc, author| {
            check_identity_fixed(&doc.read::<T>()?, &record)?;
            doc.write(&record, author)
        })
    }

    pub fn get<T: Record>(&self, id: &str) -> Result<Stored<T>> {
        let doc = records::load_doc(&self.conn, &self.actor, id, Some(T::KIND))?;
        Ok(Stored {
            id: id.to_owned(),
            record: doc.read()?,
            deleted: doc.is_deleted()?,
            heads: doc.heads().iter().map(ToString::to_string).collect(),
        })
    }

    /// Record `id` as it was when a screen read it at `read_at`: what an
    /// [`Store::edit`] from that screen is measured against.
    pub fn get_at<T: Record>(&self, id: &str, read_at: &[String]) -> Result<T> {
        let doc = records::load_doc(&self.conn, &self.actor, id, Some(T::KIND))?;
        match doc.as_of(&parse_heads(read_at)?)? {
            Some(as_read) => as_read.read(),
            None => doc.read(),
        }
    }

    /// Record `id`'s kind, tombstone and heads, whatever its kind.
    pub fn record_meta(&self, id: &str) -> Result<RecordMeta> {
        let doc = records::load_doc(&self.conn, &self.actor, id, None)?;
        Ok(RecordMeta {
            kind: doc.kind(),
            deleted: doc.is_deleted()?,
            heads: doc.heads().iter().map(ToString::to_string).collect(),
        })
    }

    /// Record `id`'s automerge document, saved whole (automerge's binary format, every
    /// change of its history): what another automerge implementation loads as it is.
    pub fn export_document(&self, id: &str) -> Result<Vec<u8>> {
        Ok(records::load_doc(&self.conn, &self.actor, id, None)?.save())
    }

    /// Changes to record `id` made by another automerge implementation (a township's own
    /// tool, given the bytes of [`Store::export_document`]), checked by the same record
    /// rules and validation as every change from elsewhere and merged. Returns what was
    /// applied and refused; refused changes store nothing.
    pub fn import_changes(&mut self, id: &str, changes: &[Vec<u8>]) -> Result<ApplyOutcome> {
        let kind =
            records::record_kind(&self.conn, id)?.ok_or_else(|| Error::NotFound { kind: "record", id: id.into() })?;
        let changes: Vec<RemoteChange> =
            changes.iter().map(|bytes| RemoteChange { record_id: id.to_owned(), kind, bytes: bytes.clone() }).collect();
        self.apply_remote(&changes)
    }

    /// Marks record `id` deleted (a tombstone; the data stays and can be restored).
    pub fn delete(&mut self, id: &str) -> Result<()> {
        self.set_deleted(id, true)
    }

    pub fn restore(&mut self, id: &str) -> Result<()> {
        self.set_deleted(id, false)
    }

    fn set_deleted(&mut self, id: &str, deleted: bool) -> Result<()> {
        let kind = self.kind_of(id)?;
        self.change_doc(id, kind, |doc, author| doc.set_deleted(deleted, author))
    }

    fn kind_of(&self, id: &str) -> Result<Kind> {
        records::record_kind(&self.conn, id)?.ok_or_else(|| Error::NotFound { kind: "record", id: id.to_owned() })
    }

    /// Appends a follow-up to incident `id`'s timeline and returns the entry's id. A
    /// step that is not legal from the incident's current status is
    /// [`Error::IllegalStep`].
    pub fn append_follow_up(&mut self, id: &str, mut entry: FollowUp) -> Result<String> {
        if entry.id.is_empty() {
            entry.id = new_record_id();
        }
        if let Some(duties) = self.duties {
            // An enrolled phone takes only its worker's steps, in its worker's name.
            if !duties.may_take(entry.step) {
                return Err(Error::StepNotYours { step: entry.step, role: duties.role });
            }
            entry.by = self.worker.clone();
        }
        entry.validate()?;
        let entry_id = entry.id.clone();
        self.change_doc(id, Kind::Incident, |doc, author| {
            let status = doc.read::<Incident>()?.status();
            if status.after(entry.step).is_none() {
                return Err(Error::IllegalStep { step: entry.step, status });
            }
            doc.append("timeline", &entry, author)?;
            Ok(true)
        })?;
        Ok(entry_id)
    }

    /// Appends a finding to visit `id`.
    pub fn append_finding(&mut self, id: &str, finding: Finding) -> Result<()> {
        finding.validate()?;
        self.change_doc(id, Kind::Visit, |doc, author| {
            doc.append("findings", &finding, author)?;
            Ok(true)
        })
    }

    /// Loads record `id` (of `kind`), runs `op` on its document, and stores the result
    /// in one transaction. Refuses when the record's current area is out of scope.
    fn change_doc(
        &mut self,
        id: &str,
        kind: Kind,
        op: impl FnOnce(&mut RecordDoc, &Author<'_>) -> Result<bool>,
    ) -> Result<()> {
        self.change_doc_in(id, kind, |_, doc, author| op(doc, author))
    }

    /// [`Store::change_doc`], with `op` writing other rows in the same transaction.
    fn change_doc_in(
        &mut self,
        id: &str,
        kind: Kind,
        op: impl FnOnce(&Transaction<'_>, &mut RecordDoc, &Author<'_>) -> Result<bool>,
    ) -> Result<()> {
        let scope = self.scope.clone();
        self.write(|tx, actor, author, now| {
            let mut doc = records::load_doc(tx, actor, id, Some(kind))?;
            if let Some(scope) = &scope {
                let area = doc.area_code().unwrap_or_default();
                if !scope.covers(&area) {
                    return Err(Error::OutOfScope { field: "area_code", area });
                }
            }
            let before = doc.heads();
            if op(tx, &mut doc, author)? {
                save_local(tx, id, &doc, &before, now)?;
            }
            Ok(())
        })
    }

    /// Runs `f` in one IMMEDIATE transaction, committed only if `f` succeeds.
    fn write<R>(&mut self, f: impl FnOnce(&Transaction<'_>, &ActorId, &Author<'_>, Millis) -> Result<R>) -> Result<R> {
        let now = (self.clock)();
        let author = Author { worker: &self.worker, at: now };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let result = f(&tx, &self.actor, &author, now)?;
        fail::fail_point!("store.write.before_commit");
        tx.commit()?;
        fail::fail_point!("store.write.after_commit");
        Ok(result)
    }

    /// Every record under `area_prefix` with its heads (sorted 32-byte hashes,
    /// concatenated), in id order.
    pub fn heads_in_area(&self, area_prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let (low, high) = crate::area::prefix_range(area_prefix);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, heads FROM records WHERE area_code >= ?1 AND area_code < ?2 ORDER BY id")?;
        let rows = stmt.query_map([low, high], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Who changed which field when, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        Ok(records::load_doc(&self.conn, &self.actor, id, None)?.history((self.clock)()))
    }

    pub fn list_households(&self, area_prefix: &str, page: &Page) -> Result<Paged<HouseholdRow>> {
        query::list_in_area(&self.conn, area_prefix, None, page)
    }

    pub fn list_persons(&self, area_prefix: &str, page: &Page) -> Result<Paged<PersonRow>> {
        query::list_in_area(&self.conn, area_prefix, None, page)
    }

    pub fn list_visits(&self, area_prefix: &str, page: &Page) -> Result<Paged<VisitRow>> {
        query::list_in_area(&self.conn, area_prefix, None, page)
    }

    /// Incidents under `area_prefix` that pass `filter`.
    pub fn list_incidents(&self, area_prefix: &str, filter: IncidentFilter, page: &Page) -> Result<Paged<IncidentRow>> {
        query::list_in_area(&self.conn, area_prefix, filter.condition(), page)
    }

    /// The area code record `id` lies in, if the store holds it.
    pub fn area_of(&self, id: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT area_code FROM records WHERE id = ?1", [id], |r| r.get(0)).optional()?)
    }

    /// How many live records of `kind` lie under `area_prefix`, per area code cut to its
    /// first `digits` (15 for grids), in code order.
    pub fn count_by_area(&self, kind: Kind, area_prefix: &str, digits: u32) -> Result<Vec<(String, u64)>> {
        // The index on (kind, area_code) serves the prefix as a range, as every scope query.
        let (area, area_params) = digest::area_condition("area_code", &[area_prefix.to_owned()]);
        let sql = format!(
            "SELECT substr(area_code, 1, ?), count(*) FROM records
             WHERE kind = ? AND deleted = 0 AND {area} GROUP BY 1 ORDER BY 1"
        );
        let mut params: Vec<rusqlite::types::Value> = vec![i64::from(digits).into(), kind.as_str().to_owned().into()];
        params.extend(area_params);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records under `area_prefix` whose fields hold conflicting concurrent values.
    pub fn list_conflicted(&self, area_prefix: &str, page: &Page) -> Result<Paged<ConflictedRow>> {
        query::list_in_area(&self.conn, area_prefix, Some(("conflicts > ?6", 0.into())), page)
    }

    /// The fields of record `id` whose concurrent values differ.
    pub fn conflicts(&self, id: &str) -> Result<Vec<Conflict>> {
        let mut conflicts = records::load_doc(&self.conn, &self.actor, id, None)?.conflicts()?;
        let now = (self.clock)();
        for value in conflicts.iter_mut().flat_map(|c| c.values.iter_mut()) {
            value.time_doubtful = crate::doc::time_is_doubtful(value.at, now);
        }
        Ok(conflicts)
    }

    /// Settles the conflict on `field` of record `id` by writing `value` (JSON, as the
    /// conflict listed it) over every concurrent value. The result must still pass the
    /// record's validation.
    pub fn resolve(&mut self, id: &str, field: &str, value: &serde_json::Value) -> Result<()> {
        let kind = self.kind_of(id)?;
        self.change_doc(id, kind, |doc, author| {
            let changed = doc.resolve(field, value, author)?;
            doc.validate()?;
            Ok(changed)
        })
    }

    /// The live persons whose household is `household_id`.
    pub fn household_members(&self, household_id: &str) -> Result<Vec<PersonRow>> {
        query::rows_where(&self.conn, "household_id", &household_id, 500)
    }

    /// Visits paid to household or person `target_id`.
    pub fn visits_of(&self, target_id: &str) -> Result<Vec<VisitRow>> {
        query::rows_where(&self.conn, "target_id", &target_id, 500)
    }

    /// Finds persons under `area_prefix` by 汉字 substring, full pinyin, pinyin
    /// initials, or the tail (3+ digits) of an ID or phone number.
    pub fn search_persons(&self, query: &str, area_prefix: &str, limit: u32) -> Result<Vec<PersonRow>> {
        query::search_persons(&self.conn, query, area_prefix, limit)
    }

    /// Rebuilds every projection from the documents, one record at a time, in one
    /// transaction.
    pub fn rebuild_projections(&mut self) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        projection::clear(&tx)?;
        let mut after = String::new();
        loop {
            let batch: Vec<(String, Millis)> = tx
                .prepare_cached("SELECT id, updated_at FROM records WHERE id > ?1 ORDER BY id LIMIT 256")?
                .query_map([&after], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let Some((last, _)) = batch.last() else { break };
            after = last.clone();
            for (id, updated_at) in &batch {
                let doc = records::load_doc(&tx, &self.actor, id, None)?;
                // A record this version cannot read (a value another implementation
                // wrote) stays out of the projections, as when it arrived.
                apply::project_if_readable(&tx, id, &doc, *updated_at)?;
            }
        }
        tx.execute("DELETE FROM meta WHERE key = ?1", [open::META_PROJECTIONS_STALE])?;
        tx.commit()?;
        Ok(())
    }

    /// The raw connection, for crate-internal modules (sync, tests).
    #[cfg(test)]
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Stores a document changed locally since `before`, its log rows and projection.
fn save_local(
    tx: &Transaction<'_>,
    id: &str,
    doc: &RecordDoc,
    before: &[automerge::ChangeHash],
    now: Millis,
) -> Result<()> {
    let changes = doc.changes_since(before);
    records::persist_doc(tx, id, doc, &changes, Origin::Local, None, now)?;

    projection::project(tx, id, doc, now)
}

/// Refuses a record whose area lies outside `scope` (no scope: before enrolment).
fn check_scope<T: Record>(scope: Option<&Scope>, record: &T) -> Result<()> {
    match scope {
        Some(scope) if !scope.contains(record.area_code()) => {
            Err(Error::OutOfScope { field: "area_code", area: record.area_code().as_str().to_owned() })
        }
        _ => Ok(()),
    }
}

/// A person's identity document never changes once the person is registered: the same
/// number must always give the same record (docs/merge.md, "Correcting an ID number").
fn check_identity_fixed<T: Record>(before: &T, after: &T) -> Result<()> {
    if before.identity_document() == after.identity_document() {
        Ok(())
    } else {
        Err(ValidationError::new("id_number", Rule::IdNumberFixed).into())
    }
}

/// Heads as an app hands them back (hex change hashes).
fn parse_heads(heads: &[String]) -> Result<Vec<automerge::ChangeHash>> {
    heads
        .iter()
        .map(|head| head.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| ValidationError::new("read_at", Rule::ReadAtMalformed).into())
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |row| row.get(0)).optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2")?
        .execute(params![key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests;

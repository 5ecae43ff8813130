//! One automerge document per record, and the mapping between a document and its typed
//! record (see `docs/data-model.md`).
//!
//! The mapping is driven by each kind's [`Schema`](crate::model::Schema): a record is
//! turned into JSON by serde, and each schema field is written into the document as the
//! representation its [`FieldKind`] names. Only fields whose value differs are written,
//! so an edit makes ops for what changed and nothing else (no false conflicts). Keys the
//! schema does not name (written by a newer app version) are never touched.

mod genesis;

use std::cell::OnceCell;
use std::collections::HashMap;

use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, PatchAction, Prop, ROOT, ReadDoc, ScalarValue, Value, ValueRef,
    transaction::{CommitOptions, Transactable, Transaction},
};
use serde_json::{Map, Value as Json};

pub use genesis::{GENESIS_ACTOR, SCHEMA_VERSION, build_genesis_change, genesis_change};

use crate::error::{Error, Result, Rule, ValidationError};
use crate::model::{
    ATTACHMENT_KEY_PREFIX, Attachment, FieldKind, Kind, MAX_ATTACHMENTS, Millis, Record, holds_attachments,
};

/// The top-level key of the tombstone: `true` when the record is deleted.
const DELETED: &str = "deleted";

/// Who made a local change and when; stored in the automerge change itself (actor =
/// device, message = worker id, time = the device clock in seconds, as automerge's
/// format defines it).
#[derive(Debug, Clone)]
pub struct Author<'a> {
    pub worker: &'a str,
    /// The device clock in milliseconds; the change keeps whole seconds.
    pub at: Millis,
}

impl Author<'_> {
    fn commit_options(&self) -> CommitOptions {
        CommitOptions::default().with_message(self.worker).with_time(self.at.div_euclid(1_000))
    }
}

/// A change's time in milliseconds. automerge's format stores seconds, as gridsync does
/// now and every other implementation does; changes written by earlier gridsync builds
/// (before 2026-11-30) hold milliseconds. The two cannot be confused: a time in seconds is below
/// 10^11 until the year 5138, one in milliseconds above it from 1973 on.
pub fn change_time_millis(timestamp: i64) -> Millis {
    const MILLISECONDS_FROM: i64 = 100_000_000_000;
    if timestamp.abs() < MILLISECONDS_FROM { timestamp.saturating_mul(1_000) } else { timestamp }
}

/// Runs automerge over bytes from elsewhere. automerge 0.12 panics on some malformed
/// changes that parse (found by `fuzz/`, kept in `tests/fixtures/untrusted/`); a panic
/// here becomes a `Document` error instead of taking the app or a center request down.
fn guarded<T>(run: impl FnOnce() -> std::result::Result<T, automerge::AutomergeError>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::Document("malformed change or document: automerge could not apply it".into())),
    }
}

/// A record's automerge document.
#[derive(Debug)]
pub struct RecordDoc {
    kind: Kind,
    doc: Automerge,
    /// The schema fields as last read, until the document changes: a write or an
    /// incoming change is validated and projected from one read, not one read each
    /// (reading walks every field's ops: ~a third of projecting a record).
    fields: OnceCell<Json>,
}

impl RecordDoc {
    /// A new record of `kind`: the carried genesis change, then `actor`'s edits.
    pub fn new(kind: Kind, actor: &ActorId) -> Result<Self> {
        // Parsing and applying the genesis change costs more than copying a document
        // that has it (measured: 24 µs against a few), and every new record and every
        // record arriving from elsewhere starts here.
        thread_local! {
            static GENESIS: std::cell::RefCell<HashMap<Kind, Automerge>> = std::cell::RefCell::default();
        }
        let genesis = GENESIS.with(|cache| -> Result<Automerge> {
            if let Some(doc) = cache.borrow().get(&kind) {
                return Ok(doc.clone());
            }
            let mut doc = Automerge::new();
            doc.apply_changes([Change::from_bytes(genesis_change(kind).to_vec())?])?;
            cache.borrow_mut().insert(kind, doc.clone());
            Ok(doc)
        })?;
        Ok(Self::over(kind, genesis.with_actor(actor.clone())))
    }

    /// A stored record: a snapshot (or the genesis if there is none yet) plus the
    /// changes logged since. Changes whose dependencies are missing stay queued in the
    /// document, exactly as when they first arrived.
    pub fn load<'a>(
        kind: Kind,
        actor: &ActorId,
        snapshot: Option<&[u8]>,
        changes: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self> {
        let mut this = match snapshot {
            Some(bytes) => Self::over(kind, guarded(|| Automerge::load(bytes))?.with_actor(actor.clone())),
            None => Self::new(kind, actor)?,
        };
        let changes =
            changes.into_iter().map(|bytes| Change::from_bytes(bytes.to_vec())).collect::<Result<Vec<_>, _>>()?;
        this.apply_changes(changes)?;
        this.check_kind()?;
        Ok(this)
    }

    /// A record of `kind` over an automerge document made elsewhere in core (a fork).
    pub(crate) fn from_automerge(kind: Kind, doc: Automerge) -> Self {
        Self::over(kind, doc)
    }

    fn over(kind: Kind, doc: Automerge) -> Self {
        Self { kind, doc, fields: OnceCell::new() }
    }

    fn check_kind(&self) -> Result<()> {
        match self.doc.get(ROOT, "kind")? {
            Some((Value::Scalar(s), _)) if s.as_str() == Some(self.kind.as_str()) => Ok(()),
            _ => Err(Error::Document(format!("document is not a {}", self.kind))),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    /// How many ops the document holds: what loading it costs, in memory and time.
    pub fn ops(&self) -> u64 {
        self.doc.stats().num_ops
    }

    /// Heads, sorted, so equal documents have equal head lists.
    pub fn heads(&self) -> Vec<ChangeHash> {
        let mut heads = self.doc.get_heads();
        heads.sort();
        heads
    }

    /// The changes this document has that are not ancestors of `heads`.
    pub fn changes_since(&self, heads: &[ChangeHash]) -> Vec<Change> {
        self.doc.get_changes(heads)
    }

    /// Whether changes are waiting for dependencies that have not arrived.
    pub fn has_queued_changes(&self) -> bool {
        !self.doc.get_missing_deps(&[]).is_empty()
    }

    /// A compacted snapshot of every applied change.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// Applies changes from another replica; already-known changes are ignored and
    /// changes with missing dependencies are queued.
    /// On an error the document may be half-changed: drop it (every caller does, and
    /// rolls its transaction back).
    pub fn apply_changes(&mut self, changes: Vec<Change>) -> Result<()> {
        self.fields.take();
        guarded(|| self.doc.apply_changes(changes))
    }

    /// The record's area code as stored (not validated), if any.
    pub fn area_code(&self) -> Option<String> {
        match self.doc.get(ROOT, "area_code").ok()?? {
            (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
            _ => None,
        }
    }

    pub fn is_deleted(&self) -> Result<bool> {
        Ok(matches!(self.doc.get(ROOT, DELETED)?, Some((Value::Scalar(s), _)) if s.as_bool() == Some(true)))
    }

    /// Reads the typed record as the document's winning values show it.
    pub fn read<T: Record>(&self) -> Result<T> {
        if T::KIND != self.kind {
            return Err(Error::Document(format!("document is a {}, not a {}", self.kind, T::KIND)));
        }
        T::deserialize(self.fields()?)
            .map_err(|e| Error::Document(format!("{} does not match its schema: {e}", self.kind)))
    }

    /// The document's schema fields as JSON (unknown keys are left out).
    pub fn read_json(&self) -> Result<Json> {
        self.fields().cloned()
    }

    /// The schema fields, read once per state of the document.
    fn fields(&self) -> Result<&Json> {
        if let Some(fields) = self.fields.get() {
            return Ok(fields);
        }
        let read = self.read_fields()?;
        Ok(self.fields.get_or_init(|| read))
    }

    fn read_fields(&self) -> Result<Json> {
        // One walk over the root map: looking each field up seeks through the ops once
        // per field (measured: ~40% of projecting a person from its snapshot).
        let root: HashMap<String, (Value<'_>, Option<ObjId>)> = self
            .doc
            .map_range(ROOT, ..)
            .map(|item| {
                let object = matches!(item.value, ValueRef::Object(_)).then(|| item.id());
                (item.key.into_owned(), (item.value.into_value(), object))
            })
            .collect();
        let object = |name: &str| match root.get(name) {
            Some((_, Some(id))) => Ok(id.clone()),
            _ => Err(Error::Document(format!("{} document lacks its `{name}` object", self.kind))),
        };
        let mut fields = Map::new();
        for field in self.kind.schema().fields {
            let value = match field.kind {
                FieldKind::Scalar => root.get(field.name).map(|(v, _)| value_to_json(v)),
                FieldKind::Json => root.get(field.name).and_then(|(v, _)| json_from_str_value(v)),
                FieldKind::Text => Some(Json::String(self.doc.text(object(field.name)?)?)),
                FieldKind::Set => {
                    let keys = self.doc.keys(object(field.name)?).map(Json::String).collect();
                    Some(Json::Array(keys))
                }
                FieldKind::Entries => {
                    let entries = self
                        .doc
                        .map_range(object(field.name)?, ..)
                        .filter_map(|item| Some((item.key.to_string(), json_from_str_value(&item.value.into_value())?)))
                        .collect();
                    Some(Json::Object(entries))
                }
                FieldKind::Timeline => {
                    let items = self
                        .doc
                        .list_range(object(field.name)?, ..)
                        .filter_map(|item| crate::model::read_entry(self.kind, item.value.into_value().as_str()?))
                        .collect();
                    Some(Json::Array(items))
                }
            };
            if let Some(value) = value.filter(|v| !v.is_null()) {
                fields.insert(field.name.to_owned(), value);
            }
        }
        Ok(Json::Object(fields))
    }

    /// The photos attached to this record, one reference per photo (two phones that
    /// attached the same photo wrote the same key), in key order. References that do
    /// not read are skipped: the rules refuse them where changes enter.
    pub fn attachments(&self) -> Vec<Attachment> {
        self.doc
            .keys(ROOT)
            .filter(|key| key.starts_with(ATTACHMENT_KEY_PREFIX))
            .filter_map(|key| {
                let (value, _) = self.doc.get(ROOT, key.as_str()).ok()??;
                serde_json::from_value(json_from_str_value(&value)?).ok()
            })
            .collect()
    }

    /// Adds a photo's reference, as one change. Returns false when the record holds it
    /// already (the same photo attached twice).
    pub fn attach(&mut self, attachment: &Attachment, author: &Author<'_>) -> Result<bool> {
        if !holds_attachments(self.kind) {
            return Err(ValidationError::new("attachment", Rule::PhotoKind).into());
        }
        let key = attachment.key();
        if self.doc.get(ROOT, key.as_str())?.is_some() {
            return Ok(false);
        }
        if self.attachments().len() >= MAX_ATTACHMENTS {
            return Err(ValidationError::new("attachment", Rule::PhotoCount { max: MAX_ATTACHMENTS }).into());
        }
        let json = serde_json::to_string(attachment).map_err(|e| Error::Document(e.to_string()))?;
        self.transact(author, |tx| tx.put(ROOT, key.as_str(), json.as_str()))
    }

    /// The nested object the genesis created for `field`.
    fn object(&self, field: &str) -> Result<ObjId> {
        match self.doc.get(ROOT, field)? {
            Some((Value::Object(_), id)) => Ok(id),
            _ => Err(Error::Document(format!("{} document lacks its `{field}` object", self.kind))),
        }
    }

    /// The schema fields (timelines aside) whose values differ between `record` and
    /// this document: what a user changed on a screen that read this document.
    pub fn changed_fields<T: Record>(&self, record: &T) -> Result<Vec<&'static str>> {
        let before = self.read_json()?;
        let after = serde_json::to_value(record).map_err(|e| Error::Document(e.to_string()))?;
        let value = |json: &Json, name: &str| json.get(name).cloned().unwrap_or(Json::Null);
        Ok(T::KIND
            .schema()
            .fields
            .iter()
            .filter(|f| f.kind != FieldKind::Timeline && value(&before, f.name) != value(&after, f.name))
            .map(|f| f.name)
            .collect())
    }

    /// Writes every schema field of `record` whose value differs from the document's,
    /// as one automerge change. Timelines are skipped: they only grow through
    /// [`RecordDoc::append`]. Returns whether anything changed.
    pub fn write<T: Record>(&mut self, record: &T, author: &Author<'_>) -> Result<bool> {
        self.write_fields(record, None, author)
    }

    /// Like [`RecordDoc::write`], limited to the fields named in `only` when given.
    pub fn write_fields<T: Record>(&mut self, record: &T, only: Option<&[&str]>, author: &Author<'_>) -> Result<bool> {
        let json = serde_json::to_value(record).map_err(|e| Error::Document(e.to_string()))?;
        let Json::Object(values) = json else {
            return Err(Error::Document("a record must serialise to an object".into()));
        };
        let objects = self.objects()?;
        let fresh = self.holds_only_genesis();
        self.transact(author, |tx| {
            let written = T::KIND.schema().fields.iter().filter(|f| only.is_none_or(|names| names.contains(&f.name)));
            for field in written {
                let value = values.get(field.name).unwrap_or(&Json::Null);
                match field.kind {
                    FieldKind::Scalar => put_scalar(tx, field.name, json_to_scalar(value), fresh)?,
                    FieldKind::Json => {
                        let scalar = (!value.is_null()).then(|| ScalarValue::Str(value.to_string().into()));
                        put_scalar(tx, field.name, scalar, fresh)?
                    }
                    FieldKind::Text => {
                        let obj = &objects[field.name];
                        let text = value.as_str().unwrap_or_default();
                        if tx.text(obj)? != text {
                            tx.update_text(obj, text)?;
                        }
                    }
                    FieldKind::Set => write_set(tx, &objects[field.name], value)?,
                    FieldKind::Entries => write_entries(tx, &objects[field.name], value)?,
                    FieldKind::Timeline => {}
                }
            }
            Ok(())
        })
    }

    /// The document exactly as it was at `read_at` (the heads a screen read it at), or
    /// `None` when that is this document as it stands.
    pub fn as_of(&self, read_at: &[ChangeHash]) -> Result<Option<RecordDoc>> {
        if read_at.is_empty() {
            return Err(ValidationError::new("read_at", Rule::ReadAtEmpty).into());
        }
        if read_at.iter().any(|hash| !self.holds(hash)) {
            return Err(ValidationError::new("read_at", Rule::ReadAtUnknown).into());
        }
        let mut heads = read_at.to_vec();
        heads.sort();
        heads.dedup();
        if heads == self.heads() {
            return Ok(None);
        }
        Ok(Some(RecordDoc::over(self.kind, guarded(|| self.doc.fork_at(&heads))?)))
    }

    /// The document to write an edit from a screen that read it at `read_at` on: a fork
    /// at those heads plus this device's own latest change since (a device's changes
    /// must follow each other), or `None` when that is this document as it stands. A
    /// change written there and taken back with [`RecordDoc::absorb`] is concurrent
    /// with everything other replicas did since `read_at`, so a field that moved
    /// meanwhile and that the edit writes too becomes a visible conflict.
    pub fn edit_base(&self, read_at: &[ChangeHash]) -> Result<Option<RecordDoc>> {
        let mut base = read_at.to_vec();
        let own = self.doc.get_actor();
        let since = self.doc.get_changes(read_at);
        base.extend(since.iter().filter(|c| c.actor_id() == own).max_by_key(|c| c.seq()).map(Change::hash));
        // The fork holds every ancestor of `base`: when the current heads are among them,
        // that is the whole document.
        if self.doc.get_heads().iter().all(|head| base.contains(head)) {
            return Ok(None);
        }
        let fork = guarded(|| self.doc.fork_at(&base))?;
        Ok(Some(RecordDoc::over(self.kind, fork.with_actor(own.clone()))))
    }

    /// Takes the changes made on a fork from [`RecordDoc::as_read_at`] into this
    /// document.
    pub fn absorb(&mut self, edited: &RecordDoc) -> Result<()> {
        let new = self.doc.get_changes_added(&edited.doc);
        self.apply_changes(new)
    }

    /// Sets or clears the tombstone. Returns whether anything changed.
    pub fn set_deleted(&mut self, deleted: bool, author: &Author<'_>) -> Result<bool> {
        self.transact(author, |tx| put_scalar(tx, DELETED, Some(ScalarValue::Boolean(deleted)), false))
    }

    /// Appends `entry` to the timeline `field` as one change.
    pub fn append<E: serde::Serialize>(&mut self, field: &str, entry: &E, author: &Author<'_>) -> Result<()> {
        if self.kind.schema().field(field).map(|f| f.kind) != Some(FieldKind::Timeline) {
            return Err(Error::Document(format!("{} has no timeline `{field}`", self.kind)));
        }
        let list = self.object(field)?;
        let entry = serde_json::to_string(entry).map_err(|e| Error::Document(e.to_string()))?;
        self.transact(author, |tx| {
            let end = tx.length(&list);
            tx.insert(&list, end, entry.as_str())
        })?;
        Ok(())
    }

    /// Runs `ops` in one automerge transaction committed as `author`; a transaction
    /// that made no ops is rolled back so no empty change is recorded.
    fn transact(
        &mut self,
        author: &Author<'_>,
        ops: impl FnOnce(&mut Transaction<'_>) -> Result<(), automerge::AutomergeError>,
    ) -> Result<bool> {
        self.fields.take();
        let mut tx = self.doc.transaction();
        if let Err(err) = ops(&mut tx) {
            tx.rollback();
            return Err(err.into());
        }
        if tx.pending_ops() == 0 {
            tx.rollback();
            return Ok(false);
        }
        tx.commit_with(author.commit_options());
        Ok(true)
    }

    fn objects(&self) -> Result<HashMap<&'static str, ObjId>> {
        self.kind.schema().object_fields().map(|f| Ok((f.name, self.object(f.name)?))).collect()
    }

    /// Whether the document holds nothing but its kind's genesis (a record being made).
    fn holds_only_genesis(&self) -> bool {
        matches!(self.doc.get_heads().as_slice(), [head] if self.is_genesis(head))
    }

    /// How many fields hold concurrent values. A record made by one change on its
    /// genesis (every record just created) holds none, and is not searched for them.
    pub fn conflict_count(&self) -> Result<usize> {
        let heads = self.doc.get_heads();
        let made_in_one_change = heads.len() == 1
            && self
                .doc
                .get_change_meta_by_hash(&heads[0])
                .is_some_and(|change| matches!(change.deps.as_slice(), [genesis] if self.is_genesis(genesis)));
        if made_in_one_change { Ok(0) } else { Ok(self.conflicts()?.len()) }
    }

    fn is_genesis(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some_and(|c| c.actor.to_bytes() == GENESIS_ACTOR)
    }

    /// Whether change `hash` has been applied to this document. Asks for the change's
    /// metadata only: `get_change_by_hash` re-encodes the whole change from the op set
    /// (slower, and in debug builds automerge 0.12 panics cross-checking a change whose
    /// bytes were not canonically encoded, as a hostile one may be).
    pub fn holds(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// Every field whose concurrent values differ, with each value and who set it when.
    /// Values are listed in a canonical order, so every replica lists them alike.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        let mut conflicts = Vec::new();
        for field in self.kind.schema().fields {
            match field.kind {
                FieldKind::Scalar | FieldKind::Json => {
                    let json = field.kind == FieldKind::Json;
                    conflicts.extend(self.conflict_at(&ROOT, field.name, field.name.to_owned(), json)?);
                }
                FieldKind::Entries => {
                    let obj = self.object(field.name)?;
                    for key in self.doc.keys(&obj) {
                        conflicts.extend(self.conflict_at(&obj, &key, format!("{}.{key}", field.name), true)?);
                    }
                }
                FieldKind::Text | FieldKind::Set | FieldKind::Timeline => {}
            }
        }
        if let Some(tombstone) = self.conflict_at(&ROOT, DELETED, DELETED.to_owned(), false)? {
            conflicts.push(tombstone);
        }
        Ok(conflicts)
    }

    fn conflict_at(&self, obj: &ObjId, key: &str, field: String, json: bool) -> Result<Option<Conflict>> {
        let all = self.doc.get_all(obj, key)?;
        if all.len() < 2 {
            return Ok(None);
        }
        let mut values: Vec<ConflictValue> = all
            .iter()
            .map(|(value, op)| {
                let value = if json { json_from_str_value(value).unwrap_or(Json::Null) } else { value_to_json(value) };
                let meta = self.doc.hash_for_opid(op).and_then(|hash| self.doc.get_change_meta_by_hash(&hash));
                ConflictValue {
                    value,
                    device: meta.as_ref().map(|m| m.actor.to_hex_string()).unwrap_or_default(),
                    worker: meta.as_ref().and_then(|m| m.message.as_deref().map(str::to_owned)).unwrap_or_default(),
                    at: meta.map_or(0, |m| m.timestamp),
                    time_doubtful: false,
                }
            })
            .collect();
        values.sort_by(|a, b| (a.value.to_string(), &a.device, a.at).cmp(&(b.value.to_string(), &b.device, b.at)));
        values.dedup_by(|later, earlier| later.value == earlier.value);
        Ok((values.len() > 1).then_some(Conflict { field, values }))
    }

    /// Writes `value` over every concurrent value of `field` (`name`, or
    /// `focus_groups.<key>` for an entry), settling its conflict. `null` clears the
    /// field. Returns whether anything changed.
    pub fn resolve(&mut self, field: &str, value: &Json, author: &Author<'_>) -> Result<bool> {
        let schema = self.kind.schema();
        let (obj, key, kind) = match field.split_once('.') {
            Some((name, key)) if schema.field(name).map(|f| f.kind) == Some(FieldKind::Entries) => {
                (self.object(name)?, key.to_owned(), FieldKind::Json)
            }
            _ if field == DELETED => (ROOT, field.to_owned(), FieldKind::Scalar),
            _ => match schema.field(field) {
                Some(f) if matches!(f.kind, FieldKind::Scalar | FieldKind::Json) => (ROOT, field.to_owned(), f.kind),
                _ => return Err(ValidationError::new("field", Rule::ConflictField).into()),
            },
        };
        let scalar = match kind {
            FieldKind::Json => (!value.is_null()).then(|| ScalarValue::Str(value.to_string().into())),
            _ => json_to_scalar(value),
        };
        // put and delete supersede every value this replica can see, not just the winner.
        self.transact(author, |tx| match scalar {
            Some(scalar) => tx.put(&obj, key.as_str(), scalar),
            None if tx.get(&obj, key.as_str())?.is_some() => tx.delete(&obj, key.as_str()),
            None => Ok(()),
        })
    }

    /// Checks the document's record against its kind's validation rules.
    pub fn validate(&self) -> Result<()> {
        match self.kind {
            Kind::Household => self.read::<crate::model::Household>()?.validate()?,
            Kind::Person => self.read::<crate::model::Person>()?.validate()?,
            Kind::Visit => self.read::<crate::model::Visit>()?.validate()?,
            Kind::Incident => self.read::<crate::model::Incident>()?.validate()?,
        }
        Ok(())
    }

    /// Who changed which top-level fields, change by change, in causal order (a change
    /// always after those it builds on; concurrent ones by time, then hash). Device
    /// clocks do not decide the order: a phone's clock may be years off. The genesis
    /// change is left out. `now` is this device's clock, for [`time_is_doubtful`].
    pub fn history(&self, now: Millis) -> Vec<HistoryEntry> {
        let genesis = ActorId::from(GENESIS_ACTOR);
        // automerge lists changes with dependencies first.
        let mut depth: HashMap<ChangeHash, (usize, Millis)> = HashMap::new();
        let mut entries: Vec<(usize, HistoryEntry)> = Vec::new();
        // Metadata only: re-encoding every change from the op set would cost more, and in
        // debug builds automerge 0.12 panics on a stored change with non-canonical bytes.
        for change in self.doc.get_changes_meta(&[]) {
            let is_genesis = *change.actor == genesis;
            let (parent_depth, parent_at) = change
                .deps
                .iter()
                .filter_map(|dep| depth.get(dep))
                .fold((0, Millis::MIN), |(d, at), (dd, dat)| (d.max(*dd), at.max(*dat)));
            let at = change_time_millis(change.timestamp);
            // Earlier than a believable change it builds on, beyond the slack: this
            // device's clock was wrong.
            let doubtful = time_is_doubtful(at, now) || at.saturating_add(CLOCK_SLACK) < parent_at;
            let own_depth = parent_depth + 1;
            depth.insert(change.hash, (own_depth, if is_genesis || doubtful { Millis::MIN } else { at }));
            if is_genesis {
                continue;
            }
            let mut fields: Vec<String> = self
                .doc
                .diff(&change.deps, &[change.hash])
                .into_iter()
                .filter_map(|patch| top_level_field(&patch.path, &patch.action))
                .collect();
            fields.sort();
            fields.dedup();
            let registers = matches!(change.deps.as_slice(), [only] if self.is_genesis(only));
            let entry = HistoryEntry {
                hash: change.hash.to_string(),
                device: change.actor.to_hex_string(),
                worker: change.message.as_deref().unwrap_or_default().to_owned(),
                registers,
                at,
                time_doubtful: doubtful,
                fields,
            };
            entries.push((own_depth, entry));
        }
        entries.sort_by(|(da, a), (db, b)| (da, a.at, &a.hash).cmp(&(db, b.at, &b.hash)));
        entries.into_iter().map(|(_, entry)| entry).collect()
    }
}

/// The first moment a gridsync change can truly have been made (2024-01-01 UTC).
pub const EARLIEST_PLAUSIBLE: Millis = 1_704_067_200_000;

/// How far apart two honest clocks may be (a day: time zones, drift, a phone that was
/// off for a while).
const CLOCK_SLACK: Millis = 86_400_000;

/// Whether a device's clock reading `at` cannot be true, seen from a clock reading
/// `now`: before gridsync existed, or more than a day ahead. Merge and sync never use
/// device times (automerge orders by causality); only the display flags them.
pub fn time_is_doubtful(at: Millis, now: Millis) -> bool {
    at < EARLIEST_PLAUSIBLE || at > now.saturating_add(CLOCK_SLACK)
}

/// A field whose concurrent values differ.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Conflict {
    /// The field (`phone`), or `focus_groups.<group>` for an entry, or `deleted`.
    pub field: String,
    /// Each distinct value; automerge's winner is the one the record shows.
    pub values: Vec<ConflictValue>,
}

/// One of a conflict's values and who set it when.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConflictValue {
    pub value: Json,
    pub device: String,
    pub worker: String,
    pub at: Millis,
    /// `at` cannot be true (see [`time_is_doubtful`]); set by the store, which knows the
    /// clock.
    pub time_doubtful: bool,
}

/// One change in a record's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    pub hash: String,
    /// The automerge actor of the device that made the change.
    pub device: String,
    /// The worker signed in on that device.
    pub worker: String,
    /// The change registered the record (it builds on the genesis alone). Two phones
    /// that registered the same person offline both did.
    pub registers: bool,
    /// The device's clock when the change was made (ms).
    pub at: Millis,
    /// `at` cannot be true: the device's clock was wrong (see [`time_is_doubtful`]).
    pub time_doubtful: bool,
    /// The top-level fields the change touched (`deleted` for delete/restore).
    pub fields: Vec<String>,
}

fn top_level_field(path: &[(ObjId, Prop)], action: &PatchAction) -> Option<String> {
    match path.first() {
        Some((_, Prop::Map(key))) => Some(key.clone()),
        Some((_, Prop::Seq(_))) => None,
        None => match action {
            PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => Some(key.clone()),
            PatchAction::Conflict { prop: Prop::Map(key) } => Some(key.clone()),
            _ => None,
        },
    }
}

/// Puts `value` at the root key unless the winning value already equals it; `None`
/// deletes the key. On a document that holds only its genesis (`fresh`), no scalar is
/// there yet: nothing is looked up (a lookup costs as much as the put, and a new
/// record writes every field).
fn put_scalar(
    tx: &mut Transaction<'_>,
    key: &str,
    value: Option<ScalarValue>,
    fresh: bool,
) -> Result<(), automerge::AutomergeError> {
    if fresh {
        return match value {
            Some(value) => tx.put(ROOT, key, value),
            None => Ok(()),
        };
    }
    match (value, tx.get(ROOT, key)?) {
        (Some(value), Some((Value::Scalar(current), _))) if *current == value => Ok(()),
        (Some(value), _) => tx.put(ROOT, key, value),
        (None, Some(_)) => tx.delete(ROOT, key),
        (None, None) => Ok(()),
    }
}

fn write_set(tx: &mut Transaction<'_>, obj: &ObjId, value: &Json) -> Result<(), automerge::AutomergeError> {
    let wanted: std::collections::BTreeSet<&str> =
        value.as_array().into_iter().flatten().filter_map(Json::as_str).collect();
    let present: Vec<String> = tx.keys(obj).collect();
    for key in &present {
        if !wanted.contains(key.as_str()) {
            tx.delete(obj, key.as_str())?;
        }
    }
    for key in wanted {
        if !present.iter().any(|p| p == key) {
            tx.put(obj, key, true)?;
        }
    }
    Ok(())
}

fn write_entries(tx: &mut Transaction<'_>, obj: &ObjId, value: &Json) -> Result<(), automerge::AutomergeError> {
    let empty = Map::new();
    let wanted = value.as_object().unwrap_or(&empty);
    let present: Vec<String> = tx.keys(obj).collect();
    for key in &present {
        if !wanted.contains_key(key) {
            tx.delete(obj, key.as_str())?;
        }
    }
    for (key, entry) in wanted {
        let encoded = entry.to_string();
        let current = match tx.get(obj, key.as_str())? {
            Some((Value::Scalar(s), _)) => s.as_str().map(str::to_owned),
            _ => None,
        };
        if current.as_deref() != Some(encoded.as_str()) {
            tx.put(obj, key.as_str(), encoded)?;
        }
    }
    Ok(())
}

/// JSON (from serde) to the scalar stored in the document. Integers are `Int`, other
/// numbers `F64`; `null` means "absent".
fn json_to_scalar(value: &Json) -> Option<ScalarValue> {
    match value {
        Json::Null => None,
        Json::Bool(b) => Some(ScalarValue::Boolean(*b)),
        Json::Number(n) => Some(match n.as_i64() {
            Some(i) => ScalarValue::Int(i),
            None => ScalarValue::F64(n.as_f64().unwrap_or_default()),
        }),
        Json::String(s) => Some(ScalarValue::Str(s.as_str().into())),
        // Schemas declare structured values as `Json`, never `Scalar`.
        other => Some(ScalarValue::Str(other.to_string().into())),
    }
}

/// A document scalar as JSON; objects and value types JSON lacks read as `null`.
pub(crate) fn value_to_json(value: &Value<'_>) -> Json {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Json::String(s.to_string()),
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::from(*i),
            ScalarValue::Uint(u) => Json::from(*u),
            ScalarValue::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            ScalarValue::Boolean(b) => Json::Bool(*b),
            ScalarValue::Counter(c) => Json::from(i64::from(c)),
            ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } | ScalarValue::Null => Json::Null,
        },
        Value::Object(_) => Json::Null,
    }
}

/// A string scalar holding JSON, parsed; anything else is `None`.
fn json_from_str_value(value: &Value<'_>) -> Option<Json> {
    match value {
        Value::Scalar(s) => s.as_str().and_then(|text| serde_json::from_str(text).ok()),
        Value::Object(_) => None,
    }
}

/// Heads as stored: the sorted 32-byte hashes, concatenated.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;

    use super::*;
    use crate::area::AreaCode;
    use crate::model::Household;
    use crate::sample::Sample;

    fn author(worker: &str) -> Author<'_> {
        Author { worker, at: 1_700_000_000_000 }
    }

    fn household() -> Household {
        Sample::new(1).household(&AreaCode::parse("a", "44010601200300102").unwrap(), 1)
    }

    #[test]
    fn change_times_are_seconds_as_automerge_defines_and_old_milliseconds_still_read() {
        let mut doc = RecordDoc::new(Kind::Household, &ActorId::random()).unwrap();
        doc.write(&household(), &Author { worker: "w1", at: 1_760_000_000_999 }).unwrap();
        let change = doc.automerge().get_last_local_change().unwrap().clone();
        assert_eq!(change.timestamp(), 1_760_000_000, "seconds in the change");
        assert_eq!(doc.history(1_760_000_100_000)[0].at, 1_760_000_000_000);
        assert!(!doc.history(1_760_000_100_000)[0].time_doubtful);
        // A change written in milliseconds (gridsync before schema 7) reads the same.
        assert_eq!(change_time_millis(1_700_000_000_999), 1_700_000_000_999);
        assert_eq!(change_time_millis(0), 0);
        assert_eq!(change_time_millis(-5), -5_000);
    }

    #[test]
    fn a_read_is_never_older_than_the_document() {
        let mut doc = RecordDoc::new(Kind::Household, &ActorId::random()).unwrap();
        let mut other = RecordDoc::new(Kind::Household, &ActorId::random()).unwrap();
        doc.write(&household(), &author("w1")).unwrap();
        other.apply_changes(doc.changes_since(&[])).unwrap();
        assert_eq!(doc.read::<Household>().unwrap().address, household().address);
        // A local write after a read …
        doc.write(&Household { address: "幸福路1号".into(), ..household() }, &author("w1")).unwrap();
        assert_eq!(doc.read::<Household>().unwrap().address, "幸福路1号");
        // … a tombstone, and changes from elsewhere after a read.
        assert_eq!(other.read::<Household>().unwrap().address, household().address);
        doc.set_deleted(true, &author("w1")).unwrap();
        other.apply_changes(doc.changes_since(&other.heads())).unwrap();
        assert_eq!(other.read::<Household>().unwrap().address, "幸福路1号");
        assert_eq!(other.read_json().unwrap(), doc.read_json().unwrap());
    }

    #[test]
    fn fields_a_newer_version_wrote_are_kept_untouched() {
        let mut doc = RecordDoc::new(Kind::Household, &ActorId::random()).unwrap();
        doc.write(&household(), &author("w1")).unwrap();
        // A newer app version adds a key this build does not know.
        let mut tx = doc.doc.transaction();
        tx.put(ROOT, "future_field", "from v2").unwrap();
        tx.commit();
        let mut edited = household();
        edited.address = "新地址1号".into();
        assert!(doc.write(&edited, &author("w1")).unwrap());
        assert_eq!(doc.read::<Household>().unwrap(), edited);
        let kept = doc.doc.get(ROOT, "future_field").unwrap().map(|(v, _)| value_to_json(&v));
        assert_eq!(kept, Some(Json::String("from v2".into())));
        assert!(!doc.write(&edited, &author("w1")).unwrap(), "nothing differs: no change");
    }

    #[test]
    fn concurrent_set_members_and_text_edits_both_survive() {
        let mut a = RecordDoc::new(Kind::Household, &ActorId::random()).unwrap();
        a.write(&household(), &author("w1")).unwrap();
        let mut b = RecordDoc::load(Kind::Household, &ActorId::random(), Some(&a.save()), []).unwrap();

        let mut on_a = household();
        on_a.tags.insert("低保户".into());
        on_a.notes = "门前有井".into();
        a.write(&on_a, &author("w1")).unwrap();
        let mut on_b = household();
        on_b.tags.insert("出租屋".into());
        on_b.notes = "养狗".into();
        b.write(&on_b, &author("w2")).unwrap();

        let from_b = b.changes_since(&[]);
        a.apply_changes(from_b).unwrap();
        let merged: Household = a.read().unwrap();
        assert!(merged.tags.contains("低保户") && merged.tags.contains("出租屋"));
        assert!(merged.notes.contains("门前有井") && merged.notes.contains("养狗"), "{}", merged.notes);
    }

    #[test]
    fn the_conflict_count_shortcut_agrees_with_the_conflicts() {
        let mut a = RecordDoc::new(Kind::Household, &ActorId::random()).unwrap();
        assert!(a.holds_only_genesis());
        a.write(&household(), &author("w1")).unwrap();
        assert!(!a.holds_only_genesis());
        assert_eq!((a.conflict_count().unwrap(), a.read::<Household>().unwrap()), (0, household()));
        // A value written on each of two replicas at once: one conflict, counted the long way.
        let mut b = RecordDoc::load(Kind::Household, &ActorId::random(), Some(&a.save()), []).unwrap();
        for (doc, address) in [(&mut a, "东街1号"), (&mut b, "西街2号")] {
            doc.write(&Household { address: address.into(), ..household() }, &author("w")).unwrap();
        }
        a.apply_changes(b.changes_since(&[])).unwrap();
        assert_eq!(a.conflict_count().unwrap(), a.conflicts().unwrap().len());
        assert_eq!(a.conflict_count().unwrap(), 1);
    }

    #[test]
    fn a_document_of_another_kind_is_refused() {
        let doc = RecordDoc::new(Kind::Household, &ActorId::random()).unwrap();
        let bytes = doc.save();
        assert!(RecordDoc::load(Kind::Person, &ActorId::random(), Some(&bytes), []).is_err());
        assert!(doc.read::<crate::model::Person>().is_err());
    }
}

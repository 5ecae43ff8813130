//! The record rules, checked wherever changes enter a replica: by the center for every
//! push and by the phone for every change it pulls. One function, so both ends refuse
//! the same changes (docs/protocol.md, "Rejection codes").
//!
//! A change is judged op by op against its kind's layout, before anything is stored:
//! the root holds `kind`, `v`, the schema's scalar fields, the tombstone, photo
//! references (`attachment.<hash>`, on incidents and visits, never removed) and keys a
//! newer version may add (scalars only); the nested objects are the genesis's and no
//! others; timelines only grow, by entries of their kind with a known step; a step
//! must be legal given what the change's own history holds (concurrent steps still go
//! to review). Bytes are looked at before automerge parses them, so a compressed chunk
//! (a DEFLATE bomb) is refused without being inflated.

use std::collections::HashMap;
use std::sync::OnceLock;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Change, ChangeHash, ReadDoc, ScalarValue};

use crate::doc::{GENESIS_ACTOR, RecordDoc, genesis_change};
use crate::model::{
    ATTACHMENT_KEY_PREFIX, Attachment, FieldKind, Finding, FollowUp, Incident, Kind, MAX_ATTACHMENTS, Step,
    holds_attachments,
};
use crate::roles::Duties;
use crate::sync::wire::RejectCode;

/// The most bytes one change may have (a person with 10,000 characters of notes is
/// well under it).
pub const MAX_CHANGE_BYTES: usize = 256 << 10;
/// The most ops one change may hold.
pub const MAX_CHANGE_OPS: usize = 25_000;

/// The most keys a record's root may hold beyond its schema's (keys a newer version
/// adds).
pub const MAX_UNKNOWN_KEYS: usize = 32;
/// The most members of a set or entries map, and entries of a timeline (an incident
/// followed up daily for twenty years has about 7,000).
pub const MAX_COLLECTION_LEN: usize = 10_000;
/// The most bytes of changes one record's history may hold at the center.
pub const MAX_RECORD_HISTORY_BYTES: u64 = 4 << 20;

/// Why a change was refused: a code for programs and a reason for people (it names the
/// field and the rule, never a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub code: RejectCode,
    pub reason: String,
}

impl Breach {
    pub fn new(code: RejectCode, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into() }
    }
}

/// Checks a change's bytes before automerge parses them: an uncompressed change chunk
/// within the size limit. automerge inflates compressed chunks without a bound.
pub fn check_change_bytes(bytes: &[u8]) -> Result<(), Breach> {
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(Breach::new(RejectCode::TooLarge, format!("a change may have at most {MAX_CHANGE_BYTES} bytes")));
    }
    // magic (4 bytes), checksum (4), chunk type (1): 1 is a change, 2 a compressed one.
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    match bytes.get(..9) {
        Some(head) if head[..4] == MAGIC && head[8] == 1 => Ok(()),
        Some(head) if head[..4] == MAGIC && head[8] == 2 => {
            Err(Breach::new(RejectCode::Malformed, "compressed change chunks are not accepted"))
        }
        _ => Err(Breach::new(RejectCode::Malformed, "not an automerge change chunk")),
    }
}

/// Checks one change of a record of `kind` against the record rules, before it is
/// applied: its size, that it descends from the kind's genesis, and every op against the
/// kind's layout (see the module documentation).
pub fn check_change(kind: Kind, change: &Change) -> Result<(), Breach> {
    if change.len() > MAX_CHANGE_OPS {
        return Err(Breach::new(RejectCode::TooLarge, format!("a change may hold at most {MAX_CHANGE_OPS} ops")));
    }
    let layout = Layout::of(kind);
    if change.deps().is_empty() || change.actor_id() == &layout.genesis_actor {
        if change.hash() == layout.genesis_hash {
            return Ok(());
        }
        return Err(Breach::new(RejectCode::NotFromGenesis, format!("a {kind} must start from its genesis change")));
    }
    for op in decode(change)?.operations {
        layout.check_op(&op)?;
    }
    Ok(())
}

/// Checks the steps `change` appends to an incident, once it is applied to `doc`: each
/// must be legal after the status that the change's own history gives. Steps taken
/// concurrently elsewhere are not its history: they meet in the fold and go to review.
pub fn check_steps(doc: &RecordDoc, change: &Change) -> Result<(), Breach> {
    if doc.kind() != Kind::Incident {
        return Ok(());
    }
    let steps = follow_ups_added(change)?;
    if steps.is_empty() {
        return Ok(());
    }
    let before = doc
        .automerge()
        .fork_at(change.deps())
        .map_err(|_| Breach::new(RejectCode::MissingDependencies, "an earlier change of this record is missing"))?;
    let status = RecordDoc::from_automerge(Kind::Incident, before)
        .read::<Incident>()
        .map_err(|_| Breach::new(RejectCode::Invalid, "the incident cannot be read before this change"))?
        .status();
    steps.iter().try_fold(status, |status, entry| {
        status.after(entry.step).ok_or_else(|| {
            Breach::new(
                RejectCode::IllegalStep,
                format!(
                    "step {} is not legal after status {} in the change's own history",
                    name(entry.step),
                    status.as_str()
                ),
            )
        })
    })?;
    Ok(())
}

/// Checks that every step `change` appends to an incident is one that `duties` take, and
/// is recorded under the change's own worker (`by`): a phone cannot take the center's
/// steps, nor one step in a colleague's name.
pub fn check_duties(kind: Kind, change: &Change, duties: &Duties, worker: &str) -> Result<(), Breach> {
    if kind != Kind::Incident {
        return Ok(());
    }
    for entry in follow_ups_added(change)? {
        if !duties.may_take(entry.step) {
            return Err(Breach::new(
                RejectCode::StepNotAllowed,
                format!("step {} is not a {}'s to take", name(entry.step), duties.role.as_str()),
            ));
        }
        if entry.by != worker {
            return Err(Breach::new(RejectCode::WrongWorker, "a follow-up is recorded under its change's own worker"));
        }
    }
    Ok(())
}

/// Checks the photo references `change` writes, once it is applied to `doc`: each names
/// the change's own worker as `added_by`, and a reference written again (or written
/// concurrently elsewhere) keeps the photo it names: same blob, size, dimensions and
/// thumbnail; only the caption and the time may be corrected. So no change can make a
/// record state something else about a photo than its bytes, which the center checks.
pub fn check_photos(doc: &RecordDoc, change: &Change) -> Result<(), Breach> {
    let written: Vec<(String, Attachment)> = decode(change)?
        .operations
        .into_iter()
        .filter_map(|op| match (op.key, op.action) {
            (Key::Map(key), OpType::Put(ScalarValue::Str(text))) if key.starts_with(ATTACHMENT_KEY_PREFIX) => {
                serde_json::from_str(&text).ok().map(|a| (key.to_string(), a))
            }
            _ => None,
        })
        .collect();
    if written.is_empty() {
        return Ok(());
    }
    let worker = change.message().unwrap_or_default();
    if written.iter().any(|(_, a)| a.added_by != worker) {
        return Err(Breach::new(RejectCode::WrongWorker, "a photo is added under its change's own worker"));
    }
    let before = doc
        .automerge()
        .fork_at(change.deps())
        .map_err(|_| Breach::new(RejectCode::MissingDependencies, "an earlier change of this record is missing"))?;
    let same_photo = |a: &Attachment, b: &Attachment| {
        (&a.blob, &a.thumbnail, &a.media_type, a.width, a.height)
            == (&b.blob, &b.thumbnail, &b.media_type, b.width, b.height)
    };
    let rewritten =
        || Breach::new(RejectCode::Immutable, "a photo's reference keeps its photo: only the caption and time change");
    for (key, attachment) in &written {
        let values = |am: &automerge::Automerge| -> Vec<Attachment> {
            am.get_all(automerge::ROOT, key.as_str())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(value, _)| serde_json::from_str(value.as_str()?).ok())
                .collect()
        };
        if values(&before).iter().chain(&values(doc.automerge())).any(|held| !same_photo(held, attachment)) {
            return Err(rewritten());
        }
    }
    Ok(())
}

/// The follow-ups a change appends (entries that do not read are refused by
/// [`check_change`]).
fn follow_ups_added(change: &Change) -> Result<Vec<FollowUp>, Breach> {
    Ok(decode(change)?
        .operations
        .into_iter()
        .filter(|op| op.insert)
        .filter_map(|op| match op.action {
            OpType::Put(ScalarValue::Str(text)) => serde_json::from_str(&text).ok(),
            _ => None,
        })
        .collect())
}

/// Checks a record against its kind's validation rules (the reason names the field and
/// the rule, never a value).
pub fn check_valid(doc: &RecordDoc) -> Result<(), Breach> {
    doc.validate().map_err(|err| match err {
        crate::Error::Invalid(v) => Breach::new(RejectCode::Invalid, v.to_string()),
        other => Breach::new(RejectCode::Invalid, other.to_string()),
    })
}

/// Checks that the record, as the author of `changes` saw it once they were made (the
/// changes and their own history, nothing concurrent from elsewhere), passes its kind's
/// validation: an honest writer validates every record it writes, so only a foreign
/// or broken writer sets an invalid value. Judged on the author's view, not on this
/// replica's merge of it with concurrent edits, so a change the center accepted is
/// never refused here for a combination it could not see. `changes` are applied to
/// `doc`; one still waiting for its dependencies is judged on the apply that brings them.
pub fn check_valid_as_authored(doc: &RecordDoc, changes: &[Change]) -> Result<(), Breach> {
    let built_on: std::collections::HashSet<ChangeHash> =
        changes.iter().flat_map(|change| change.deps().iter().copied()).collect();
    let tips = changes.iter().map(Change::hash).filter(|hash| !built_on.contains(hash));
    for tip in tips {
        let view = doc
            .as_of(&[tip])
            .map_err(|_| Breach::new(RejectCode::Invalid, "the record cannot be read as the change left it"))?;
        check_valid(view.as_ref().unwrap_or(doc))?;
    }
    Ok(())
}

/// The change's ops. automerge 0.12 panics decoding some malformed changes that parse
/// (see `doc::guarded`): that is a malformed change, not a crash.
fn decode(change: &Change) -> Result<automerge::ExpandedChange, Breach> {
    std::panic::catch_unwind(|| change.decode())
        .map_err(|_| Breach::new(RejectCode::Malformed, "the change's ops cannot be decoded"))
}

/// Checks a whole document stored as it came (a snapshot of a record new to a phone),
/// which skips the change-by-change rules: nothing in it waits for a change it lacks; it
/// holds its kind's genesis; it is within the bounds; it is a valid record.
pub fn check_document(doc: &RecordDoc) -> Result<(), Breach> {
    if doc.has_queued_changes() {
        return Err(Breach::new(RejectCode::MissingDependencies, "the document holds changes whose history it lacks"));
    }
    if !doc.holds(&Layout::of(doc.kind()).genesis_hash) {
        return Err(Breach::new(RejectCode::NotFromGenesis, "the document does not start from its kind's genesis"));
    }
    check_bounds(doc)?;
    check_valid(doc)
}

/// Checks the size of a record once changes are applied: how many keys its root holds
/// and how long its sets, entries and timelines are (each change alone is bounded by
/// [`check_change`]; these bound what many changes add up to).
pub fn check_bounds(doc: &RecordDoc) -> Result<(), Breach> {
    let am = doc.automerge();
    let schema = doc.kind().schema();
    let known = |key: &str| schema.field(key).is_some() || ["kind", "v", "deleted"].contains(&key);
    let photo = |key: &str| key.starts_with(ATTACHMENT_KEY_PREFIX);
    let photos = am.keys(automerge::ROOT).filter(|k| photo(k)).count();
    if photos > MAX_ATTACHMENTS {
        return Err(Breach::new(RejectCode::TooLarge, format!("a record holds at most {MAX_ATTACHMENTS} photos")));
    }
    let unknown = am.keys(automerge::ROOT).filter(|k| !known(k) && !photo(k)).count();
    if unknown > MAX_UNKNOWN_KEYS {
        return Err(Breach::new(
            RejectCode::TooLarge,
            format!("a record holds at most {MAX_UNKNOWN_KEYS} unknown keys"),
        ));
    }
    for field in schema.object_fields().filter(|f| f.kind != FieldKind::Text) {
        let Ok(Some((_, obj))) = am.get(automerge::ROOT, field.name) else { continue };
        if am.length(&obj) > MAX_COLLECTION_LEN {
            return Err(Breach::new(
                RejectCode::TooLarge,
                format!("`{}` holds at most {MAX_COLLECTION_LEN} entries", field.name),
            ));
        }
    }
    Ok(())
}

fn name(step: Step) -> String {
    serde_json::to_value(step).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Where each genesis object sits, and what may be written where, for one kind.
struct Layout {
    kind: Kind,
    genesis_actor: ActorId,
    genesis_hash: ChangeHash,
    /// Genesis op id counter → the field whose nested object it made.
    objects: HashMap<u64, &'static crate::model::Field>,
}

impl Layout {
    /// The layout of `kind`, worked out once from its carried genesis.
    fn of(kind: Kind) -> &'static Layout {
        static LAYOUTS: OnceLock<Vec<Layout>> = OnceLock::new();
        let layouts = LAYOUTS.get_or_init(|| Kind::ALL.into_iter().map(Layout::build).collect());
        &layouts[Kind::ALL.iter().position(|k| *k == kind).unwrap_or_default()]
    }

    fn build(kind: Kind) -> Self {
        #[allow(clippy::expect_used)] // the carried bytes are tested to be the genesis
        let genesis = Change::from_bytes(genesis_change(kind).to_vec()).expect("the carried genesis parses");
        let start = genesis.start_op().get();
        let mut objects = HashMap::new();
        for (index, op) in genesis.decode().operations.iter().enumerate() {
            if let (OpType::Make(_), Key::Map(name)) = (&op.action, &op.key)
                && let Some(field) = kind.schema().field(name)
            {
                objects.insert(start + index as u64, field);
            }
        }
        Self { kind, genesis_actor: ActorId::from(GENESIS_ACTOR), genesis_hash: genesis.hash(), objects }
    }

    fn check_op(&self, op: &automerge::legacy::Op) -> Result<(), Breach> {
        match &op.obj {
            ObjectId::Root => self.check_root_op(op),
            ObjectId::Id(OpId(counter, actor)) if actor == &self.genesis_actor => match self.objects.get(counter) {
                Some(field) => self.check_object_op(field, op),
                None => Err(self.foreign_object()),
            },
            ObjectId::Id(_) => Err(self.foreign_object()),
        }
    }

    fn foreign_object(&self) -> Breach {
        Breach::new(RejectCode::BadShape, format!("a {} holds only the nested objects of its genesis", self.kind))
    }

    fn check_root_op(&self, op: &automerge::legacy::Op) -> Result<(), Breach> {
        let Key::Map(key) = &op.key else { return Err(self.foreign_object()) };
        if key == "kind" || key == "v" {
            return Err(Breach::new(RejectCode::Immutable, format!("`{key}` never changes")));
        }
        if key.starts_with(ATTACHMENT_KEY_PREFIX) {
            return self.check_attachment_op(key, op);
        }
        let scalar_only = |what: &str| {
            Breach::new(RejectCode::BadShape, format!("`{key}` holds {what}; it cannot be replaced by an object"))
        };
        match self.kind.schema().field(key) {
            Some(field) if !matches!(field.kind, FieldKind::Scalar | FieldKind::Json) => Err(Breach::new(
                RejectCode::Immutable,
                format!("`{key}` is a nested object of the genesis; it is edited inside, never replaced"),
            )),
            Some(_) if matches!(op.action, OpType::Make(_)) => Err(scalar_only("a value")),
            // Keys a newer version adds, and the tombstone: scalars.
            _ if matches!(op.action, OpType::Make(_)) => Err(scalar_only("a scalar")),
            _ => Ok(()),
        }
    }

    fn check_object_op(&self, field: &crate::model::Field, op: &automerge::legacy::Op) -> Result<(), Breach> {
        let name = field.name;
        if matches!(op.action, OpType::Make(_)) {
            return Err(Breach::new(RejectCode::BadShape, format!("`{name}` holds no nested objects")));
        }
        match field.kind {
            FieldKind::Timeline => {
                let entry = match (&op.action, op.insert) {
                    (OpType::Put(ScalarValue::Str(text)), true) => text.to_string(),
                    (OpType::Put(_), true) => {
                        return Err(Breach::new(RejectCode::BadShape, format!("a `{name}` entry is a JSON string")));
                    }
                    _ => {
                        return Err(Breach::new(
                            RejectCode::TimelineRewritten,
                            format!("`{name}` is append-only: entries are never deleted or rewritten"),
                        ));
                    }
                };
                self.check_entry(name, &entry)
            }
            FieldKind::Set => match &op.action {
                OpType::Put(ScalarValue::Boolean(true)) | OpType::Delete => Ok(()),
                _ => Err(Breach::new(RejectCode::BadShape, format!("`{name}` is a set: members map to true"))),
            },
            FieldKind::Entries => match &op.action {
                OpType::Put(ScalarValue::Str(_)) | OpType::Delete => Ok(()),
                _ => Err(Breach::new(RejectCode::BadShape, format!("`{name}` entries are JSON strings"))),
            },
            // Text: characters inserted and deleted, and marks; nothing else reaches here.
            FieldKind::Text | FieldKind::Scalar | FieldKind::Json => Ok(()),
        }
    }

    /// A photo's reference: on a kind that holds photos, a JSON string that reads as a
    /// valid reference to the blob its key names; never removed.
    fn check_attachment_op(&self, key: &str, op: &automerge::legacy::Op) -> Result<(), Breach> {
        if !holds_attachments(self.kind) {
            return Err(Breach::new(RejectCode::BadShape, format!("a {} holds no photos", self.kind)));
        }
        let text = match &op.action {
            OpType::Put(ScalarValue::Str(text)) => text,
            OpType::Delete => {
                return Err(Breach::new(RejectCode::Immutable, "a photo is evidence: its reference is never removed"));
            }
            _ => return Err(Breach::new(RejectCode::BadShape, "a photo's reference is a JSON string")),
        };
        let invalid = |why: String| Breach::new(RejectCode::Invalid, format!("a photo's reference {why}"));
        let attachment: Attachment =
            serde_json::from_str(text).map_err(|_| invalid("must read as an attachment".into()))?;
        attachment.validate().map_err(|v| invalid(format!("breaks a rule: {v}")))?;
        if attachment.key() != key {
            return Err(invalid("must sit under its own hash".into()));
        }
        Ok(())
    }

    /// A new timeline entry must read as its kind's entry; an incident's must name a
    /// known step.
    fn check_entry(&self, field: &str, entry: &str) -> Result<(), Breach> {
        let invalid = |why: String| Breach::new(RejectCode::Invalid, format!("a `{field}` entry {why}"));
        match self.kind {
            Kind::Incident => {
                let value: serde_json::Value =
                    serde_json::from_str(entry).map_err(|_| invalid("must be a JSON object".into()))?;
                let step = value.get("step").and_then(|s| s.as_str()).unwrap_or_default();
                if serde_json::from_value::<Step>(step.into()).is_err() {
                    return Err(Breach::new(RejectCode::UnknownStep, "a follow-up must name a known step"));
                }
                let follow_up: FollowUp =
                    serde_json::from_value(value).map_err(|_| invalid("must be a follow-up".into()))?;
                follow_up.validate().map_err(|v| invalid(format!("breaks a rule: {v}")))?;
            }
            Kind::Visit => {
                let finding: Finding = serde_json::from_str(entry).map_err(|_| invalid("must be a finding".into()))?;
                finding.validate().map_err(|v| invalid(format!("breaks a rule: {v}")))?;
            }
            Kind::Household | Kind::Person => return Err(invalid("has no timeline here".into())),
        }
        Ok(())
    }
}

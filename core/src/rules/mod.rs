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

mod admit;

pub use admit::{Admission, Author, CenterChecks, Profile};

use crate::chunk;
use crate::doc::{GENESIS_ACTOR, RecordDoc, genesis_change};
use crate::model::{
    ATTACHMENT_KEY_PREFIX, Attachment, FieldKind, Finding, FollowUp, Incident, Kind, MAX_ATTACHMENTS, Step,
    holds_attachments, parse_entry,
};
use crate::roles::Duties;
use crate::sync::wire::RejectCode;

/// The most bytes one change may have (a person with 10,000 characters of notes is
/// well under it).
pub const MAX_CHANGE_BYTES: usize = 256 << 10;
/// The most ops one change may hold.
pub const MAX_CHANGE_OPS: usize = 25_000;
/// The most ops the changes of one batch may hold together: what applying a batch
/// costs is its ops (automerge holds ~200 bytes an op while it applies them), not its
/// count of changes.
pub const MAX_BATCH_OPS: u64 = 100_000;
/// The most ops one record's document may hold: every load of the record (a push to
/// it, a fetch, a phone's first sync) costs memory and time in proportion. A household
/// whose notes were typed and retyped a hundred times over stays far below it.
pub const MAX_RECORD_OPS: u64 = 200_000;

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
    match bytes.get(..9) {
        Some(head) if head[..4] == chunk::MAGIC && head[8] == chunk::CHANGE_CHUNK => {}
        Some(head) if head[..4] == chunk::MAGIC && head[8] == 2 => {
            return Err(Breach::new(RejectCode::Malformed, "compressed change chunks are not accepted"));
        }
        _ => return Err(Breach::new(RejectCode::Malformed, "not an automerge change chunk")),
    }
    // automerge walks every declared op when it parses a change: bounded first.
    match chunk::declared_ops(bytes, MAX_CHANGE_OPS as u64) {
        None => Err(Breach::new(RejectCode::Malformed, "not an automerge change chunk")),
        Some(ops) if ops > MAX_CHANGE_OPS as u64 => {
            Err(Breach::new(RejectCode::TooLarge, format!("a change may hold at most {MAX_CHANGE_OPS} ops")))
        }
        Some(_) => Ok(()),
    }
}

/// The ops the change `bytes` declare (read from its header, without parsing it),
/// for batches bounded by what they cost: 0 for bytes that are no change chunk.
pub fn declared_ops(bytes: &[u8]) -> u64 {
    chunk::declared_ops(bytes, MAX_BATCH_OPS).unwrap_or(0)
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
    let expanded = decode(change)?;
    for op in &expanded.operations {
        layout.check_op(op)?;
    }
    check_canonical(change, expanded)
}

/// Checks that `change` is encoded as automerge encodes its ops. A document is saved
/// with its ops encoded afresh and reloaded by rebuilding each change from them, so a
/// change whose bytes encode the same ops some other way (a run split in two, a value
/// spelled longer) hashes differently once rebuilt: the saved document would never
/// load again, on any replica.
fn check_canonical(change: &Change, expanded: automerge::ExpandedChange) -> Result<(), Breach> {
    let again = std::panic::catch_unwind(|| Change::from(expanded))
        .map_err(|_| Breach::new(RejectCode::Malformed, "the change's ops cannot be encoded again"))?;
    if again.raw_bytes() != change.raw_bytes() {
        return Err(Breach::new(
            RejectCode::Malformed,
            "the change is not encoded as automerge encodes its ops: a document holding it would not reload",
        ));
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
    let layout = Layout::of(Kind::Incident);
    decode(change)?
        .operations
        .into_iter()
        // Inserts into the timeline only: the characters of the notes are inserts too.
        .filter(|op| op.insert && layout.field_of(&op.obj).is_some_and(|field| field.kind == FieldKind::Timeline))
        .filter_map(|op| match op.action {
            OpType::Put(ScalarValue::Str(text)) => Some(text),
            _ => None,
        })
        // Never skipped: an entry these checks passed over would still be read by
        // nobody, but one they cannot read must not be taken at all.
        .map(|text| {
            parse_entry::<FollowUp>(&text)
                .map_err(|_| Breach::new(RejectCode::Invalid, "a `timeline` entry must be a follow-up"))
        })
        .collect()
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
    if doc.ops() > MAX_RECORD_OPS {
        return Err(Breach::new(RejectCode::TooLarge, format!("a record holds at most {MAX_RECORD_OPS} ops")));
    }
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

    /// The genesis field whose nested object `obj` is, if it is one.
    fn field_of(&self, obj: &ObjectId) -> Option<&'static crate::model::Field> {
        match obj {
            ObjectId::Id(OpId(counter, actor)) if actor == &self.genesis_actor => self.objects.get(counter).copied(),
            _ => None,
        }
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
                let follow_up: FollowUp = parse_entry(entry).map_err(|_| {
                    // Told apart only for the code: the entry is refused either way.
                    let step = serde_json::from_str::<serde_json::Value>(entry)
                        .ok()
                        .and_then(|value| serde_json::from_value::<Step>(value.get("step")?.clone()).ok());
                    match step {
                        None => Breach::new(RejectCode::UnknownStep, "a follow-up must name a known step"),
                        Some(_) => invalid(
                            "must be a follow-up: each of its keys once, none it does not have, each of its type"
                                .into(),
                        ),
                    }
                })?;
                follow_up.validate().map_err(|v| invalid(format!("breaks a rule: {v}")))?;
            }
            Kind::Visit => {
                let finding: Finding = parse_entry(entry).map_err(|_| {
                    invalid("must be a finding: each of its keys once, none it does not have, each of its type".into())
                })?;
                finding.validate().map_err(|v| invalid(format!("breaks a rule: {v}")))?;
            }
            Kind::Household | Kind::Person => return Err(invalid("has no timeline here".into())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failure here is a test failure

    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{Automerge, ObjType, ROOT, Value};

    use super::*;
    use crate::roles::{Policy, Role};

    /// A change by another device on top of `base` (or `kind`'s genesis), made by `ops`.
    fn made_on(
        kind: Kind,
        base: Option<&RecordDoc>,
        ops: impl FnOnce(&mut automerge::transaction::Transaction<'_>, automerge::ObjId),
    ) -> Change {
        let mut doc = match base {
            Some(base) => base.automerge().fork(),
            None => {
                let mut doc = Automerge::new();
                doc.apply_changes([Change::from_bytes(genesis_change(kind).to_vec()).unwrap()]).unwrap();
                doc
            }
        };
        doc.set_actor(ActorId::from([0x52u8; 16]));
        let mut tx = doc.transaction();
        let field = if kind == Kind::Incident { "timeline" } else { "notes" };
        let obj = match tx.get(ROOT, field).unwrap() {
            Some((Value::Object(ObjType::List | ObjType::Text), obj)) => obj,
            other => panic!("{other:?}"),
        };
        ops(&mut tx, obj);
        tx.commit_with(CommitOptions::default().with_message("w-one").with_time(1_767_000_000_000));
        doc.get_last_local_change().unwrap().clone()
    }

    fn made(kind: Kind, ops: impl FnOnce(&mut automerge::transaction::Transaction<'_>, automerge::ObjId)) -> Change {
        made_on(kind, None, ops)
    }

    fn notes(text: &str) -> Change {
        made(Kind::Household, |tx, notes| tx.splice_text(&notes, 0, 0, text).unwrap())
    }

    #[test]
    fn a_change_declaring_more_ops_than_the_bound_is_refused_from_its_header() {
        let honest = notes(&"长".repeat(50));
        assert_eq!(check_change_bytes(honest.raw_bytes()), Ok(()));
        let forged = chunk::lengthen_runs(honest.raw_bytes(), 50, 1_000_000_000).unwrap();
        assert!(forged.len() < 400, "{} bytes", forged.len());
        assert_eq!(check_change_bytes(&forged).map_err(|b| b.code), Err(RejectCode::TooLarge));
        // Just over the bound, and not a change at all, likewise before automerge.
        let over = chunk::lengthen_runs(honest.raw_bytes(), 50, MAX_CHANGE_OPS as u64 + 1).unwrap();
        assert_eq!(check_change_bytes(&over).map_err(|b| b.code), Err(RejectCode::TooLarge));
        let cut = &honest.raw_bytes()[..honest.raw_bytes().len() - 3];
        assert_eq!(check_change_bytes(cut).map_err(|b| b.code), Err(RejectCode::Malformed));
    }

    #[test]
    fn a_change_encoded_otherwise_than_automerge_would_is_refused() {
        let honest = notes("长长长长长长");
        assert_eq!(check_change(Kind::Household, &honest), Ok(()));
        let split = Change::from_bytes(chunk::split_action_run(honest.raw_bytes()).unwrap()).unwrap();
        assert_eq!(split.decode().operations, honest.decode().operations, "the same ops");
        assert_eq!(check_change(Kind::Household, &split).map_err(|b| b.code), Err(RejectCode::Malformed));
        // Why: a document holding it saves, and never loads again.
        let mut doc = RecordDoc::new(Kind::Household, &ActorId::from([1u8; 16])).unwrap();
        doc.apply_changes(vec![split]).unwrap();
        assert!(RecordDoc::load(Kind::Household, &ActorId::from([1u8; 16]), Some(&doc.save()), []).is_err());
    }

    #[test]
    fn a_follow_up_with_a_key_twice_is_refused_and_never_read() {
        // Read leniently, the second `step` won: a grid worker's phone accepting.
        let entry = r#"{"id":"0190f0f0-0000-7000-8000-0000000000e1","at":1,"by":"w-one","step":"comment","note":"","step":"accept"}"#;
        let mut doc = RecordDoc::new(Kind::Incident, &ActorId::from([1u8; 16])).unwrap();
        let area = crate::AreaCode::parse("area_code", "110101001001001").unwrap();
        let incident = crate::sample::Sample::new(1).incident(&area, 1, 1_767_000_000_000);
        doc.write(&incident, &crate::doc::Author { worker: "w-one", at: 1 }).unwrap();
        let change =
            made_on(Kind::Incident, Some(&doc), |tx, timeline| tx.insert(&timeline, 0, entry).map(drop).unwrap());
        assert_eq!(check_change(Kind::Incident, &change).map_err(|b| b.code), Err(RejectCode::Invalid));
        let worker = Duties::new(Role::GridWorker, Policy::default());
        assert_eq!(
            check_duties(Kind::Incident, &change, &worker, "w-one").map_err(|b| b.code),
            Err(RejectCode::Invalid)
        );
        doc.apply_changes(vec![change]).unwrap();
        assert_eq!(doc.read::<Incident>().unwrap().timeline, Vec::new(), "the fold reads no such entry");
        for unknown in [
            r#"{"id":"0190f0f0-0000-7000-8000-0000000000e2","at":1,"by":"w-one","step":"comment","actor":"center"}"#,
            r#"{"id":"0190f0f0-0000-7000-8000-0000000000e3","at":"1","by":"w-one","step":"comment"}"#,
        ] {
            let change = made(Kind::Incident, |tx, timeline| tx.insert(&timeline, 0, unknown).map(drop).unwrap());
            assert_eq!(
                check_change(Kind::Incident, &change).map_err(|b| b.code),
                Err(RejectCode::Invalid),
                "{unknown}"
            );
        }
    }

    /// The notes' characters are inserts too: only the timeline's are follow-ups (a
    /// client that writes the description and the report in one change, as the
    /// JavaScript client does, had every such change refused).
    #[test]
    fn a_change_writing_notes_and_a_step_takes_one_step() {
        let entry = r#"{"id":"0190f0f0-0000-7000-8000-0000000000e4","at":1,"by":"w-one","step":"report","note":"","deadline":null,"supervision":null}"#;
        let change = made(Kind::Incident, |tx, timeline| {
            tx.insert(&timeline, 0, entry).unwrap();
            let notes = match tx.get(ROOT, "notes").unwrap() {
                Some((Value::Object(ObjType::Text), notes)) => notes,
                other => panic!("{other:?}"),
            };
            tx.splice_text(&notes, 0, 0, "路灯不亮").unwrap();
        });
        assert_eq!(check_change(Kind::Incident, &change), Ok(()));
        let worker = Duties::new(Role::GridWorker, Policy::default());
        assert_eq!(check_duties(Kind::Incident, &change, &worker, "w-one"), Ok(()));
        assert_eq!(follow_ups_added(&change).unwrap().len(), 1);
    }

    #[test]
    fn a_record_over_its_ops_is_refused() {
        let mut doc = RecordDoc::new(Kind::Household, &ActorId::from([1u8; 16])).unwrap();
        assert_eq!(check_bounds(&doc), Ok(()));
        let big = notes(&"长".repeat(MAX_RECORD_OPS as usize));
        doc.apply_changes(vec![big]).unwrap();
        assert_eq!(check_bounds(&doc).map_err(|b| b.code), Err(RejectCode::TooLarge));
    }
}

//! The center's steps on an incident, taken from the console: each is an automerge change
//! by the staff member's own actor (so every replica's history says who acted), appended
//! to the incident's timeline under the record's lock, legal only after the status the
//! timeline gives and only for the staff member's role, and reaching the phones on their
//! next pull like any change.

use automerge::ActorId;
use gridsync_core::doc::{Author, RecordDoc};
use gridsync_core::rules;
use gridsync_core::{Attachment, FollowUp, Incident, IncidentState, Kind, Step, Supervision};

use super::accounts::Staff;
use crate::center::Center;
use crate::push::AtCenter;
use crate::storage::{AuditRow, StorageError};

/// The steps `staff` may take on an incident that stands at `state`: their role's (the
/// merge rules', `gridsync_core::roles`), legal from here.
pub fn allowed_steps(staff: &Staff, state: &IncidentState) -> Vec<Step> {
    let steps = staff.duties().steps().into_iter().filter(|step| state.status.after(*step).is_some());
    // 复核 settles concurrent steps: offered only when there are some.
    steps.filter(|step| *step != Step::Review || state.needs_review()).collect()
}

/// Why a step was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepRefusal {
    /// No such incident in the staff member's scope (one outside it is not named).
    #[error("no such incident")]
    NotFound,
    #[error("this role does not take that step")]
    NotYourStep,
    #[error("the step is not legal while the incident is {0}")]
    Illegal(&'static str),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("the center failed: {0}")]
    Storage(String),
}

impl StepRefusal {
    /// What the staff member reads.
    pub fn zh(&self) -> String {
        match self {
            StepRefusal::NotFound => "没有找到这个事件".into(),
            StepRefusal::NotYourStep => "本角色不能办理这一环节".into(),
            StepRefusal::Illegal(_) => "事件当前的状态不能办理这一环节（可能已被他人办理），请刷新后再看".into(),
            StepRefusal::Invalid(reason) => format!("内容不符合要求：{reason}"),
            StepRefusal::Storage(_) => "系统暂时不可用，请稍后再试".into(),
        }
    }
}

impl From<StorageError> for StepRefusal {
    fn from(err: StorageError) -> Self {
        StepRefusal::Storage(err.to_string())
    }
}

/// A step as the form gives it.
#[derive(Debug, Clone)]
pub struct StepTaken {
    pub step: Step,
    pub note: String,
    /// For 交办 / 分流: when handling is due (ms).
    pub deadline: Option<i64>,
    pub supervision: Option<Supervision>,
}

/// A step's code as the wire and the forms spell it (`assign`, `call_back`).
pub fn step_code(step: Step) -> String {
    serde_json::to_value(step).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The step a code names.
pub fn parse_step(code: &str) -> Option<Step> {
    serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
}

/// The automerge actor of a member of staff: derived from their id, the same on every
/// center process, never a device's (devices' actors are random).
pub fn staff_actor(staff: &str) -> ActorId {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("gridsync-staff:{staff}").as_bytes());
    ActorId::from(&digest.as_ref()[..16])
}

/// The incident `id` if it lies in `staff`'s scope.
pub fn incident(center: &Center, staff: &Staff, id: &str) -> Result<Option<(Incident, Vec<Attachment>)>, StorageError> {
    let Some(doc) = center.record_doc(id).map_err(StorageError::Failed)? else { return Ok(None) };
    if doc.kind() != Kind::Incident || !in_scope(staff, doc.area_code().as_deref()) {
        return Ok(None);
    }
    let incident = doc.read::<Incident>().map_err(|e| StorageError::Failed(e.to_string()))?;
    Ok(Some((incident, doc.attachments())))
}

fn in_scope(staff: &Staff, area: Option<&str>) -> bool {
    area.is_some_and(|area| staff.scope.covers(area))
}

/// The names of the workers and staff among `ids` (a timeline's `by`), by id.
pub fn names_of<'a>(
    center: &Center,
    ids: impl Iterator<Item = &'a str>,
) -> Result<std::collections::HashMap<String, String>, String> {
    let wanted: std::collections::BTreeSet<&str> = ids.collect();
    center
        .read(|tx| {
            let mut names = std::collections::HashMap::new();
            for id in wanted {
                let name = match tx.worker(id)? {
                    Some(worker) => Some(worker.name),
                    None => tx.staff(id)?.map(|staff| staff.name),
                };
                if let Some(name) = name {
                    names.insert(id.to_owned(), name);
                }
            }
            Ok(names)
        })
        .map_err(|e: StorageError| e.to_string())
}

/// Takes `taken` on incident `id` as `staff`, audited.
pub fn take_step(center: &Center, staff: &Staff, id: &str, taken: StepTaken, now: i64) -> Result<(), StepRefusal> {
    let duties = staff.duties();
    if !duties.may_take(taken.step) {
        return Err(StepRefusal::NotYourStep);
    }
    if matches!(taken.step, Step::Assign | Step::Divert) && taken.deadline.is_none() {
        return Err(StepRefusal::Invalid("交办、分流须有办理期限".into()));
    }
    let action = Audited {
        action: format!("incident.{}", step_code(taken.step)),
        detail: taken.deadline.map(|d| format!("deadline {d}")).unwrap_or_default(),
    };
    change_as_staff(center, staff, id, Some(Kind::Incident), now, action, |doc, author| {
        let status = doc.read::<Incident>().map_err(|e| StepRefusal::Storage(e.to_string()))?.status();
        if status.after(taken.step).is_none() {
            return Err(StepRefusal::Illegal(status.as_str()));
        }
        let entry = FollowUp {
            id: uuid::Uuid::now_v7().to_string(),
            at: now,
            by: staff.id.clone(),
            step: taken.step,
            note: taken.note.clone(),
            deadline: taken.deadline,
            supervision: taken.supervision,
        };
        doc.append("timeline", &entry, author).map_err(|e| StepRefusal::Invalid(e.to_string()))
    })
}

/// An audit row's action and detail.
#[derive(Debug, Clone)]
pub struct Audited {
    pub action: String,
    pub detail: String,
}

/// Changes record `id` (of `kind`, when given) in `staff`'s scope as `staff`: `edit` runs
/// on the document loaded with the staff member's own actor, under the record's lock;
/// the changes it makes meet the rules a phone's push meets (validation, the role's
/// steps), and are saved with their audit row in one transaction.
pub fn change_as_staff(
    center: &Center,
    staff: &Staff,
    id: &str,
    kind: Option<Kind>,
    now: i64,
    audited: Audited,
    edit: impl FnOnce(&mut RecordDoc, &Author<'_>) -> Result<(), StepRefusal>,
) -> Result<(), StepRefusal> {
    let actor = staff_actor(&staff.id);
    center.write(|tx| {
        tx.lock_records(&[id])?;
        let Some(stored) = tx.record(id)? else { return Ok(Err(StepRefusal::NotFound)) };
        if kind.is_some_and(|kind| stored.kind != kind) || !in_scope(staff, Some(&stored.area_code)) {
            return Ok(Err(StepRefusal::NotFound));
        }
        let loaded =
            RecordDoc::load(stored.kind, &actor, stored.snapshot.as_deref(), stored.tail.iter().map(Vec::as_slice));
        let mut doc = match loaded {
            Ok(doc) => doc,
            Err(e) => return Ok(Err(StepRefusal::Storage(e.to_string()))),
        };
        let before = doc.heads();
        if let Err(refusal) = edit(&mut doc, &Author { worker: &staff.id, at: now }) {
            return Ok(Err(refusal));
        }
        let changes = doc.changes_since(&before);
        if changes.is_empty() {
            return Ok(Ok(()));
        }
        // The pipeline a device's push goes through, as the staff member's own change.
        let duties = staff.duties();
        let actor_hex = actor.to_hex_string();
        let author = rules::Author { actor: &actor_hex, worker: &staff.id, duties: &duties };
        let admission = rules::Admission { profile: rules::Profile::StaffChange, author: Some(author) };
        if let Err(breach) = admission.alone(stored.kind, &changes) {
            return Ok(Err(StepRefusal::Invalid(breach.reason)));
        }
        let township_key = center.township_key_for(&mut *tx, staff.scope.prefixes())?;
        let in_scope = |area: &str| in_scope(staff, Some(area));
        let mut at_center = AtCenter { tx: &mut *tx, scope: &in_scope, township_key: &township_key };
        if let Err(breach) = admission.applied(id, &doc, &changes, Some(&mut at_center))? {
            return Ok(Err(StepRefusal::Invalid(breach.reason)));
        }
        tx.save_record(id, &doc, &changes, &format!("console:{}", staff.id), now)?;
        tx.add_audit(&AuditRow {
            at: now,
            staff_id: staff.id.clone(),
            action: audited.action,
            target: id.to_owned(),
            detail: audited.detail,
        })?;
        Ok(Ok(()))
    })?
}

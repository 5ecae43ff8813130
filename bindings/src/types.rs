//! The types that cross the boundary. Core's enums and plain records are exported as
//! they are (`#[uniffi::remote]`); records holding sets, maps or dates are mirrored with
//! lists and `YYYY-MM-DD` strings, converted here and only here.

use std::collections::{BTreeMap, BTreeSet};

use gridsync_core::client::{Phase, Progress, SyncReport, VerifyReport};
use gridsync_core::model::{self as core, Gps, IncidentState, ReviewNote};
use gridsync_core::store::{self, ConflictedRow, HouseholdRow, IncidentRow, SyncError, SyncStatus};
use gridsync_core::{
    AreaCode, Date, Gender, HouseholdType, Housing, IdType, IncidentStatus, Kind, PersonStatus, PersonType, Role, Step,
    Supervision,
};
use gridsync_core::{doc, zh};

use crate::error::Result;

#[uniffi::remote(Enum)]
pub enum Kind {
    Household,
    Person,
    Visit,
    Incident,
}

#[uniffi::remote(Enum)]
pub enum Gender {
    Male,
    Female,
}

#[uniffi::remote(Enum)]
pub enum HouseholdType {
    /// 家庭户
    Family,
    /// 集体户
    Collective,
}

#[uniffi::remote(Enum)]
pub enum Housing {
    /// 自有
    Owned,
    /// 租赁
    Rented,
    Other,
}

#[uniffi::remote(Enum)]
pub enum IdType {
    /// 居民身份证, checked against GB 11643.
    ResidentId,
    Passport,
    HkMacaoPermit,
    TaiwanPermit,
    ForeignPermanentResident,
    Other,
}

#[uniffi::remote(Enum)]
pub enum PersonType {
    /// 户籍人口
    Registered,
    /// 流动人口
    Floating,
    /// 境外人员
    Overseas,
}

#[uniffi::remote(Enum)]
pub enum PersonStatus {
    Active,
    /// 迁出
    MovedOut,
    /// 死亡
    Deceased,
}

/// A step of an incident's closed loop.
#[uniffi::remote(Enum)]
pub enum Step {
    Report,
    Accept,
    Return,
    Decline,
    Assign,
    Divert,
    Escalate,
    StartHandling,
    Complete,
    ResolveOnSite,
    Verify,
    VerifyFail,
    CallBack,
    Close,
    Shut,
    Reopen,
    MarkUrgent,
    Supervise,
    Comment,
    Review,
}

/// Who takes incident steps: 网格员, 网格长 on phones; 调度员, 领导, 管理员 at the center.
#[uniffi::remote(Enum)]
pub enum Role {
    GridWorker,
    GridChief,
    Dispatcher,
    Leader,
    Admin,
}

/// 督办 levels: 普通, 黄牌, 红牌.
#[uniffi::remote(Enum)]
pub enum Supervision {
    Normal,
    Yellow,
    Red,
}

/// An incident's status, derived from its timeline.
#[uniffi::remote(Enum)]
pub enum IncidentStatus {
    Draft,
    Reported,
    Returned,
    Declined,
    Accepted,
    Assigned,
    Diverted,
    Escalated,
    InProgress,
    Completed,
    Verified,
    Closed,
    Shut,
}

/// The stage of a sync.
#[uniffi::remote(Enum)]
pub enum Phase {
    Push,
    Pull,
    Verify,
    Photos,
}

/// A GPS position (WGS-84 degrees).
#[uniffi::remote(Record)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
}

/// A household in a list.
#[uniffi::remote(Record)]
pub struct HouseholdRow {
    pub id: String,
    pub area_code: String,
    pub household_no: String,
    pub household_type: HouseholdType,
    pub address: String,
    pub tags: Vec<String>,
}

/// An incident in a list.
#[uniffi::remote(Record)]
pub struct IncidentRow {
    pub id: String,
    pub area_code: String,
    pub service_no: String,
    pub title: String,
    pub categories: Vec<String>,
    pub status: IncidentStatus,
    pub urgent: bool,
    pub supervision: Option<Supervision>,
    pub major: bool,
    pub occurred_at: i64,
    pub deadline: Option<i64>,
    pub needs_review: bool,
    pub review: Option<String>,
}

/// A record holding conflicting concurrent values, for the conflict review screen.
#[uniffi::remote(Record)]
pub struct ConflictedRow {
    pub id: String,
    pub kind: Kind,
    pub area_code: String,
    pub conflicts: u32,
}

/// One change in a record's history: which device and worker changed which fields when.
/// One change in a record's history, with the fields it touched as a form labels them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    pub hash: String,
    pub device: String,
    pub worker: String,
    pub registers: bool,
    pub at: i64,
    /// `at` cannot be true: the device's clock was wrong; show it as doubtful.
    pub time_doubtful: bool,
    pub fields: Vec<String>,
    /// The same fields in Chinese (a photo as 照片; a key a newer version wrote, as it is).
    pub fields_zh: Vec<String>,
}

impl From<doc::HistoryEntry> for HistoryEntry {
    fn from(entry: doc::HistoryEntry) -> Self {
        let fields_zh = entry.fields.iter().map(|field| zh::field_label_zh(field)).collect();
        let doc::HistoryEntry { hash, device, worker, registers, at, time_doubtful, fields } = entry;
        Self { hash, device, worker, registers, at, time_doubtful, fields, fields_zh }
    }
}

/// What the app shows about sync.
#[uniffi::remote(Record)]
pub struct SyncStatus {
    pub enrolled: bool,
    pub last_success: Option<i64>,
    pub pending_changes: u64,
    pub quarantined_changes: u64,
    /// Why the last sync failed: show `message_zh`.
    pub last_error: Option<SyncError>,
}

/// Why the last sync failed: a stable code, the English text, the Chinese one.
#[uniffi::remote(Record)]
pub struct SyncError {
    pub code: String,
    pub message: String,
    pub message_zh: String,
}

/// A local change the center refused, kept for a person to look at.
/// A local change the center refused, kept for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuarantinedChange {
    pub record_id: String,
    pub hash: String,
    pub code: String,
    /// The center's reason in English, for the township's staff.
    pub reason: String,
    /// What the grid worker reads: the code's meaning in Chinese (with the center's
    /// words for a code this version does not know).
    pub reason_zh: String,
    pub at: i64,
}

impl From<store::QuarantinedChange> for QuarantinedChange {
    fn from(change: store::QuarantinedChange) -> Self {
        let reason_zh = zh::refusal_zh(&change.code, &change.reason);
        let store::QuarantinedChange { record_id, hash, code, reason, at } = change;
        Self { record_id, hash, code, reason, reason_zh, at }
    }
}

/// What a sync did: changes pushed and pulled, bytes and round trips.
#[uniffi::remote(Record)]
pub struct SyncReport {
    pub pushed: u64,
    pub quarantined: u64,
    pub pulled_changes: u64,
    pub pulled_snapshots: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub round_trips: u64,
    pub photos_sent: u64,
    pub photo_bytes_sent: u64,
}

/// What comparing digests with the center found and repaired.
#[uniffi::remote(Record)]
pub struct VerifyReport {
    pub equal_before: bool,
    pub equal_after: bool,
    pub fetched: u64,
    pub resent: u64,
    pub sync: SyncReport,
}

/// Progress of a sync, for a progress bar.
#[uniffi::remote(Record)]
pub struct Progress {
    pub phase: Phase,
    pub items_done: u64,
    pub items_total: Option<u64>,
    pub bytes_done: u64,
    pub photo_bytes_done: u64,
    pub photo_bytes_total: u64,
}

/// A timeline entry the merge could not fit (conflicting concurrent steps).
#[uniffi::remote(Record)]
pub struct ReviewNote {
    pub entry_id: String,
    pub step: Step,
    pub status: IncidentStatus,
    pub by: String,
}

/// An incident's state, folded from its timeline.
#[uniffi::remote(Record)]
pub struct IncidentState {
    pub status: IncidentStatus,
    pub urgent: bool,
    pub supervision: Option<Supervision>,
    pub deadline: Option<i64>,
    pub review: Vec<ReviewNote>,
}

fn area(field: &'static str, code: &str) -> Result<AreaCode> {
    Ok(AreaCode::parse(field, code)?)
}

fn date(field: &'static str, text: &str) -> Result<Date> {
    Ok(Date::parse(field, text)?)
}

/// A household (户). Members are persons whose `household_id` names it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Household {
    /// Micro-grid or grid code (15 or 17 digits).
    pub area_code: String,
    pub household_no: String,
    pub household_type: HouseholdType,
    pub address: String,
    pub gps: Option<Gps>,
    /// 人户一致
    pub residence_matches: bool,
    pub housing: Housing,
    /// 低保户, 五保户, 困难户, 出租屋 …
    pub tags: Vec<String>,
    pub phone: Option<String>,
    pub notes: String,
}

impl From<core::Household> for Household {
    fn from(h: core::Household) -> Self {
        Self {
            area_code: h.area_code.to_string(),
            household_no: h.household_no,
            household_type: h.household_type,
            address: h.address,
            gps: h.gps,
            residence_matches: h.residence_matches,
            housing: h.housing,
            tags: h.tags.into_iter().collect(),
            phone: h.phone,
            notes: h.notes,
        }
    }
}

impl TryFrom<Household> for core::Household {
    type Error = crate::error::GridsyncError;
    fn try_from(h: Household) -> Result<Self> {
        Ok(Self {
            area_code: area("area_code", &h.area_code)?,
            household_no: h.household_no,
            household_type: h.household_type,
            address: h.address,
            gps: h.gps,
            residence_matches: h.residence_matches,
            housing: h.housing,
            tags: h.tags.into_iter().collect(),
            phone: h.phone,
            notes: h.notes,
        })
    }
}

/// A person's membership of a focus group (重点人群).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FocusGroup {
    /// 刑满释放, 社区矫正, 严重精神障碍, 留守儿童 …
    pub group: String,
    /// The responsible worker's id.
    pub worker: String,
    /// `YYYY-MM-DD`
    pub from: String,
    pub until: Option<String>,
}

/// A person (人口).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Person {
    pub area_code: String,
    pub name: String,
    pub former_name: Option<String>,
    pub id_type: IdType,
    /// A resident ID is checked against GB 11643 and must agree with gender and birth date.
    pub id_number: Option<String>,
    /// Read from a resident ID number when `None` (the worker types the number once);
    /// checked against it when given. Required without one. Always set when read.
    pub gender: Option<Gender>,
    /// GB 3304 code, e.g. `01` 汉族.
    pub ethnicity: String,
    /// `YYYY-MM-DD`; like `gender`, read from a resident ID number when `None`.
    pub birth_date: Option<String>,
    pub phone: Option<String>,
    pub household_id: Option<String>,
    /// GB/T 4761 code of the relationship to the head, e.g. `02` 户主.
    pub relationship: Option<String>,
    pub person_type: PersonType,
    pub registered_address: Option<String>,
    pub current_address: Option<String>,
    pub occupation: Option<String>,
    pub status: PersonStatus,
    pub status_changed_at: Option<i64>,
    pub focus_groups: Vec<FocusGroup>,
    pub notes: String,
}

impl From<core::Person> for Person {
    fn from(p: core::Person) -> Self {
        Self {
            area_code: p.area_code.to_string(),
            name: p.name,
            former_name: p.former_name,
            id_type: p.id_type,
            id_number: p.id_number,
            gender: Some(p.gender),
            ethnicity: p.ethnicity,
            birth_date: Some(p.birth_date.to_string()),
            phone: p.phone,
            household_id: p.household_id,
            relationship: p.relationship,
            person_type: p.person_type,
            registered_address: p.registered_address,
            current_address: p.current_address,
            occupation: p.occupation,
            status: p.status,
            status_changed_at: p.status_changed_at,
            focus_groups: p
                .focus_groups
                .into_iter()
                .map(|(group, f)| FocusGroup {
                    group,
                    worker: f.worker,
                    from: f.from.to_string(),
                    until: f.until.map(|d| d.to_string()),
                })
                .collect(),
            notes: p.notes,
        }
    }
}

impl TryFrom<Person> for core::Person {
    type Error = crate::error::GridsyncError;
    fn try_from(p: Person) -> Result<Self> {
        let mut focus_groups = BTreeMap::new();
        for f in p.focus_groups {
            let until = f.until.as_deref().map(|d| date("focus_groups.until", d)).transpose()?;
            focus_groups.insert(
                f.group,
                core::FocusGroup { worker: f.worker, from: date("focus_groups.from", &f.from)?, until },
            );
        }
        // What the worker left out, read from the resident ID number (whose errors name
        // `id_number`); without one, both are required.
        let from_id = match (p.id_type, p.id_number.as_deref()) {
            (IdType::ResidentId, Some(number)) if p.gender.is_none() || p.birth_date.is_none() => {
                Some(gridsync_core::validate::parse_id_number(number).map_err(gridsync_core::Error::from)?)
            }
            _ => None,
        };
        let required = |field| {
            gridsync_core::Error::from(gridsync_core::ValidationError::new(field, gridsync_core::Rule::Required))
        };
        let gender = match (p.gender, &from_id) {
            (Some(gender), _) => gender,
            (None, Some(facts)) => facts.gender,
            (None, None) => return Err(required("gender").into()),
        };
        let birth_date = match (p.birth_date.as_deref(), &from_id) {
            (Some(text), _) => date("birth_date", text)?,
            (None, Some(facts)) => facts.birth_date,
            (None, None) => return Err(required("birth_date").into()),
        };
        Ok(Self {
            area_code: area("area_code", &p.area_code)?,
            name: p.name,
            former_name: p.former_name,
            id_type: p.id_type,
            id_number: p.id_number,
            gender,
            ethnicity: p.ethnicity,
            birth_date,
            phone: p.phone,
            household_id: p.household_id,
            relationship: p.relationship,
            person_type: p.person_type,
            registered_address: p.registered_address,
            current_address: p.current_address,
            occupation: p.occupation,
            status: p.status,
            status_changed_at: p.status_changed_at,
            focus_groups,
            notes: p.notes,
        })
    }
}

/// One finding of a visit.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Finding {
    pub at: i64,
    pub by: String,
    pub text: String,
}

/// A visit (走访) to a household or a person.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Visit {
    pub area_code: String,
    /// `Household` or `Person`.
    pub target_kind: Kind,
    pub target_id: String,
    pub visited_at: i64,
    pub visitor: String,
    pub gps: Option<Gps>,
    pub purpose: String,
    pub next_due: Option<String>,
    /// Read-only here: add with `append_finding`.
    pub findings: Vec<Finding>,
    pub notes: String,
}

impl From<core::Visit> for Visit {
    fn from(v: core::Visit) -> Self {
        let (target_kind, target_id) = match v.target {
            core::VisitTarget::Household(id) => (Kind::Household, id),
            core::VisitTarget::Person(id) => (Kind::Person, id),
        };
        Self {
            area_code: v.area_code.to_string(),
            target_kind,
            target_id,
            visited_at: v.visited_at,
            visitor: v.visitor,
            gps: v.gps,
            purpose: v.purpose,
            next_due: v.next_due.map(|d| d.to_string()),
            findings: v.findings.into_iter().map(|f| Finding { at: f.at, by: f.by, text: f.text }).collect(),
            notes: v.notes,
        }
    }
}

impl TryFrom<Visit> for core::Visit {
    type Error = crate::error::GridsyncError;
    fn try_from(v: Visit) -> Result<Self> {
        let target = match v.target_kind {
            Kind::Person => core::VisitTarget::Person(v.target_id),
            _ => core::VisitTarget::Household(v.target_id),
        };
        Ok(Self {
            area_code: area("area_code", &v.area_code)?,
            target,
            visited_at: v.visited_at,
            visitor: v.visitor,
            gps: v.gps,
            purpose: v.purpose,
            next_due: v.next_due.as_deref().map(|d| date("next_due", d)).transpose()?,
            findings: Vec::new(),
            notes: v.notes,
        })
    }
}

/// One entry of an incident's follow-up timeline.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowUp {
    pub id: String,
    pub at: i64,
    pub by: String,
    pub step: Step,
    pub note: String,
    pub deadline: Option<i64>,
    pub supervision: Option<Supervision>,
}

/// An incident (事件). Its status is derived from the timeline.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Incident {
    pub area_code: String,
    /// 事件编号: leave it empty and the store assigns one when the incident is created
    /// (`SJ` + the China date + 8 hex digits of the record id, unique across phones).
    pub service_no: String,
    pub title: String,
    /// 矛盾纠纷/<subtype>, 安全隐患, 环境卫生, 治安, 民生诉求, 公共设施, 其他
    pub categories: Vec<String>,
    pub location: Option<String>,
    pub gps: Option<Gps>,
    pub occurred_at: i64,
    pub people_count: u32,
    pub involved_persons: Vec<String>,
    pub involved_households: Vec<String>,
    /// 重大
    pub major: bool,
    /// Read-only here: add with `append_follow_up`.
    pub timeline: Vec<FollowUp>,
    pub notes: String,
}

impl From<core::Incident> for Incident {
    fn from(i: core::Incident) -> Self {
        Self {
            area_code: i.area_code.to_string(),
            service_no: i.service_no,
            title: i.title,
            categories: i.categories.into_iter().collect(),
            location: i.location,
            gps: i.gps,
            occurred_at: i.occurred_at,
            people_count: i.people_count,
            involved_persons: i.involved_persons.into_iter().collect(),
            involved_households: i.involved_households.into_iter().collect(),
            major: i.major,
            timeline: i
                .timeline
                .into_iter()
                .map(|f| FollowUp {
                    id: f.id,
                    at: f.at,
                    by: f.by,
                    step: f.step,
                    note: f.note,
                    deadline: f.deadline,
                    supervision: f.supervision,
                })
                .collect(),
            notes: i.notes,
        }
    }
}

impl TryFrom<Incident> for core::Incident {
    type Error = crate::error::GridsyncError;
    fn try_from(i: Incident) -> Result<Self> {
        Ok(Self {
            area_code: area("area_code", &i.area_code)?,
            service_no: i.service_no,
            title: i.title,
            categories: i.categories.into_iter().collect::<BTreeSet<_>>(),
            location: i.location,
            gps: i.gps,
            occurred_at: i.occurred_at,
            people_count: i.people_count,
            involved_persons: i.involved_persons.into_iter().collect(),
            involved_households: i.involved_households.into_iter().collect(),
            major: i.major,
            timeline: Vec::new(),
            notes: i.notes,
        })
    }
}

/// A person in a list or search result.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PersonRow {
    pub id: String,
    pub area_code: String,
    pub name: String,
    pub gender: Gender,
    pub birth_date: String,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub household_id: Option<String>,
    pub relationship: Option<String>,
    pub person_type: PersonType,
    pub status: PersonStatus,
}

impl From<store::PersonRow> for PersonRow {
    fn from(r: store::PersonRow) -> Self {
        Self {
            id: r.id,
            area_code: r.area_code,
            name: r.name,
            gender: r.gender,
            birth_date: r.birth_date.to_string(),
            id_number: r.id_number,
            phone: r.phone,
            household_id: r.household_id,
            relationship: r.relationship,
            person_type: r.person_type,
            status: r.status,
        }
    }
}

/// A visit in a list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VisitRow {
    pub id: String,
    pub area_code: String,
    pub target_kind: Kind,
    pub target_id: String,
    pub visited_at: i64,
    pub visitor: String,
    pub purpose: String,
    pub next_due: Option<String>,
    pub findings: u32,
}

impl From<store::VisitRow> for VisitRow {
    fn from(r: store::VisitRow) -> Self {
        let (target_kind, target_id) = match r.target {
            core::VisitTarget::Household(id) => (Kind::Household, id),
            core::VisitTarget::Person(id) => (Kind::Person, id),
        };
        Self {
            id: r.id,
            area_code: r.area_code,
            target_kind,
            target_id,
            visited_at: r.visited_at,
            visitor: r.visitor,
            purpose: r.purpose,
            next_due: r.next_due.map(|d| d.to_string()),
            findings: r.findings,
        }
    }
}

/// One of a conflict's values: `value_json` is the value as JSON (`"幸福路2号"`, `null`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConflictValue {
    pub value_json: String,
    pub device: String,
    pub worker: String,
    pub at: i64,
    /// `at` cannot be true: the device's clock was wrong; show it as doubtful.
    pub time_doubtful: bool,
}

/// A field whose concurrent values differ; resolve with `resolve(id, field, value_json)`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    pub field: String,
    pub values: Vec<ConflictValue>,
}

impl From<doc::Conflict> for Conflict {
    fn from(c: doc::Conflict) -> Self {
        Self {
            field: c.field,
            values: c
                .values
                .into_iter()
                .map(|v| ConflictValue {
                    value_json: v.value.to_string(),
                    device: v.device,
                    worker: v.worker,
                    at: v.at,
                    time_doubtful: v.time_doubtful,
                })
                .collect(),
        }
    }
}

/// Declares a page record: one page of a list and the cursor of the next one (`None`
/// at the end). uniffi records cannot be generic, so each item type gets its own.
macro_rules! page_record {
    ($($name:ident of $item:ty),* $(,)?) => {$(
        #[derive(Debug, Clone, PartialEq, uniffi::Record)]
        pub struct $name {
            pub items: Vec<$item>,
            pub next: Option<String>,
        }
    )*};
}

page_record!(
    HouseholdPage of HouseholdRow,
    PersonPage of PersonRow,
    VisitPage of VisitRow,
    IncidentPage of IncidentRow,
    ConflictedPage of ConflictedRow,
);

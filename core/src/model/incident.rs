//! 事件: an incident reported in a grid and followed through a closed loop.
//!
//! The status is never stored as a free field: it is a fold over the append-only
//! follow-up timeline, so every replica derives the same status and no concurrent step
//! is lost.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{FieldKind::*, Gps, Kind, Millis, Record, Schema, check_opt, field};
use crate::area::AreaCode;
use crate::invalid::{Rule, ValidationError};
use crate::validate::{check_optional_text, check_text};

/// One step of the closed loop (闭环), recorded as a follow-up entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 上报
    Report,
    /// 受理
    Accept,
    /// 回退: back to the reporter for more information.
    Return,
    /// 不予受理
    Decline,
    /// 交办
    Assign,
    /// 分流
    Divert,
    /// 上报上级
    Escalate,
    /// 开始办理
    StartHandling,
    /// 办结
    Complete,
    /// 就地化解: resolved on the spot, still verified.
    ResolveOnSite,
    /// 验证通过
    Verify,
    /// 验证不通过: back to handling.
    VerifyFail,
    /// 回访
    CallBack,
    /// 结案
    Close,
    /// 关闭 (withdrawn, duplicate, invalid)
    Shut,
    /// 重新打开
    Reopen,
    /// 加急
    MarkUrgent,
    /// 督办 (with a [`Supervision`] level)
    Supervise,
    /// 备注: no change of state.
    Comment,
    /// 复核: a person reviewed the steps the merge flagged; clears the review flag.
    Review,
}

/// 督办 levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Supervision {
    /// 普通
    Normal,
    /// 黄牌
    Yellow,
    /// 红牌
    Red,
}

/// The state of an incident in its closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// 草稿
    Draft,
    /// 已上报
    Reported,
    /// 已回退
    Returned,
    /// 不予受理
    Declined,
    /// 已受理
    Accepted,
    /// 已交办
    Assigned,
    /// 已分流
    Diverted,
    /// 已上报上级
    Escalated,
    /// 办理中
    InProgress,
    /// 已办结 (awaiting verification)
    Completed,
    /// 已验证 / 已回访
    Verified,
    /// 已结案
    Closed,
    /// 已关闭
    Shut,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Draft => "draft",
            IncidentStatus::Reported => "reported",
            IncidentStatus::Returned => "returned",
            IncidentStatus::Declined => "declined",
            IncidentStatus::Accepted => "accepted",
            IncidentStatus::Assigned => "assigned",
            IncidentStatus::Diverted => "diverted",
            IncidentStatus::Escalated => "escalated",
            IncidentStatus::InProgress => "in_progress",
            IncidentStatus::Completed => "completed",
            IncidentStatus::Verified => "verified",
            IncidentStatus::Closed => "closed",
            IncidentStatus::Shut => "shut",
        }
    }
}

/// One entry of an incident's follow-up timeline. Entries are never edited or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// A UUIDv7, unique per entry.
    pub id: String,
    pub at: Millis,
    /// The worker (or center user) who took the step.
    pub by: String,
    pub step: Step,
    #[serde(default)]
    pub note: String,
    /// For 交办 / 分流: when handling is due.
    #[serde(default)]
    pub deadline: Option<Millis>,
    /// For 督办: the level.
    #[serde(default)]
    pub supervision: Option<Supervision>,
}

impl FollowUp {
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        check_text("timeline.by", &self.by, 64)?;
        check_optional_text("timeline.note", &self.note, 2_000)?;
        if self.step == Step::Supervise && self.supervision.is_none() {
            return Err(ValidationError::new("timeline.supervision", Rule::SupervisionLevel));
        }
        Ok(())
    }
}

/// Incident categories. `矛盾纠纷` is always given with its subtype, as
/// `矛盾纠纷/邻里纠纷`.
pub const CATEGORIES: &[&str] = &["矛盾纠纷", "安全隐患", "环境卫生", "治安", "民生诉求", "公共设施", "其他"];
pub const DISPUTE_SUBTYPES: &[&str] =
    &["婚姻家庭纠纷", "邻里纠纷", "土地纠纷", "山林纠纷", "劳资纠纷", "物业纠纷", "征地拆迁纠纷", "其他纠纷"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub area_code: AreaCode,
    /// 事件编号. Left empty, the store assigns one when the incident is reported
    /// ([`service_no`]: `SJ20261130-5AD82F1B`).
    pub service_no: String,
    pub title: String,
    /// One or more of [`CATEGORIES`]; disputes as `矛盾纠纷/<subtype>`.
    pub categories: BTreeSet<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub gps: Option<Gps>,
    pub occurred_at: Millis,
    #[serde(default)]
    pub people_count: u32,
    #[serde(default)]
    pub involved_persons: BTreeSet<String>,
    #[serde(default)]
    pub involved_households: BTreeSet<String>,
    /// 重大
    #[serde(default)]
    pub major: bool,
    /// Read-only here: append with `Store::append_follow_up`.
    #[serde(default, deserialize_with = "super::lenient_list")]
    pub timeline: Vec<FollowUp>,
    /// The description; free text that merges character by character.
    #[serde(default)]
    pub notes: String,
}

pub(super) static SCHEMA: Schema = Schema {
    fields: &[
        field("area_code", Scalar),
        field("service_no", Scalar),
        field("title", Scalar),
        field("categories", Set),
        field("location", Scalar),
        field("gps", Json),
        field("occurred_at", Scalar),
        field("people_count", Scalar),
        field("involved_persons", Set),
        field("involved_households", Set),
        field("major", Scalar),
        field("timeline", Timeline),
        field("notes", Text),
    ],
};

impl Record for Incident {
    const KIND: Kind = Kind::Incident;

    fn assign_on_create(&mut self, id: &str, at: Millis) {
        if self.service_no.trim().is_empty() {
            self.service_no = service_no(id, at);
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_text("service_no", &self.service_no, 40)?;
        check_text("title", &self.title, 100)?;
        if self.categories.is_empty() {
            return Err(ValidationError::new("categories", Rule::OneCategory));
        }
        for category in &self.categories {
            check_category(category)?;
        }
        check_opt(self.location.as_deref(), |l| check_optional_text("location", l, 200))?;
        check_opt(self.gps.as_ref(), |g| g.validate("gps"))?;
        if self.people_count > 100_000 {
            return Err(ValidationError::new("people_count", Rule::AtMost { max: 100_000 }));
        }
        for (field, ids) in
            [("involved_persons", &self.involved_persons), ("involved_households", &self.involved_households)]
        {
            if ids.iter().any(|id| uuid::Uuid::parse_str(id).is_err()) {
                return Err(ValidationError::new(field, Rule::RecordId));
            }
        }
        for entry in &self.timeline {
            entry.validate()?;
        }
        check_optional_text("notes", &self.notes, 10_000)
    }

    fn area_code(&self) -> &AreaCode {
        &self.area_code
    }
}

fn check_category(category: &str) -> Result<(), ValidationError> {
    let valid = match category.split_once('/') {
        Some(("矛盾纠纷", subtype)) => DISPUTE_SUBTYPES.contains(&subtype),
        Some(_) => false,
        None => category != "矛盾纠纷" && CATEGORIES.contains(&category),
    };
    if valid { Ok(()) } else { Err(ValidationError::new("categories", Rule::Category)) }
}

impl Incident {
    /// The state derived from the timeline: a fold every replica computes alike.
    pub fn state(&self) -> IncidentState {
        IncidentState::fold(&self.timeline)
    }

    pub fn status(&self) -> IncidentStatus {
        self.state().status
    }
}

/// Why an incident needs a person to look at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewNote {
    /// The timeline entry that did not fit.
    pub entry_id: String,
    pub step: Step,
    /// The status the fold had reached when the entry came.
    pub status: IncidentStatus,
    pub by: String,
}

impl ReviewNote {
    /// A reason a person can read, free of personal data.
    pub fn reason(&self) -> String {
        format!("{:?} by {} does not follow {:?} (concurrent steps)", self.step, self.by, self.status)
    }
}

/// What the timeline fold yields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentState {
    pub status: IncidentStatus,
    /// 加急
    pub urgent: bool,
    /// The highest 督办 level.
    pub supervision: Option<Supervision>,
    /// When handling is due: the deadline of the latest 交办/分流 that took effect.
    pub deadline: Option<Millis>,
    /// Entries that were not legal where they landed in the merged timeline, because
    /// two people took conflicting steps concurrently (one closed while another
    /// escalated). They are kept; a 复核 (`Step::Review`) entry settles them.
    pub review: Vec<ReviewNote>,
}

impl IncidentState {
    /// Folds the timeline in list order. Automerge orders concurrent appends the same
    /// way on every replica and never before an entry their author had seen, so the
    /// fold is deterministic and respects causality.
    pub fn fold(timeline: &[FollowUp]) -> Self {
        let mut state = IncidentState {
            status: IncidentStatus::Draft,
            urgent: false,
            supervision: None,
            deadline: None,
            review: Vec::new(),
        };
        for entry in timeline {
            match entry.step {
                Step::MarkUrgent => state.urgent = true,
                Step::Supervise => state.supervision = state.supervision.max(entry.supervision),
                Step::Review => state.review.clear(),
                Step::Comment => {}
                step => match state.status.after(step) {
                    Some(next) => {
                        if matches!(step, Step::Assign | Step::Divert) {
                            state.deadline = entry.deadline;
                        }
                        state.status = next;
                    }
                    None => state.review.push(ReviewNote {
                        entry_id: entry.id.clone(),
                        step,
                        status: state.status,
                        by: entry.by.clone(),
                    }),
                },
            }
        }
        state
    }

    pub fn needs_review(&self) -> bool {
        !self.review.is_empty()
    }

    /// Whether handling is past its deadline at `now` and not yet done.
    pub fn overdue(&self, now: Millis) -> bool {
        self.deadline.is_some_and(|d| d < now) && !self.status.is_settled()
    }
}

impl IncidentStatus {
    /// The status after `step`, or `None` when the step is not legal here. Flags,
    /// comments and reviews are legal everywhere and leave the status alone.
    pub fn after(self, step: Step) -> Option<IncidentStatus> {
        use IncidentStatus as S;
        let next = match (self, step) {
            (_, Step::MarkUrgent | Step::Supervise | Step::Comment | Step::Review) => self,
            (S::Draft | S::Returned, Step::Report) => S::Reported,
            (S::Draft | S::Reported | S::Accepted, Step::ResolveOnSite) => S::Completed,
            (S::Reported, Step::Accept) => S::Accepted,
            (S::Reported, Step::Return) => S::Returned,
            (S::Reported, Step::Decline) => S::Declined,
            (S::Accepted | S::Assigned | S::Diverted | S::Escalated, Step::Assign) => S::Assigned,
            (S::Accepted | S::Assigned, Step::Divert) => S::Diverted,
            (S::Accepted | S::Assigned | S::Diverted | S::InProgress, Step::Escalate) => S::Escalated,
            (S::Accepted | S::Assigned | S::Diverted | S::Escalated, Step::StartHandling) => S::InProgress,
            (S::InProgress, Step::Complete) => S::Completed,
            (S::Completed, Step::Verify) => S::Verified,
            (S::Completed, Step::VerifyFail) => S::InProgress,
            (S::Completed | S::Verified, Step::CallBack) => S::Verified,
            (S::Verified, Step::Close) => S::Closed,
            (S::Closed, Step::Reopen) => S::InProgress,
            (S::Declined | S::Shut, Step::Reopen) => S::Reported,
            (status, Step::Shut) if !status.is_final() => S::Shut,
            _ => return None,
        };
        Some(next)
    }

    /// The steps a person may take from here, for the app to offer.
    pub fn next_steps(self) -> Vec<Step> {
        ALL_STEPS.iter().copied().filter(|step| self.after(*step).is_some()).collect()
    }

    /// Closed, shut or declined: the loop has ended (until reopened).
    pub fn is_final(self) -> bool {
        matches!(self, IncidentStatus::Closed | IncidentStatus::Shut | IncidentStatus::Declined)
    }

    /// No handling is outstanding: the deadline no longer applies.
    pub fn is_settled(self) -> bool {
        self.is_final() || matches!(self, IncidentStatus::Completed | IncidentStatus::Verified)
    }
}

/// Every step, in loop order.
pub const ALL_STEPS: &[Step] = &[
    Step::Report,
    Step::Accept,
    Step::Return,
    Step::Decline,
    Step::Assign,
    Step::Divert,
    Step::Escalate,
    Step::StartHandling,
    Step::Complete,
    Step::ResolveOnSite,
    Step::Verify,
    Step::VerifyFail,
    Step::CallBack,
    Step::Close,
    Step::Shut,
    Step::Reopen,
    Step::MarkUrgent,
    Step::Supervise,
    Step::Comment,
    Step::Review,
];

/// Every status, in loop order.
pub const ALL_STATUSES: &[IncidentStatus] = &[
    IncidentStatus::Draft,
    IncidentStatus::Reported,
    IncidentStatus::Returned,
    IncidentStatus::Declined,
    IncidentStatus::Accepted,
    IncidentStatus::Assigned,
    IncidentStatus::Diverted,
    IncidentStatus::Escalated,
    IncidentStatus::InProgress,
    IncidentStatus::Completed,
    IncidentStatus::Verified,
    IncidentStatus::Closed,
    IncidentStatus::Shut,
];

/// An incident's service number (事件编号) as a phone assigns it offline: `SJ`, the China
/// date of the report and the last 8 hex digits of its record id (random in a UUIDv7),
/// e.g. `SJ20261130-5AD82F1B`. Unique across phones without a counter to share: a
/// township reporting 100 incidents a day sees two alike about once in 860,000 days.
pub fn service_no(id: &str, at: Millis) -> String {
    let (year, month, day) = crate::time::civil_from_days(crate::time::china_day(at));
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &hex[hex.len().saturating_sub(8)..];
    format!("SJ{year:04}{month:02}{day:02}-{}", tail.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32, step: Step) -> FollowUp {
        FollowUp {
            id: format!("e{n}"),
            at: i64::from(n),
            by: "w".into(),
            step,
            note: String::new(),
            deadline: (step == Step::Assign).then_some(1_000),
            supervision: (step == Step::Supervise).then_some(Supervision::Yellow),
        }
    }

    fn fold(steps: &[Step]) -> IncidentState {
        let timeline: Vec<_> = steps.iter().enumerate().map(|(n, s)| entry(n as u32, *s)).collect();
        IncidentState::fold(&timeline)
    }

    #[test]
    fn the_closed_loop() {
        use Step::*;
        let state = fold(&[Report, Accept, MarkUrgent, Assign, StartHandling, Complete, VerifyFail]);
        assert_eq!(state.status, IncidentStatus::InProgress);
        assert!(state.urgent && state.overdue(2_000) && !state.overdue(500));
        let state = fold(&[Report, Accept, Assign, StartHandling, Complete, Verify, CallBack, Close]);
        assert_eq!(state.status, IncidentStatus::Closed);
        assert!(!state.needs_review() && !state.overdue(2_000));
        assert_eq!(fold(&[Report, ResolveOnSite, Verify, Close]).status, IncidentStatus::Closed);
        assert_eq!(fold(&[Report, Return, Report, Decline]).status, IncidentStatus::Declined);
        assert_eq!(fold(&[Report, Supervise]).supervision, Some(Supervision::Yellow));
        assert_eq!(
            IncidentStatus::Draft.next_steps(),
            [Report, ResolveOnSite, Shut, MarkUrgent, Supervise, Comment, Review]
        );
    }

    #[test]
    fn conflicting_concurrent_steps_are_kept_and_flagged() {
        use Step::*;
        // One worker closed while another escalated from the same point.
        let state = fold(&[Report, Accept, StartHandling, Complete, Verify, Close, Escalate]);
        assert_eq!(state.status, IncidentStatus::Closed);
        assert_eq!(state.review.len(), 1);
        assert_eq!(state.review[0].step, Escalate);
        assert!(state.review[0].reason().contains("Escalate"));
        // A review settles it.
        let state = fold(&[Report, Accept, StartHandling, Complete, Verify, Close, Escalate, Review]);
        assert!(!state.needs_review());
    }
}

//! 事件: an incident reported in a grid and followed through a closed loop.
//!
//! The status is never stored as a free field: it is a fold over the append-only
//! follow-up timeline, so every replica derives the same status and no concurrent step
//! is lost.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{FieldKind::*, Gps, Kind, Millis, Record, Schema, check_opt, field};
use crate::area::AreaCode;
use crate::error::ValidationError;
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
            return Err(ValidationError::new("timeline.supervision", "is required for 督办"));
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
    /// 事件编号, assigned by the reporting phone (device prefix + counter) or the center.
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

    fn validate(&self) -> Result<(), ValidationError> {
        check_text("service_no", &self.service_no, 40)?;
        check_text("title", &self.title, 100)?;
        if self.categories.is_empty() {
            return Err(ValidationError::new("categories", "at least one category is required"));
        }
        for category in &self.categories {
            check_category(category)?;
        }
        check_opt(self.location.as_deref(), |l| check_optional_text("location", l, 200))?;
        check_opt(self.gps.as_ref(), |g| g.validate("gps"))?;
        if self.people_count > 100_000 {
            return Err(ValidationError::new("people_count", "must be at most 100000"));
        }
        for (field, ids) in
            [("involved_persons", &self.involved_persons), ("involved_households", &self.involved_households)]
        {
            if ids.iter().any(|id| uuid::Uuid::parse_str(id).is_err()) {
                return Err(ValidationError::new(field, "must list record ids"));
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
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            "categories",
            "must be one of 矛盾纠纷/<subtype>, 安全隐患, 环境卫生, 治安, 民生诉求, 公共设施, 其他",
        ))
    }
}

impl Incident {
    /// The status derived from the timeline: a fold every replica computes alike.
    pub fn status(&self) -> IncidentStatus {
        self.timeline.iter().fold(IncidentStatus::Draft, |status, entry| apply(status, entry.step))
    }

    /// 加急: any 加急 step in the timeline.
    pub fn urgent(&self) -> bool {
        self.timeline.iter().any(|e| e.step == Step::MarkUrgent)
    }

    /// The highest 督办 level in the timeline.
    pub fn supervision(&self) -> Option<Supervision> {
        self.timeline.iter().filter_map(|e| e.supervision).max()
    }

    /// The deadline of the latest 交办/分流, if any.
    pub fn deadline(&self) -> Option<Millis> {
        self.timeline.iter().rev().find_map(|e| e.deadline)
    }
}

/// The status after `step`. Flags and comments leave it unchanged.
fn apply(status: IncidentStatus, step: Step) -> IncidentStatus {
    use IncidentStatus as S;
    match step {
        Step::Report => S::Reported,
        Step::Accept => S::Accepted,
        Step::Return => S::Returned,
        Step::Decline => S::Declined,
        Step::Assign => S::Assigned,
        Step::Divert => S::Diverted,
        Step::Escalate => S::Escalated,
        Step::StartHandling | Step::VerifyFail | Step::Reopen => S::InProgress,
        Step::Complete | Step::ResolveOnSite => S::Completed,
        Step::Verify | Step::CallBack => S::Verified,
        Step::Close => S::Closed,
        Step::Shut => S::Shut,
        Step::MarkUrgent | Step::Supervise | Step::Comment => status,
    }
}

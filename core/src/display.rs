//! What a township person reads: the Chinese names of the codes records hold (statuses,
//! steps, types), and times in China Standard Time. One table, used by the center's
//! exports and the console, and by the bindings for the apps.

use crate::model::{
    HouseholdType, Housing, IdType, IncidentStatus, Kind, Millis, PersonStatus, PersonType, Step, Supervision,
};
use crate::validate::Gender;

/// The Chinese name of a code, as shown to people.
pub trait Zh {
    fn zh(&self) -> &'static str;
}

impl Zh for Kind {
    fn zh(&self) -> &'static str {
        match self {
            Kind::Household => "户",
            Kind::Person => "人口",
            Kind::Visit => "走访",
            Kind::Incident => "事件",
        }
    }
}

impl Zh for Gender {
    fn zh(&self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

impl Zh for HouseholdType {
    fn zh(&self) -> &'static str {
        match self {
            HouseholdType::Family => "家庭户",
            HouseholdType::Collective => "集体户",
        }
    }
}

impl Zh for Housing {
    fn zh(&self) -> &'static str {
        match self {
            Housing::Owned => "自有",
            Housing::Rented => "租赁",
            Housing::Other => "其他",
        }
    }
}

impl Zh for IdType {
    fn zh(&self) -> &'static str {
        match self {
            IdType::ResidentId => "居民身份证",
            IdType::Passport => "护照",
            IdType::HkMacaoPermit => "港澳居民来往内地通行证",
            IdType::TaiwanPermit => "台湾居民来往大陆通行证",
            IdType::ForeignPermanentResident => "外国人永久居留身份证",
            IdType::Other => "其他证件",
        }
    }
}

impl Zh for PersonType {
    fn zh(&self) -> &'static str {
        match self {
            PersonType::Registered => "户籍人口",
            PersonType::Floating => "流动人口",
            PersonType::Overseas => "境外人员",
        }
    }
}

impl Zh for PersonStatus {
    fn zh(&self) -> &'static str {
        match self {
            PersonStatus::Active => "在册",
            PersonStatus::MovedOut => "迁出",
            PersonStatus::Deceased => "死亡",
        }
    }
}

impl Zh for IncidentStatus {
    fn zh(&self) -> &'static str {
        match self {
            IncidentStatus::Draft => "草稿",
            IncidentStatus::Reported => "待受理",
            IncidentStatus::Returned => "已回退",
            IncidentStatus::Declined => "不予受理",
            IncidentStatus::Accepted => "已受理",
            IncidentStatus::Assigned => "已交办",
            IncidentStatus::Diverted => "已分流",
            IncidentStatus::Escalated => "已上报上级",
            IncidentStatus::InProgress => "办理中",
            IncidentStatus::Completed => "待回访",
            IncidentStatus::Verified => "已回访",
            IncidentStatus::Closed => "已结案",
            IncidentStatus::Shut => "已关闭",
        }
    }
}

impl Zh for Step {
    fn zh(&self) -> &'static str {
        match self {
            Step::Report => "上报",
            Step::Accept => "受理",
            Step::Return => "回退",
            Step::Decline => "不予受理",
            Step::Assign => "交办",
            Step::Divert => "分流",
            Step::Escalate => "上报上级",
            Step::StartHandling => "开始办理",
            Step::Complete => "办结",
            Step::ResolveOnSite => "就地化解",
            Step::Verify => "验证通过",
            Step::VerifyFail => "验证不通过",
            Step::CallBack => "回访",
            Step::Close => "结案",
            Step::Shut => "关闭",
            Step::Reopen => "重新打开",
            Step::MarkUrgent => "加急",
            Step::Supervise => "督办",
            Step::Comment => "备注",
            Step::Review => "复核",
        }
    }
}

impl Zh for Supervision {
    fn zh(&self) -> &'static str {
        match self {
            Supervision::Normal => "普通督办",
            Supervision::Yellow => "黄牌督办",
            Supervision::Red => "红牌督办",
        }
    }
}

/// `是` or `否`.
pub fn yes_no(value: bool) -> &'static str {
    if value { "是" } else { "否" }
}

/// A time (ms since 1970 UTC) as `YYYY-MM-DD HH:MM` in China Standard Time (UTC+8, no
/// daylight saving), as the township reads it.
pub fn china_time(at: Millis) -> String {
    let seconds = at.div_euclid(1000) + 8 * 3600;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil: proleptic Gregorian, exact for every i64 day.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", of_day / 3600, of_day % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_time_is_utc_plus_eight() {
        assert_eq!(china_time(0), "1970-01-01 08:00");
        // 2026-01-01T00:00:00Z is 08:00 in Beijing; 2024-02-29T16:30Z is 03-01 00:30.
        assert_eq!(china_time(1_767_225_600_000), "2026-01-01 08:00");
        assert_eq!(china_time(1_709_224_200_000), "2024-03-01 00:30");
    }

    #[test]
    fn every_status_and_step_has_a_distinct_name() {
        let statuses: std::collections::BTreeSet<_> = crate::model::ALL_STATUSES.iter().map(Zh::zh).collect();
        assert_eq!(statuses.len(), crate::model::ALL_STATUSES.len());
        let steps: std::collections::BTreeSet<_> = crate::model::ALL_STEPS.iter().map(Zh::zh).collect();
        // 不予受理 names both the step and the status it leads to; steps are distinct.
        assert_eq!(steps.len(), crate::model::ALL_STEPS.len());
    }
}

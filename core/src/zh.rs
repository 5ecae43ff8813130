//! What a township person reads: the Chinese names of the codes records hold (statuses,
//! steps, types), and times in China Standard Time. One table, used by the center's
//! exports and the console, and by the bindings for the apps.

use crate::error::Error;
use crate::invalid::ValidationError;
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

impl Zh for crate::roles::Role {
    fn zh(&self) -> &'static str {
        use crate::roles::Role;
        match self {
            Role::GridWorker => "网格员",
            Role::GridChief => "网格长",
            Role::Dispatcher => "调度员",
            Role::Leader => "领导",
            Role::Admin => "管理员",
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

impl Zh for crate::sync::wire::RejectCode {
    /// Why the center refused a change, as the grid worker reads it in the list of
    /// refused changes: what went wrong and, where the worker can act, what to do.
    fn zh(&self) -> &'static str {
        use crate::sync::wire::RejectCode::*;
        match self {
            OutOfScope => "不在本设备负责的区域内，中心未接收",
            Invalid => "记录内容不符合登记规则，请打开记录核对后重新保存",
            MissingDependencies => "这条修改之前的修改没有到达中心，同步后会再试",
            WrongAuthor => "修改不是本设备做出的，中心未接收",
            WrongKind => "记录类型不符，中心未接收",
            Malformed => "数据已损坏，中心未接收，请联系管理员",
            TooLarge => "记录或修改超出中心的大小限制",
            NotFromGenesis => "记录不是按规定方式建立的，中心未接收",
            Immutable => "改动了不允许修改的内容（类型、版本或已有照片）",
            BadShape => "记录结构不符合规定，中心未接收",
            TimelineRewritten => "处置过程只能追加，不能删除或改写",
            UnknownStep => "中心不认识这个办理步骤，请升级应用",
            IllegalStep => "事件当前的状态下不能办理这一步",
            WrongWorker => "修改记在了别的网格员名下，中心未接收",
            BadRecordId => "记录编号格式不对，中心未接收",
            IdNumberMismatch => "身份证号与记录不符：身份证号登记后不能修改，请重新登记",
            StepNotAllowed => "这一步不由本岗位办理",
            Unknown => "中心拒收了这条修改",
        }
    }
}

/// What the grid worker reads about a change the center refused with `code` (as the
/// wire names it) and `reason` (the center's English): the code's Chinese reason, and
/// for a code this build does not know (a newer center), the center's own words too.
pub fn refusal_zh(code: &str, reason: &str) -> String {
    match crate::sync::wire::RejectCode::parse(code) {
        crate::sync::wire::RejectCode::Unknown => format!("{}：{reason}", crate::sync::wire::RejectCode::Unknown.zh()),
        known => known.zh().to_owned(),
    }
}

impl ValidationError {
    /// What a grid worker reads: the field's Chinese name and the rule in Chinese.
    pub fn zh(&self) -> String {
        format!("{}：{}", field_zh(self.field).unwrap_or(self.field), self.kind.zh())
    }
}

impl Error {
    /// What a grid worker reads, in Chinese: what happened and what to do. Never a value
    /// the worker typed.
    pub fn zh(&self) -> String {
        let kind_zh = |kind: &str| Kind::parse(kind).map_or("记录", |k| k.zh());
        match self {
            Error::Invalid(v) => v.zh(),
            Error::WrongKey => "密钥不对，或这不是本应用的数据库；文件没有改动".into(),
            Error::NotFound { kind, .. } => format!("找不到这条{}记录", kind_zh(kind)),
            Error::AlreadyExists { kind, .. } => format!("这条{}已经登记过，请打开已有的记录", kind_zh(kind)),
            Error::OutOfScope { .. } => "不在本设备负责的区域内".into(),
            Error::IllegalStep { step, status } => {
                format!("事件当前为“{}”，不能“{}”", status.zh(), step.zh())
            }
            Error::StepNotYours { step, role } => format!("“{}”不由{}办理", step.zh(), role.zh()),
            Error::WrongKind { expected, actual, .. } => {
                format!("这条记录是{}，不是{}", kind_zh(actual), kind_zh(expected))
            }
            Error::NotConfigured(_) | Error::NotEnrolled => "本设备还没有在综治中心注册，请先扫码注册".into(),
            Error::SchemaTooNew { .. } => "数据库来自更新的应用版本，请升级应用".into(),
            Error::PhotoQuotaFull { quota, .. } => {
                format!("待上传的照片已达{}MB上限，这张没有保存；同步后再添加", quota >> 20)
            }
            Error::StorageFull => "手机存储空间已满，这次没有保存；清理空间后再试".into(),
            Error::Storage { .. } => "保存出错，这次没有保存；请重试".into(),
            Error::RateLimited { .. } => "同步太频繁，稍后会自动继续".into(),
            Error::TooLarge(_) => "数据太大，综治中心不接收".into(),
            Error::Document(_) => "这条记录无法读取".into(),
            Error::Network { retryable: true, .. } => "网络不通，恢复后会自动同步；已录入的内容都保存在手机上".into(),
            Error::Network { retryable: false, .. } => "连不上综治中心，请检查中心地址和证书".into(),
            Error::Protocol(_) => "综治中心的应答无法识别，请升级应用".into(),
            Error::Unauthorized(_) => "综治中心拒绝了本设备：注册码无效、过期或已用过".into(),
            Error::Revoked { wipe: false } => "本设备已被综治中心停用".into(),
            Error::Revoked { wipe: true } => "本设备已被综治中心停用，手机上的数据已按要求清除".into(),
            Error::Cancelled => "同步已取消，已完成的部分都已保存".into(),
        }
    }
}

/// The Chinese name of a record field (or of a part of one, `focus_groups.until`), as a
/// form labels it; `None` for a name gridsync does not know.
/// A top-level field as a form labels it in Chinese: a photo as 照片, a key a newer
/// version wrote as it is (what a record's history shows).
pub fn field_label_zh(field: &str) -> String {
    let known = if field.starts_with(crate::model::ATTACHMENT_KEY_PREFIX) { Some("照片") } else { field_zh(field) };
    known.map_or_else(|| field.to_owned(), str::to_owned)
}

pub fn field_zh(field: &str) -> Option<&'static str> {
    Some(match field {
        "area_code" => "所属区域",
        "household_no" => "户号",
        "household_type" => "户别",
        "address" => "地址",
        "gps" => "位置",
        "residence_matches" => "人户一致",
        "housing" => "住房情况",
        "tags" => "标签",
        "phone" => "联系电话",
        "notes" => "备注",
        "name" => "姓名",
        "former_name" => "曾用名",
        "id_type" => "证件类型",
        "id_number" => "证件号码",
        "gender" => "性别",
        "ethnicity" => "民族",
        "birth_date" => "出生日期",
        "household_id" => "所在户",
        "relationship" => "与户主关系",
        "person_type" => "人口类型",
        "registered_address" => "户籍地址",
        "current_address" => "现住地址",
        "occupation" => "职业",
        "status" => "状态",
        "status_changed_at" => "状态变更时间",
        "focus_groups" => "重点人群",
        "focus_groups.worker" => "重点人群责任人",
        "focus_groups.from" => "重点人群起始日期",
        "focus_groups.until" => "重点人群结束日期",
        "target" => "走访对象",
        "visited_at" => "走访时间",
        "visitor" => "走访人",
        "purpose" => "走访事由",
        "next_due" => "下次走访日期",
        "findings" => "走访发现",
        "findings.by" => "记录人",
        "findings.text" => "发现内容",
        "photo" => "照片",
        "attachment" => "照片",
        "attachment.hash" => "照片",
        "attachment.thumbnail" => "照片缩略图",
        "attachment.media_type" => "照片格式",
        "attachment.width" => "照片尺寸",
        "attachment.caption" => "照片说明",
        "attachment.added_by" => "添加人",
        "service_no" => "事件编号",
        "title" => "事件标题",
        "categories" => "事件类别",
        "location" => "发生地点",
        "occurred_at" => "发生时间",
        "people_count" => "涉及人数",
        "involved_persons" => "涉及人员",
        "involved_households" => "涉及户",
        "major" => "重大事件",
        "timeline" => "办理记录",
        "timeline.by" => "办理人",
        "timeline.note" => "办理意见",
        "timeline.supervision" => "督办级别",
        "deleted" => "删除标记",
        "read_at" => "读取版本",
        "field" => "字段",
        "scope" => "管辖范围",
        "area_prefix" => "区域",
        "page.after" => "翻页位置",
        "township_key" => "乡镇密钥",
        "key" => "数据库密钥",
        "code" => "区划代码",
        "value_json" => "取值",
        "enrolment_link" => "注册二维码",
        _ => return None,
    })
}

/// `是` or `否`.
pub fn yes_no(value: bool) -> &'static str {
    if value { "是" } else { "否" }
}

/// A time (ms since 1970 UTC) as `YYYY-MM-DD HH:MM` in China Standard Time (UTC+8, no
/// daylight saving), as the township reads it.
pub fn china_time(at: Millis) -> String {
    let seconds = crate::time::china_seconds(at);
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = crate::time::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", of_day / 3600, of_day % 3600 / 60)
}

/// A time as people at the township type it, `YYYY-MM-DD HH:MM` (or with `T`, as a
/// browser's datetime field sends it), in China Standard Time; `None` when it is not one.
pub fn parse_china_time(text: &str) -> Option<Millis> {
    let (date, time) = text.trim().split_once([' ', 'T'])?;
    let date = crate::validate::Date::parse("time", date).ok()?;
    let (hours, minutes) = time.split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.get(..2)?.parse().ok()?);
    if !(0..24).contains(&hours) || !(0..60).contains(&minutes) {
        return None;
    }
    let days = crate::time::days_from_civil(i64::from(date.year), i64::from(date.month), i64::from(date.day));
    Some((days * 86_400 + hours * 3_600 + minutes * 60 - 8 * 3_600) * 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_china_times_read_back() {
        assert_eq!(parse_china_time("2026-01-01 08:00"), Some(1_767_225_600_000));
        assert_eq!(parse_china_time("2024-03-01T00:30"), Some(1_709_224_200_000));
        for at in [0, 1_709_224_200_000, 1_767_225_600_000, 4_102_444_800_000] {
            assert_eq!(parse_china_time(&china_time(at)), Some(at));
        }
        assert_eq!(parse_china_time("2026-02-30 08:00"), None);
        assert_eq!(parse_china_time("2026-01-01 24:00"), None);
        assert_eq!(parse_china_time("明天"), None);
    }

    #[test]
    fn china_time_is_utc_plus_eight() {
        assert_eq!(china_time(0), "1970-01-01 08:00");
        // 2026-01-01T00:00:00Z is 08:00 in Beijing; 2024-02-29T16:30Z is 03-01 00:30.
        assert_eq!(china_time(1_767_225_600_000), "2026-01-01 08:00");
        assert_eq!(china_time(1_709_224_200_000), "2024-03-01 00:30");
    }

    #[test]
    fn every_field_of_every_kind_has_a_chinese_name() {
        for kind in Kind::ALL {
            for field in kind.schema().fields {
                assert!(field_zh(field.name).is_some(), "{kind}.{}", field.name);
            }
        }
    }

    #[test]
    fn every_refusal_has_its_own_chinese_reason() {
        use crate::sync::wire::RejectCode;
        let codes = RejectCode::ALL;
        let reasons: std::collections::BTreeSet<_> = codes.iter().map(Zh::zh).collect();
        assert_eq!(reasons.len(), codes.len());
        assert!(reasons.iter().all(|r| !r.is_ascii()));
        assert_eq!(refusal_zh("step_not_allowed", "step accept is not a grid worker's"), "这一步不由本岗位办理");
        // A code from a newer center: nothing to translate, so the center's words show.
        assert_eq!(refusal_zh("photo_too_blurry", "the photo is blurred"), "中心拒收了这条修改：the photo is blurred");
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

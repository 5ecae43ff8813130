//! The one error type of gridsync-core.
//!
//! Messages never carry personal data: validation errors name the field and the rule,
//! never the value, and SQLite errors are reduced to their result code because
//! rusqlite's messages can quote row values.

use std::fmt;

/// A field failed a validation rule. `field` is the record field's name as it appears in
/// the data model (`id_number`, `phone`, `area_code`…); `rule` says what was expected,
/// in English; `kind` is the rule itself, whose stable code and Chinese text the apps
/// and the console show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: &'static str,
    pub rule: String,
    pub kind: Rule,
}

impl ValidationError {
    pub fn new(field: &'static str, kind: Rule) -> Self {
        Self { field, rule: kind.en(), kind }
    }

    /// The stable code of this failure: `<field>.<rule>`, e.g. `id_number.checksum`.
    pub fn code(&self) -> String {
        format!("{}.{}", self.field, self.kind.code())
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.rule)
    }
}

/// Declares the validation rules: variant, stable code, English and Chinese text.
macro_rules! rules {
    ($($variant:ident $({ $($arg:ident: $ty:ty),* })? => $code:literal, $en:expr, $zh:expr;)*) => {
        /// Every rule a value can break. Codes are stable: apps and the console key their
        /// messages on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Rule {
            $($variant $({ $($arg: $ty),* })?),*
        }

        impl Rule {
            /// One of each rule (with sample arguments), for tests of the message tables.
            pub const SAMPLES: &'static [Rule] = &[$(Rule::$variant $({ $($arg: 1),* })?),*];

            pub fn code(&self) -> &'static str {
                match self { $(Rule::$variant { .. } => $code),* }
            }

            /// What the rule expects, in English.
            #[allow(unused_variables)]
            pub fn en(&self) -> String {
                match *self { $(Rule::$variant $({ $($arg),* })? => $en.to_string()),* }
            }

            /// What the rule expects, in Chinese, for a grid worker or township staff.
            #[allow(unused_variables)]
            pub fn zh(&self) -> String {
                match *self { $(Rule::$variant $({ $($arg),* })? => $zh.to_string()),* }
            }
        }
    };
}

rules! {
    Required => "required", "is required", "必须填写";
    TooLong { max: usize } => "too_long", format!("must be at most {max} characters"), format!("不能超过{max}个字");
    ControlCharacters => "control_characters", "must not contain control characters", "不能含有控制字符";
    AtMost { max: usize } => "at_most", format!("must be at most {max}"), format!("不能大于{max}");
    AreaDigits => "area_digits", "area code must be digits only", "区划代码只能是数字";
    AreaLength => "area_length",
        "area code must have 12 (township/village), 15 (grid) or 17 (micro-grid) digits",
        "区划代码须为12位（乡镇、村）、15位（网格）或17位（微网格）";
    ProvinceCode => "province_code", "must start with the code of a province-level division (GB/T 2260)", "须以省级行政区划代码开头";
    ScopePrefix => "scope_prefix", "each prefix must be 2 to 17 digits of an area code", "每个范围前缀须为2到17位区划代码";
    AreaPrefix => "area_prefix", "must be at most 17 digits of an area code", "须为不超过17位的区划代码";
    Month => "month", "month must be 1–12", "月份须为1–12";
    Year => "year", "year must be 1900–2999", "年份须在1900–2999之间";
    Day => "day", "day does not exist in that month", "该月没有这一天";
    DateFormat => "date_format", "date must be written YYYY-MM-DD", "日期须写作YYYY-MM-DD";
    IdLength => "length", "ID number must have 18 characters (GB 11643)", "公民身份号码须为18位（GB 11643）";
    IdDigits => "digits", "ID number's first 17 characters must be digits", "公民身份号码前17位须为数字";
    IdSpace => "space", "ID number must not contain spaces", "公民身份号码中间不能有空格";
    IdChecksum => "checksum",
        "ID number check character is wrong (ISO 7064 MOD 11-2, GB 11643)",
        "公民身份号码校验码不对，请核对（GB 11643）";
    IdBirthDate => "birth_date", "ID number encodes a birth date that does not exist", "公民身份号码中的出生日期不存在";
    IdBirthDateFuture => "birth_date_future",
        "ID number encodes a birth date in the future",
        "公民身份号码中的出生日期晚于今天";
    PhoneFormat => "format",
        "phone must be an 11-digit mobile number starting 13–19, or a landline 0xxx-xxxxxxxx",
        "须为13–19开头的11位手机号，或带区号的固定电话（如0xxx-xxxxxxxx）";
    GpsRange => "range", "latitude must be within ±90 and longitude within ±180", "纬度须在±90之间，经度须在±180之间";
    MatchesIdNumber => "matches_id_number", "must match the ID number", "须与公民身份号码一致";
    EthnicityCode => "code", "must be a GB 3304 code (01–56, 97, 98)", "须为GB 3304民族代码（01–56、97、98）";
    RelationshipCode => "code", "must be a GB/T 4761 code", "须为GB/T 4761家庭关系代码";
    RecordId => "record_id", "must be a record id", "须为记录编号";
    UntilBeforeFrom => "until_before_from", "must not be before `from`", "结束日期不能早于开始日期";
    SupervisionLevel => "supervision_level", "is required for 督办", "督办须选择督办级别";
    OneCategory => "at_least_one", "at least one category is required", "至少选择一个类别";
    Category => "category",
        "must be one of 矛盾纠纷/<subtype>, 安全隐患, 环境卫生, 治安, 民生诉求, 公共设施, 其他",
        "须为矛盾纠纷/<子类>、安全隐患、环境卫生、治安、民生诉求、公共设施或其他";
    ReadAtEmpty => "empty", "must hold the heads the record was read at", "须为读取记录时的版本";
    ReadAtMalformed => "malformed", "must be the record's heads as read (hex change hashes)", "须为读取记录时的版本（十六进制）";
    ReadAtUnknown => "unknown", "names a change this record does not have", "不是这条记录的版本";
    ConflictField => "conflict_field", "must name a field that can hold a conflict", "须为可能有冲突的字段";
    KeyBytes { bytes: usize } => "key_bytes", format!("must be {bytes} or more random bytes"), format!("须为至少{bytes}字节的随机密钥");
    KeyLength { bytes: usize } => "key_length", format!("must be {bytes} random bytes from the platform keystore"), format!("须为{bytes}字节的随机密钥（来自系统密钥库）");
    PageCursor => "cursor", "must be a cursor returned by a previous page", "须为上一页返回的位置";
    Json => "json", "must be JSON", "须为JSON";
    PhotoFormat => "photo_format", "must be a JPEG or PNG photo", "须为JPEG或PNG格式的照片";
    PhotoPixels { max: usize } => "photo_pixels",
        format!("must have at most {max} million pixels"),
        format!("照片不能超过{max}百万像素");
    PhotoMediaType => "photo_media_type", "must be image/jpeg (phones re-encode every photo)", "须为image/jpeg格式";
    PhotoBytes { max: usize } => "photo_bytes", format!("must be at most {max} MB"), format!("照片不能超过{max}MB");
    PhotoCount { max: usize } => "photo_count", format!("a record holds at most {max} photos"), format!("每条记录最多{max}张照片");
    PhotoKind => "photo_kind", "only incidents and visits hold photos", "只有事件和走访可以附照片";
    BlobHash => "blob_hash", "must be a SHA-256 in lower-case hex", "须为小写十六进制的SHA-256";
    EnrolmentLink => "format",
        "must be a gridsync-enrol:v1 link, as the QR code on the township console's 设备 page holds",
        "须为综治中心“设备”页上显示的二维码（gridsync-enrol:v1开头）";
    IdNumberFixed => "fixed",
        "never changes on a registered person: register the person under the correct number, then delete this record",
        "已登记人员的证件号码不能修改：请用正确的号码重新登记，再删除这条记录";
}

impl std::error::Error for ValidationError {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// The key does not open this database (or the file is not a gridsync database).
    /// The file is left untouched.
    #[error("wrong key, or not a gridsync database")]
    WrongKey,

    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },

    /// A record with this id exists already (e.g. a person registered before with the
    /// same identity document): open it instead.
    #[error("{kind} {id} exists already")]
    AlreadyExists { kind: &'static str, id: String },

    /// The area is outside the scope this device may see and change. `area` is the
    /// area code refused ("" when the center did not say which).
    #[error("{field} {area} is outside this device's scope")]
    OutOfScope { field: &'static str, area: String },

    /// The incident's closed loop does not allow this step from its current status.
    #[error("step {step:?} is not allowed while the incident is {status:?}")]
    IllegalStep { step: crate::model::Step, status: crate::model::IncidentStatus },

    /// The step is not this worker's role's to take (docs/merge.md, "Roles").
    #[error("step {step:?} is not a {}'s to take", role.as_str())]
    StepNotYours { step: crate::model::Step, role: crate::roles::Role },

    /// The record's kind differs from the one the caller asked for.
    #[error("record {id} is a {actual}, not a {expected}")]
    WrongKind { id: String, expected: &'static str, actual: String },

    /// The store lacks a setting this operation needs (e.g. the township key before a
    /// person with an ID number can be registered). Enrolment provides it.
    #[error("not configured: {0}")]
    NotConfigured(&'static str),

    /// The database is newer than this build understands.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },

    /// The photos waiting to reach the center fill the store's quota: nothing was
    /// written. A sync frees it.
    #[error("photo quota full: {pending} of {quota} bytes wait for upload")]
    PhotoQuotaFull { pending: u64, quota: u64 },

    /// The device's storage is full. Nothing was written; retry when space returns.
    #[error("storage full: nothing was written")]
    StorageFull,

    /// SQLite failed; only the result code is kept (see module docs).
    #[error("storage error ({code}): {context}")]
    Storage { code: String, context: &'static str },

    /// The center asked this device to slow down; retry after the given time.
    #[error("rate limited by the center: retry in {retry_after:?}")]
    RateLimited { retry_after: std::time::Duration },

    /// A request is over a documented limit (changes per batch, bytes per change or
    /// batch, records per fetch).
    #[error("too large: {0}")]
    TooLarge(String),

    /// A stored or received automerge document or change could not be read.
    #[error("document error: {0}")]
    Document(String),

    /// The device has not enrolled with a center yet: enrol it with a one-time code from
    /// the township.
    #[error("not enrolled with a center: enrol this device with a one-time code from the township first")]
    NotEnrolled,

    /// The center could not be reached or failed; `retryable` says whether trying again
    /// later can help.
    #[error("network error ({}): {message}", if *retryable { "retryable" } else { "not retryable" })]
    Network { retryable: bool, message: String },

    /// The center speaks another protocol version, or sent something malformed.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The center refused the device's credentials (signature, replay, enrolment code).
    #[error("unauthorized: {0}")]
    Unauthorized(String),

    /// The device was revoked at the center. With `wipe`, its data has been erased.
    #[error("device revoked{}", if *wipe { "; local data erased as ordered" } else { "" })]
    Revoked { wipe: bool },

    /// The app cancelled the sync; what completed is kept and the next sync resumes.
    #[error("sync cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Error::StorageFull,
            Some(ErrorCode::NotADatabase) => Error::WrongKey,
            Some(code) => Error::Storage { code: format!("{code:?}"), context: "sqlite" },
            None => Error::Storage { code: rusqlite_kind(&err).to_owned(), context: "sqlite" },
        }
    }
}

/// A value-free name for rusqlite errors that carry no SQLite result code.
fn rusqlite_kind(err: &rusqlite::Error) -> &'static str {
    match err {
        rusqlite::Error::QueryReturnedNoRows => "no rows",
        rusqlite::Error::InvalidColumnType(..) => "invalid column type",
        rusqlite::Error::FromSqlConversionFailure(..) => "column conversion",
        rusqlite::Error::IntegralValueOutOfRange(..) => "integer out of range",
        rusqlite::Error::Utf8Error(..) => "invalid utf-8",
        rusqlite::Error::InvalidParameterName(..) | rusqlite::Error::InvalidParameterCount(..) => "invalid parameter",
        _ => "other",
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(err: automerge::AutomergeError) -> Self {
        // automerge errors describe structure (op ids, hashes), never field values.
        Error::Document(err.to_string())
    }
}

impl From<automerge::LoadChangeError> for Error {
    fn from(err: automerge::LoadChangeError) -> Self {
        Error::Document(err.to_string())
    }
}

impl ValidationError {
    /// What a grid worker reads: the field's Chinese name and the rule in Chinese.
    pub fn zh(&self) -> String {
        format!("{}：{}", crate::display::field_zh(self.field).unwrap_or(self.field), self.kind.zh())
    }
}

impl Error {
    /// A stable code for programs and message tables: `<field>.<rule>` for invalid input
    /// (`id_number.checksum`), `<area>.<what>` otherwise (`sync.rate_limited`).
    pub fn code(&self) -> String {
        match self {
            Error::Invalid(v) => return v.code(),
            Error::Revoked { wipe: true } => "device.wiped",
            Error::Revoked { wipe: false } => "device.revoked",
            Error::Network { retryable: true, .. } => "network.unavailable",
            Error::Network { retryable: false, .. } => "network.failed",
            other => other.area_code(),
        }
        .to_owned()
    }

    fn area_code(&self) -> &'static str {
        match self {
            Error::Invalid(_) | Error::Revoked { .. } | Error::Network { .. } => "",
            Error::WrongKey => "store.wrong_key",
            Error::NotFound { .. } => "record.not_found",
            Error::AlreadyExists { .. } => "record.already_exists",
            Error::OutOfScope { .. } => "scope.out_of_scope",
            Error::IllegalStep { .. } => "incident.illegal_step",
            Error::StepNotYours { .. } => "incident.step_not_yours",
            Error::WrongKind { .. } => "record.wrong_kind",
            Error::NotConfigured(_) | Error::NotEnrolled => "device.not_enrolled",
            Error::SchemaTooNew { .. } => "store.schema_too_new",
            Error::PhotoQuotaFull { .. } => "attachment.quota_full",
            Error::StorageFull => "storage.full",
            Error::Storage { .. } => "storage.failed",
            Error::RateLimited { .. } => "sync.rate_limited",
            Error::TooLarge(_) => "sync.too_large",
            Error::Document(_) => "record.unreadable",
            Error::Protocol(_) => "sync.protocol",
            Error::Unauthorized(_) => "sync.unauthorized",
            Error::Cancelled => "sync.cancelled",
        }
    }

    /// What a grid worker reads, in Chinese: what happened and what to do. Never a value
    /// the worker typed.
    pub fn zh(&self) -> String {
        use crate::display::Zh;
        let kind_zh = |kind: &str| crate::model::Kind::parse(kind).map_or("记录", |k| k.zh());
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

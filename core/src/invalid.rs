//! Invalid input, the lowest layer beside `time`: which field broke which rule, with
//! the rule's stable code and its English and Chinese text. Every layer above reports
//! bad input with these; nothing here knows records, stores or the wire.

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

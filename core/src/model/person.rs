//! 人口: a person, living in a household or (流动/境外) on their own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FieldKind::*, Kind, Millis, Record, Schema, check_opt, field};
use crate::area::AreaCode;
use crate::codes::{ethnicity_name, relationship_name};
use crate::invalid::{Rule, ValidationError};
use crate::validate::{
    Date, Gender, check_id_number, check_optional_text, check_phone, check_text, normalize_id_number, normalize_typed,
};

/// The kind of identity document a person's `id_number` belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 居民身份证 (GB 11643, checked).
    ResidentId,
    /// 护照
    Passport,
    /// 港澳居民来往内地通行证
    HkMacaoPermit,
    /// 台湾居民来往大陆通行证
    TaiwanPermit,
    /// 外国人永久居留身份证
    ForeignPermanentResident,
    Other,
}

impl IdType {
    pub fn as_str(self) -> &'static str {
        match self {
            IdType::ResidentId => "resident_id",
            IdType::Passport => "passport",
            IdType::HkMacaoPermit => "hk_macao_permit",
            IdType::TaiwanPermit => "taiwan_permit",
            IdType::ForeignPermanentResident => "foreign_permanent_resident",
            IdType::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonType {
    /// 户籍人口
    Registered,
    /// 流动人口
    Floating,
    /// 境外人员
    Overseas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonStatus {
    Active,
    /// 迁出
    MovedOut,
    /// 死亡
    Deceased,
}

/// A person's membership of a focus group (重点人群), with who follows them and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FocusGroup {
    /// The responsible worker's id.
    pub worker: String,
    pub from: Date,
    #[serde(default)]
    pub until: Option<Date>,
}

/// Focus groups (重点人群) a person can be followed under.
pub const FOCUS_GROUPS: &[&str] = &[
    "刑满释放",
    "社区矫正",
    "严重精神障碍",
    "吸毒",
    "艾滋病危险",
    "重点青少年",
    "重点上访",
    "留守老人",
    "留守妇女",
    "留守儿童",
    "残疾",
    "独居老人",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// The grid or micro-grid the person lives in (their household's, if any).
    pub area_code: AreaCode,
    pub name: String,
    #[serde(default)]
    pub former_name: Option<String>,
    pub id_type: IdType,
    /// With a resident ID this is checked against GB 11643 and must agree with
    /// `gender` and `birth_date`. A person with a document number gets an id derived
    /// from it, so two phones registering the same person create one record.
    #[serde(default)]
    pub id_number: Option<String>,
    pub gender: Gender,
    /// GB 3304 code, e.g. `01` 汉族.
    pub ethnicity: String,
    pub birth_date: Date,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub household_id: Option<String>,
    /// GB/T 4761 code of the relationship to the head of household, e.g. `02` 户主.
    #[serde(default)]
    pub relationship: Option<String>,
    pub person_type: PersonType,
    #[serde(default)]
    pub registered_address: Option<String>,
    #[serde(default)]
    pub current_address: Option<String>,
    #[serde(default)]
    pub occupation: Option<String>,
    pub status: PersonStatus,
    /// When the status last changed (moved out, died), if known.
    #[serde(default)]
    pub status_changed_at: Option<Millis>,
    /// Focus group name → who follows the person and for which period.
    #[serde(default)]
    pub focus_groups: BTreeMap<String, FocusGroup>,
    #[serde(default)]
    pub notes: String,
}

pub(super) static SCHEMA: Schema = Schema {
    fields: &[
        field("area_code", Scalar),
        field("name", Scalar),
        field("former_name", Scalar),
        field("id_type", Scalar),
        field("id_number", Scalar),
        field("gender", Scalar),
        field("ethnicity", Scalar),
        field("birth_date", Scalar),
        field("phone", Scalar),
        field("household_id", Scalar),
        field("relationship", Scalar),
        field("person_type", Scalar),
        field("registered_address", Scalar),
        field("current_address", Scalar),
        field("occupation", Scalar),
        field("status", Scalar),
        field("status_changed_at", Scalar),
        field("focus_groups", Entries),
        field("notes", Text),
    ],
};

impl Record for Person {
    const KIND: Kind = Kind::Person;

    fn validate(&self) -> Result<(), ValidationError> {
        check_text("name", &self.name, 50)?;
        check_opt(self.former_name.as_deref(), |n| check_optional_text("former_name", n, 50))?;
        match (self.id_type, self.id_number.as_deref()) {
            (IdType::ResidentId, Some(number)) => {
                let facts = check_id_number("id_number", number)?;
                if facts.gender != self.gender {
                    return Err(ValidationError::new("gender", Rule::MatchesIdNumber));
                }
                if facts.birth_date != self.birth_date {
                    return Err(ValidationError::new("birth_date", Rule::MatchesIdNumber));
                }
            }
            (_, Some(number)) => check_text("id_number", number, 32)?,
            (_, None) => {}
        }
        if ethnicity_name(&self.ethnicity).is_none() {
            return Err(ValidationError::new("ethnicity", Rule::EthnicityCode));
        }
        check_opt(self.phone.as_deref(), |p| check_phone("phone", p))?;
        check_opt(self.household_id.as_deref(), |h| {
            uuid::Uuid::parse_str(h).map(drop).map_err(|_| ValidationError::new("household_id", Rule::RecordId))
        })?;
        check_opt(self.relationship.as_deref(), |r| {
            relationship_name(r).map(drop).ok_or_else(|| ValidationError::new("relationship", Rule::RelationshipCode))
        })?;
        for (field, value) in [
            ("registered_address", &self.registered_address),
            ("current_address", &self.current_address),
            ("occupation", &self.occupation),
        ] {
            check_opt(value.as_deref(), |v| check_optional_text(field, v, 200))?;
        }
        for (group, entry) in &self.focus_groups {
            check_text("focus_groups", group, 20)?;
            check_text("focus_groups.worker", &entry.worker, 64)?;
            if entry.until.is_some_and(|until| until < entry.from) {
                return Err(ValidationError::new("focus_groups.until", Rule::UntilBeforeFrom));
            }
        }
        check_optional_text("notes", &self.notes, 10_000)
    }

    fn area_code(&self) -> &AreaCode {
        &self.area_code
    }

    fn normalize(&mut self) {
        self.name = self.name.trim().to_owned();
        if let Some(number) = &mut self.id_number {
            *number = normalize_id_number(number);
        }
        if let Some(phone) = &mut self.phone {
            *phone = normalize_typed(phone);
        }
    }

    fn identity_document(&self) -> Option<(IdType, &str)> {
        self.id_number.as_deref().map(|number| (self.id_type, number))
    }
}

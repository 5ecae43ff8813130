//! 户: a household registered in a grid.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{FieldKind::*, Gps, Kind, Record, Schema, check_opt, field};
use crate::area::AreaCode;
use crate::invalid::ValidationError;
use crate::validate::{check_optional_text, check_phone, check_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseholdType {
    /// 家庭户
    Family,
    /// 集体户
    Collective,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Housing {
    /// 自有
    Owned,
    /// 租赁
    Rented,
    /// 借住、其他
    Other,
}

/// A household (户). Its members are persons whose `household_id` names it: the member
/// list is a query, never stored here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    /// Micro-grid or grid code.
    pub area_code: AreaCode,
    /// 户编号, unique within the township by convention (not enforced across phones).
    pub household_no: String,
    pub household_type: HouseholdType,
    pub address: String,
    #[serde(default)]
    pub gps: Option<Gps>,
    /// 人户一致: the registered residence (户籍) matches where the household lives.
    pub residence_matches: bool,
    pub housing: Housing,
    /// 低保户, 五保户, 困难户, 出租屋 …
    #[serde(default)]
    pub tags: BTreeSet<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub notes: String,
}

pub(super) static SCHEMA: Schema = Schema {
    fields: &[
        field("area_code", Scalar),
        field("household_no", Scalar),
        field("household_type", Scalar),
        field("address", Scalar),
        field("gps", Json),
        field("residence_matches", Scalar),
        field("housing", Scalar),
        field("tags", Set),
        field("phone", Scalar),
        field("notes", Text),
    ],
};

/// Household tags a grid worker picks from; others are allowed but must be short.
pub const HOUSEHOLD_TAGS: &[&str] = &["低保户", "五保户", "困难户", "出租屋", "军属", "烈属", "空巢户", "危房户"];

impl Record for Household {
    const KIND: Kind = Kind::Household;

    fn validate(&self) -> Result<(), ValidationError> {
        check_text("household_no", &self.household_no, 32)?;
        check_text("address", &self.address, 200)?;
        check_opt(self.gps.as_ref(), |g| g.validate("gps"))?;
        for tag in &self.tags {
            check_text("tags", tag, 20)?;
        }
        check_opt(self.phone.as_deref(), |p| check_phone("phone", p))?;
        check_optional_text("notes", &self.notes, 10_000)
    }

    fn area_code(&self) -> &AreaCode {
        &self.area_code
    }

    fn normalize(&mut self) {
        if let Some(phone) = &mut self.phone {
            *phone = crate::validate::normalize_typed(phone);
        }
    }
}

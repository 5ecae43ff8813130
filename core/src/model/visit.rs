//! 走访: a grid worker's visit to a household or person.

use serde::{Deserialize, Serialize};

use super::{FieldKind::*, Gps, Kind, Millis, Record, Schema, check_opt, field};
use crate::area::AreaCode;
use crate::invalid::{Rule, ValidationError};
use crate::validate::{Date, check_optional_text, check_text};

/// Whom a visit was paid to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum VisitTarget {
    Household(String),
    Person(String),
}

/// One finding of a visit. Findings form an append-only timeline: findings added on
/// two phones are both kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub at: Millis,
    /// The worker who recorded it.
    pub by: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub area_code: AreaCode,
    pub target: VisitTarget,
    pub visited_at: Millis,
    /// The visiting worker's id.
    pub visitor: String,
    #[serde(default)]
    pub gps: Option<Gps>,
    pub purpose: String,
    #[serde(default)]
    pub next_due: Option<Date>,
    /// Read-only here: append with `Store::append_finding`.
    #[serde(default, deserialize_with = "super::lenient_list")]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub notes: String,
}

pub(super) static SCHEMA: Schema = Schema {
    fields: &[
        field("area_code", Scalar),
        field("target", Json),
        field("visited_at", Scalar),
        field("visitor", Scalar),
        field("gps", Json),
        field("purpose", Scalar),
        field("next_due", Scalar),
        field("findings", Timeline),
        field("notes", Text),
    ],
};

impl Record for Visit {
    const KIND: Kind = Kind::Visit;

    fn validate(&self) -> Result<(), ValidationError> {
        let (VisitTarget::Household(id) | VisitTarget::Person(id)) = &self.target;
        uuid::Uuid::parse_str(id).map_err(|_| ValidationError::new("target", Rule::RecordId))?;
        check_text("visitor", &self.visitor, 64)?;
        check_opt(self.gps.as_ref(), |g| g.validate("gps"))?;
        check_text("purpose", &self.purpose, 200)?;
        for finding in &self.findings {
            Finding::validate(finding)?;
        }
        check_optional_text("notes", &self.notes, 10_000)
    }

    fn area_code(&self) -> &AreaCode {
        &self.area_code
    }
}

impl Finding {
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        check_text("findings.by", &self.by, 64)?;
        check_text("findings.text", &self.text, 2_000)
    }
}

//! The domain model: the four record kinds, their fields and their validation.
//!
//! Each kind is a plain serde struct plus a [`Schema`] that says how each field lives
//! in the record's automerge document (see `docs/data-model.md`). The document layer
//! maps between the two generically, so a new field is one struct field and one schema
//! line.

mod attachment;
mod household;
mod incident;
mod person;
mod visit;

use std::fmt;

use serde::{Serialize, de::DeserializeOwned};

pub use attachment::{
    ATTACHMENT_KEY_PREFIX, Attachment, BlobRef, MAX_ATTACHMENTS, MAX_BLOB_BYTES, MAX_PHOTO_SIDE, PHOTO_MEDIA_TYPE,
    attachment_key, holds_attachments, is_sha256_hex,
};
pub use household::{HOUSEHOLD_TAGS, Household, HouseholdType, Housing};
pub use incident::{
    ALL_STATUSES, ALL_STEPS, CATEGORIES, DISPUTE_SUBTYPES, FollowUp, Incident, IncidentState, IncidentStatus,
    ReviewNote, Step, Supervision,
};
pub use person::{FOCUS_GROUPS, FocusGroup, IdType, Person, PersonStatus, PersonType};
pub use visit::{Finding, Visit, VisitTarget};

use crate::area::AreaCode;
use crate::invalid::ValidationError;

pub use crate::time::Millis;

/// The kinds of record gridsync keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Household,
    Person,
    Visit,
    Incident,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Household, Kind::Person, Kind::Visit, Kind::Incident];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Household => "household",
            Kind::Person => "person",
            Kind::Visit => "visit",
            Kind::Incident => "incident",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// How each field of this kind lives in its document.
    pub fn schema(self) -> &'static Schema {
        match self {
            Kind::Household => &household::SCHEMA,
            Kind::Person => &person::SCHEMA,
            Kind::Visit => &visit::SCHEMA,
            Kind::Incident => &incident::SCHEMA,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a field is represented in the automerge document, which decides how concurrent
/// edits to it merge (see `docs/data-model.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string, number or boolean: last writer wins, concurrent values are kept and
    /// reported as a conflict. Absent when the value is `None`.
    Scalar,
    /// A small structured value (e.g. GPS) stored as one JSON string scalar, so its parts
    /// never mix across concurrent edits. Merges like `Scalar`.
    Json,
    /// Free text: automerge Text, concurrent edits interleave.
    Text,
    /// A set of strings: a map from member to `true`. Concurrent adds and removes of
    /// different members both apply.
    Set,
    /// A map from a key to a JSON string value (e.g. focus groups and their details):
    /// each entry is last writer wins.
    Entries,
    /// An append-only list of JSON entries: every concurrent entry survives.
    Timeline,
}

/// One field of a kind's schema.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
}

/// The fields of one record kind, in document order.
#[derive(Debug)]
pub struct Schema {
    pub fields: &'static [Field],
}

impl Schema {
    /// Fields that are nested automerge objects, which the genesis change creates once.
    pub fn object_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !matches!(f.kind, FieldKind::Scalar | FieldKind::Json))
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Shorthand for schema tables.
pub(crate) const fn field(name: &'static str, kind: FieldKind) -> Field {
    Field { name, kind }
}

/// What every record kind provides to the store.
pub trait Record: Serialize + DeserializeOwned + Clone + fmt::Debug {
    const KIND: Kind;

    /// Checks every field; the first failure names the field and the rule.
    fn validate(&self) -> Result<(), ValidationError>;

    /// The area the record belongs to, which decides who may see and change it.
    fn area_code(&self) -> &AreaCode;

    /// Puts values into their stored form (e.g. an upper-case `X` in ID numbers).
    fn normalize(&mut self) {}

    /// The identity document a record's id is derived from, if any (see `ids`).
    fn identity_document(&self) -> Option<(IdType, &str)> {
        None
    }

    /// Fills in what the store assigns to a new record (an incident's service number,
    /// when the app leaves it empty), given the id it gets unless an identity document
    /// derives one, and the time it is created.
    fn assign_on_create(&mut self, _id: &str, _at: Millis) {}
}

/// Validates an optional value with `check`.
pub(crate) fn check_opt<T: ?Sized>(
    value: Option<&T>,
    check: impl FnOnce(&T) -> Result<(), ValidationError>,
) -> Result<(), ValidationError> {
    value.map_or(Ok(()), check)
}

/// A GPS position (WGS-84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
}

impl Gps {
    pub(crate) fn validate(&self, field: &'static str) -> Result<(), ValidationError> {
        crate::validate::check_gps(field, self.lat, self.lon)
    }
}

/// Reads one timeline entry (a follow-up, a finding) strictly: a duplicate key, a key
/// the entry type does not have or a value of the wrong type makes it no entry. This
/// is the one parser of entries: the record rules judge an entry with it and every
/// reader (the status fold, the console, the exports, the bindings) reads through
/// [`read_entry`], so what the rules judged is exactly what is read. (Parsing into a
/// `serde_json::Value` first would keep the last of two `step` keys while a typed
/// parse refuses the entry: a step that the role check never saw.)
pub fn parse_entry<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(text)
}

/// A timeline entry of a record of `kind`, as [`parse_entry`] reads it, back in JSON;
/// `None` for an entry that does not read (the rules refuse those where changes enter).
pub(crate) fn read_entry(kind: Kind, text: &str) -> Option<serde_json::Value> {
    match kind {
        Kind::Incident => serde_json::to_value(parse_entry::<FollowUp>(text).ok()?).ok(),
        Kind::Visit => serde_json::to_value(parse_entry::<Finding>(text).ok()?).ok(),
        Kind::Household | Kind::Person => None,
    }
}

/// Deserialises a timeline leniently: entries this version cannot read (a step added
/// by a newer app version) are skipped here and stay untouched in the document.
pub(crate) fn lenient_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    let raw: Vec<serde_json::Value> = serde::Deserialize::deserialize(deserializer)?;
    Ok(raw.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}

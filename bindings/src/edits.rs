//! Edits that name the fields they change. A screen reads a record with its heads
//! (`get_person_for_edit`), and hands back only what the user changed
//! (`edit_person(id, read_at, changes)`): every field it does not name stays exactly
//! as it is, and a field someone else changed since the screen read it becomes a
//! visible conflict, never a silent overwrite (docs/merge.md, "Edits").

use gridsync_core::model::Gps;
use gridsync_core::{Gender, HouseholdType, Housing, IdType, Kind, PersonStatus, PersonType};

use crate::types::{FocusGroup, Household, Incident, Person, Visit};

/// A household as an edit screen read it: hand `read_at` back with the changes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HouseholdForEdit {
    pub household: Household,
    /// The record's heads when it was read.
    pub read_at: Vec<String>,
}

/// A person as an edit screen read it: hand `read_at` back with the changes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PersonForEdit {
    pub person: Person,
    /// The record's heads when it was read.
    pub read_at: Vec<String>,
}

/// A visit as an edit screen read it: hand `read_at` back with the changes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VisitForEdit {
    pub visit: Visit,
    /// The record's heads when it was read.
    pub read_at: Vec<String>,
}

/// An incident as an edit screen read it: hand `read_at` back with the changes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct IncidentForEdit {
    pub incident: Incident,
    /// The record's heads when it was read.
    pub read_at: Vec<String>,
}

/// Declares the exported enum of one kind's editable fields (one variant per field,
/// holding its new value) and how a variant sets its field on the exported record.
macro_rules! field_edits {
    ($(#[$meta:meta])* $name:ident for $record:ty {
        $($(#[$vmeta:meta])* $variant:ident => $field:ident: $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, uniffi::Enum)]
        pub enum $name {
            $($(#[$vmeta])* $variant { value: $ty }),*
        }

        impl $name {
            /// Sets this field of `record` to the new value.
            pub(crate) fn apply(self, record: &mut $record) {
                match self {
                    $(Self::$variant { value } => record.$field = value),*
                }
            }
        }
    };
}

field_edits! {
    /// A household field and its new value.
    HouseholdField for Household {
        AreaCode => area_code: String,
        HouseholdNo => household_no: String,
        HouseholdType => household_type: HouseholdType,
        Address => address: String,
        Gps => gps: Option<Gps>,
        ResidenceMatches => residence_matches: bool,
        Housing => housing: Housing,
        /// The whole set of tags as the user left it.
        Tags => tags: Vec<String>,
        Phone => phone: Option<String>,
        Notes => notes: String,
    }
}

field_edits! {
    /// A person field and its new value.
    PersonField for Person {
        AreaCode => area_code: String,
        Name => name: String,
        FormerName => former_name: Option<String>,
        IdType => id_type: IdType,
        IdNumber => id_number: Option<String>,
        /// `None`: read from the resident ID number.
        Gender => gender: Option<Gender>,
        Ethnicity => ethnicity: String,
        /// `YYYY-MM-DD`; `None`: read from the resident ID number.
        BirthDate => birth_date: Option<String>,
        Phone => phone: Option<String>,
        HouseholdId => household_id: Option<String>,
        Relationship => relationship: Option<String>,
        PersonType => person_type: PersonType,
        RegisteredAddress => registered_address: Option<String>,
        CurrentAddress => current_address: Option<String>,
        Occupation => occupation: Option<String>,
        Status => status: PersonStatus,
        StatusChangedAt => status_changed_at: Option<i64>,
        /// Every focus group as the user left them: one the list leaves out is ended.
        FocusGroups => focus_groups: Vec<FocusGroup>,
        Notes => notes: String,
    }
}

field_edits! {
    /// A visit field and its new value (findings are appended, not edited).
    VisitField for Visit {
        AreaCode => area_code: String,
        TargetKind => target_kind: Kind,
        TargetId => target_id: String,
        VisitedAt => visited_at: i64,
        Visitor => visitor: String,
        Gps => gps: Option<Gps>,
        Purpose => purpose: String,
        /// `YYYY-MM-DD`
        NextDue => next_due: Option<String>,
        Notes => notes: String,
    }
}

field_edits! {
    /// An incident field and its new value (steps go through `append_follow_up`).
    IncidentField for Incident {
        AreaCode => area_code: String,
        ServiceNo => service_no: String,
        Title => title: String,
        Categories => categories: Vec<String>,
        Location => location: Option<String>,
        Gps => gps: Option<Gps>,
        OccurredAt => occurred_at: i64,
        PeopleCount => people_count: u32,
        InvolvedPersons => involved_persons: Vec<String>,
        InvolvedHouseholds => involved_households: Vec<String>,
        Major => major: bool,
        Notes => notes: String,
    }
}

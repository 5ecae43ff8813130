//! gridsync-ffi: the uniffi bindings of gridsync-core for Kotlin, Swift and Python.
//! Thin wrappers only: the logic lives in core. See `bindings/README.md`.

mod display;
mod edits;
mod enrolment;
mod error;
mod events;
mod identity;
mod logs;
mod photos;
mod store;
mod types;

pub use edits::{
    HouseholdField, HouseholdForEdit, IncidentField, IncidentForEdit, PersonField, PersonForEdit, VisitField,
    VisitForEdit,
};
pub use error::GridsyncError;
pub use events::{ChangeEvent, ChangeListener, Subscription};
pub use identity::{IdNumberInfo, parse_id_number};
pub use logs::{LogLevel, LogSink, set_log_sink};
pub use photos::{PendingPhotos, Photo, PhotoSettings};
pub use store::{CenterOptions, Enrolment, GridStore, IncidentFilter, RecordInfo, SyncCancel, SyncProgressListener};

uniffi::setup_scaffolding!();

//! The one error type of gridsync-core.
//!
//! Messages never carry personal data: validation errors name the field and the rule,
//! never the value, and SQLite errors are reduced to their result code because
//! rusqlite's messages can quote row values.

pub use crate::invalid::{Rule, ValidationError};

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
}

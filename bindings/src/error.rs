//! The one exported error, converted from core's in exactly one place. Messages carry
//! no personal data: core's never do, and nothing here adds any.

use gridsync_core::Error as CoreError;

/// Everything a gridsync call can fail with, as the app should react to it.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum GridsyncError {
    /// A field broke a rule: show `rule` next to the field named `field`.
    #[error("invalid {field}: {rule}")]
    InvalidInput { field: String, rule: String },
    /// The key does not open this database. The file is untouched.
    #[error("wrong key, or not a gridsync database")]
    WrongKey,
    #[error("{kind} {id} not found")]
    NotFound { kind: String, id: String },
    /// A record with this id exists (the same person registered before): open it.
    #[error("{kind} {id} exists already")]
    AlreadyExists { kind: String, id: String },
    /// The area is outside this device's scope.
    #[error("outside this device's scope: {reason}")]
    OutOfScope { reason: String },
    /// The incident's closed loop does not allow this step now; offer `next_steps`.
    #[error("{reason}")]
    IllegalStep { reason: String },
    /// Enrol first.
    #[error("not enrolled with a center")]
    NotEnrolled,
    /// The center refused the credentials or the enrolment code.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },
    /// The device was revoked; with `wiped`, its data has been erased as ordered.
    #[error("device revoked")]
    Revoked { wiped: bool },
    /// The center could not be reached; when `retryable`, try again later (e.g. when
    /// the network returns).
    #[error("network: {reason}")]
    Network { retryable: bool, reason: String },
    /// The center speaks another protocol version or answered something malformed.
    #[error("protocol: {reason}")]
    Protocol { reason: String },
    /// The phone's storage is full: nothing was written.
    #[error("storage full")]
    StorageFull,
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// The sync was cancelled; what completed is kept.
    #[error("cancelled")]
    Cancelled,
}

impl From<CoreError> for GridsyncError {
    fn from(err: CoreError) -> Self {
        let reason = err.to_string();
        match err {
            CoreError::Invalid(v) => GridsyncError::InvalidInput { field: v.field.to_owned(), rule: v.rule },
            CoreError::WrongKey => GridsyncError::WrongKey,
            CoreError::NotFound { kind, id } => GridsyncError::NotFound { kind: kind.to_owned(), id },
            CoreError::AlreadyExists { kind, id } => GridsyncError::AlreadyExists { kind: kind.to_owned(), id },
            CoreError::WrongKind { id, expected, .. } => GridsyncError::NotFound { kind: expected.to_owned(), id },
            CoreError::OutOfScope { .. } => GridsyncError::OutOfScope { reason },
            CoreError::IllegalStep { .. } => GridsyncError::IllegalStep { reason },
            CoreError::NotEnrolled | CoreError::NotConfigured(_) => GridsyncError::NotEnrolled,
            CoreError::Unauthorized(reason) => GridsyncError::Unauthorized { reason },
            CoreError::Revoked { wipe } => GridsyncError::Revoked { wiped: wipe },
            CoreError::Network { retryable, message } => GridsyncError::Network { retryable, reason: message },
            CoreError::RateLimited { .. } => GridsyncError::Network { retryable: true, reason },
            CoreError::Protocol(reason) | CoreError::TooLarge(reason) => GridsyncError::Protocol { reason },
            CoreError::StorageFull => GridsyncError::StorageFull,
            CoreError::Cancelled => GridsyncError::Cancelled,
            CoreError::SchemaTooNew { .. } | CoreError::Storage { .. } | CoreError::Document(_) => {
                GridsyncError::Storage { reason }
            }
        }
    }
}

impl From<gridsync_core::ValidationError> for GridsyncError {
    fn from(err: gridsync_core::ValidationError) -> Self {
        CoreError::from(err).into()
    }
}

pub type Result<T, E = GridsyncError> = std::result::Result<T, E>;

//! The one exported error, converted from core's in exactly one place. Every variant
//! carries a stable `code` (e.g. `id_number.checksum`, `network.unavailable`) and
//! `message_zh`, the Chinese text a grid worker reads (one table, in core's `error.rs`
//! and `display.rs`). Messages carry no personal data: core's never do, and nothing
//! here adds any.

use gridsync_core::Error as CoreError;
use gridsync_core::{IncidentStatus, Role, Step};

/// Everything a gridsync call can fail with, as the app should react to it. Show
/// `message_zh` to the worker; branch on the variant or on `code`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum GridsyncError {
    /// A field broke a rule: show `message_zh` next to the field named `field`.
    #[error("invalid {field}: {rule}")]
    InvalidInput { field: String, rule: String, code: String, message_zh: String },
    /// The key does not open this database. The file is untouched.
    #[error("wrong key, or not a gridsync database")]
    WrongKey { code: String, message_zh: String },
    #[error("{kind} {id} not found")]
    NotFound { kind: String, id: String, code: String, message_zh: String },
    /// A record with this id exists (the same person registered before): open it.
    #[error("{kind} {id} exists already")]
    AlreadyExists { kind: String, id: String, code: String, message_zh: String },
    /// The area is outside this device's scope: `area` is the code refused ("" when the
    /// center did not say which).
    #[error("outside this device's scope: {reason}")]
    OutOfScope { area: String, reason: String, code: String, message_zh: String },
    /// The incident's closed loop does not allow `step` while it is `status`; offer
    /// `next_steps`.
    #[error("{reason}")]
    IllegalStep { step: Step, status: IncidentStatus, reason: String, code: String, message_zh: String },
    /// The step is not the worker's `role`'s to take (the center's, or a 网格长's): offer
    /// `next_steps`, which holds only the worker's.
    #[error("{reason}")]
    StepNotYours { step: Step, role: Role, reason: String, code: String, message_zh: String },
    /// The record exists, but is of another kind than asked (a person's id given to
    /// `get_household`).
    #[error("record {id} is a {actual}, not a {expected}")]
    WrongKind { id: String, expected: String, actual: String, code: String, message_zh: String },
    /// Enrol first: `missing` says what the device lacks (the enrolment, or the
    /// township key that enrolment brings).
    #[error("not enrolled: {missing}")]
    NotEnrolled { missing: String, code: String, message_zh: String },
    /// The center refused the credentials or the enrolment code.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String, code: String, message_zh: String },
    /// The device was revoked; with `wiped`, its data has been erased as ordered.
    #[error("device revoked")]
    Revoked { wiped: bool, code: String, message_zh: String },
    /// The center could not be reached; when `retryable`, try again later (e.g. when
    /// the network returns).
    #[error("network: {reason}")]
    Network { retryable: bool, reason: String, code: String, message_zh: String },
    /// The center speaks another protocol version or answered something malformed.
    #[error("protocol: {reason}")]
    Protocol { reason: String, code: String, message_zh: String },
    /// The photos waiting for upload fill their quota (`quota` bytes): nothing was
    /// written. A sync makes room.
    #[error("photo quota full")]
    PhotoQuotaFull { pending: u64, quota: u64, code: String, message_zh: String },
    /// The phone's storage is full: nothing was written.
    #[error("storage full")]
    StorageFull { code: String, message_zh: String },
    #[error("storage: {reason}")]
    Storage { reason: String, code: String, message_zh: String },
    /// The sync was cancelled; what completed is kept.
    #[error("cancelled")]
    Cancelled { code: String, message_zh: String },
}

impl From<CoreError> for GridsyncError {
    fn from(err: CoreError) -> Self {
        let reason = err.to_string();
        let (code, message_zh) = (err.code(), err.zh());
        match err {
            CoreError::Invalid(v) => {
                GridsyncError::InvalidInput { field: v.field.to_owned(), rule: v.rule, code, message_zh }
            }
            CoreError::WrongKey => GridsyncError::WrongKey { code, message_zh },
            CoreError::NotFound { kind, id } => GridsyncError::NotFound { kind: kind.to_owned(), id, code, message_zh },
            CoreError::AlreadyExists { kind, id } => {
                GridsyncError::AlreadyExists { kind: kind.to_owned(), id, code, message_zh }
            }
            CoreError::WrongKind { id, expected, actual } => {
                GridsyncError::WrongKind { id, expected: expected.to_owned(), actual, code, message_zh }
            }
            CoreError::OutOfScope { area, .. } => GridsyncError::OutOfScope { area, reason, code, message_zh },
            CoreError::IllegalStep { step, status } => {
                GridsyncError::IllegalStep { step, status, reason, code, message_zh }
            }
            CoreError::StepNotYours { step, role } => {
                GridsyncError::StepNotYours { step, role, reason, code, message_zh }
            }
            CoreError::NotEnrolled => GridsyncError::NotEnrolled { missing: reason, code, message_zh },
            CoreError::NotConfigured(what) => {
                GridsyncError::NotEnrolled { missing: format!("{what} is missing"), code, message_zh }
            }
            CoreError::Unauthorized(reason) => GridsyncError::Unauthorized { reason, code, message_zh },
            CoreError::Revoked { wipe } => GridsyncError::Revoked { wiped: wipe, code, message_zh },
            CoreError::Network { retryable, message } => {
                GridsyncError::Network { retryable, reason: message, code, message_zh }
            }
            CoreError::RateLimited { .. } => GridsyncError::Network { retryable: true, reason, code, message_zh },
            CoreError::Protocol(reason) | CoreError::TooLarge(reason) => {
                GridsyncError::Protocol { reason, code, message_zh }
            }
            CoreError::PhotoQuotaFull { pending, quota } => {
                GridsyncError::PhotoQuotaFull { pending, quota, code, message_zh }
            }
            CoreError::StorageFull => GridsyncError::StorageFull { code, message_zh },
            CoreError::Cancelled => GridsyncError::Cancelled { code, message_zh },
            CoreError::SchemaTooNew { .. } | CoreError::Storage { .. } | CoreError::Document(_) => {
                GridsyncError::Storage { reason, code, message_zh }
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

#[cfg(test)]
mod tests {
    use gridsync_core::model::{IncidentStatus, Step};
    use gridsync_core::{Rule, ValidationError};

    use super::*;

    /// One of every core error, every validation rule among them.
    fn every_error() -> Vec<CoreError> {
        let mut all: Vec<CoreError> =
            Rule::SAMPLES.iter().map(|rule| ValidationError::new("id_number", *rule).into()).collect();
        all.extend([
            CoreError::WrongKey,
            CoreError::NotFound { kind: "person", id: "x".into() },
            CoreError::AlreadyExists { kind: "person", id: "x".into() },
            CoreError::OutOfScope { field: "area_code", area: "440106012003".into() },
            CoreError::IllegalStep { step: Step::Close, status: IncidentStatus::Accepted },
            CoreError::StepNotYours { step: Step::Accept, role: Role::GridWorker },
            CoreError::WrongKind { id: "x".into(), expected: "household", actual: "person".into() },
            CoreError::NotConfigured("township key"),
            CoreError::SchemaTooNew { found: 9, supported: 5 },
            CoreError::StorageFull,
            CoreError::PhotoQuotaFull { pending: 190 << 20, quota: 200 << 20 },
            CoreError::Storage { code: "SQLITE_IOERR".into(), context: "write" },
            CoreError::RateLimited { retry_after: std::time::Duration::from_secs(3) },
            CoreError::TooLarge("batch".into()),
            CoreError::Document("x".into()),
            CoreError::NotEnrolled,
            CoreError::Network { retryable: true, message: "timed out".into() },
            CoreError::Network { retryable: false, message: "bad address".into() },
            CoreError::Protocol("x".into()),
            CoreError::Unauthorized("x".into()),
            CoreError::Revoked { wipe: false },
            CoreError::Revoked { wipe: true },
            CoreError::Cancelled,
        ]);
        all
    }

    fn code_and_zh(err: &GridsyncError) -> (&str, &str) {
        use GridsyncError::*;
        match err {
            InvalidInput { code, message_zh, .. }
            | WrongKey { code, message_zh }
            | NotFound { code, message_zh, .. }
            | AlreadyExists { code, message_zh, .. }
            | OutOfScope { code, message_zh, .. }
            | IllegalStep { code, message_zh, .. }
            | StepNotYours { code, message_zh, .. }
            | WrongKind { code, message_zh, .. }
            | NotEnrolled { code, message_zh, .. }
            | Unauthorized { code, message_zh, .. }
            | Revoked { code, message_zh, .. }
            | Network { code, message_zh, .. }
            | Protocol { code, message_zh, .. }
            | PhotoQuotaFull { code, message_zh, .. }
            | StorageFull { code, message_zh }
            | Storage { code, message_zh, .. }
            | Cancelled { code, message_zh } => (code, message_zh),
        }
    }

    #[test]
    fn every_error_has_a_code_and_a_chinese_message() {
        let mut codes = std::collections::BTreeSet::new();
        for core in every_error() {
            let english = core.to_string();
            let exported = GridsyncError::from(core);
            let (code, zh) = code_and_zh(&exported);
            assert!(code.contains('.') && code.is_ascii(), "{code}");
            assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{code}: {zh}");
            assert_ne!(zh, english);
            codes.insert(code.to_owned());
        }
        assert!(codes.len() >= 40, "distinct codes: {}", codes.len());
    }
}

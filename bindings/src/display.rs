//! Values shown the way the township shows them, so a phone and the console agree.

/// A time (ms since 1970) as the township reads it: `YYYY-MM-DD HH:MM` in China Standard
/// Time, whatever time zone the phone is set to. For history, refused changes and sync
/// times shown beside what the township console shows.
#[uniffi::export]
pub fn china_time(at: i64) -> String {
    gridsync_core::zh::china_time(at)
}

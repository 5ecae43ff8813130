//! Time, the lowest layer: milliseconds since the epoch, where the clock comes from,
//! and the calendar arithmetic of China Standard Time (UTC+8, no daylight saving).

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// Where the wall clock comes from; tests and simulations substitute their own.
pub type Clock = fn() -> Millis;

/// Milliseconds since the Unix epoch by the system clock.
pub fn system_clock() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

/// The calendar date (year, month, day) of day `days` since 1970-01-01 (Howard
/// Hinnant's days-to-civil: proleptic Gregorian, exact for every day).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The day since 1970-01-01 of a calendar date (the inverse of [`civil_from_days`]).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day `at` falls on in China, as days since 1970-01-01 (what a daily budget or a
/// date printed in China counts by).
pub fn china_day(at: Millis) -> i64 {
    china_seconds(at).div_euclid(86_400)
}

/// Milliseconds since 1970 as seconds in China Standard Time.
pub(crate) fn china_seconds(at: Millis) -> i64 {
    at.div_euclid(1000) + 8 * 3600
}

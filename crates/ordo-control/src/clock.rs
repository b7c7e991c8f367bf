//! Wall-clock time, read in one place.
//!
//! Lease and long-poll logic runs on `tokio::time::Instant`, so tests on a paused clock
//! control it. Timestamps that people read or that are persisted (`registered_at`,
//! `last_heartbeat`, an audit record's `at`) need the wall clock; this module is the only
//! place that reads it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall clock now.
#[allow(clippy::disallowed_methods)] // the crate's one wall-clock read, for timestamps only
pub(crate) fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// Milliseconds since the Unix epoch, as stored in SQLite (0 for times before 1970).
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The time `ms` milliseconds after the Unix epoch (negative values clamp to the epoch).
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// RFC 3339 in UTC with milliseconds: `2025-01-31T09:15:02.123Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(from_millis(to_millis(t)), t);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
    }
}

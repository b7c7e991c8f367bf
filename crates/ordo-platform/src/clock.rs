//! The crate's one reading of the wall clock.
//!
//! Timers and deadlines use `tokio::time` so that paused-clock tests control
//! them. Wall-clock time only labels things people read: when an instance
//! started, until when it backs off, the header lines of log files.

use std::time::{Duration, SystemTime};

/// Now, by the wall clock.
#[allow(clippy::disallowed_methods)] // the one wall-clock reading; see the module doc
pub(crate) fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// `d` from now, by the wall clock.
pub(crate) fn wall_in(d: Duration) -> SystemTime {
    wall_now() + d
}

/// `t` as RFC 3339 with milliseconds, e.g. `2024-05-01T12:00:00.123Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

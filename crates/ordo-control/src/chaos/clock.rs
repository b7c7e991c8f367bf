//! The Chaos Monkey's clock.
//!
//! The schedule needs civil time (work days, hours, time zones). In
//! production that is the wall clock, read at every look, so a machine
//! that slept over the weekend wakes up on Monday, not on Friday evening;
//! it never goes backwards (a clock stepped back does not replay a slot).
//! Tests need time they control: [`ChaosClock::starting_at`] anchors any
//! instant (a Monday 08:59 in Los Angeles) to tokio's clock, which a
//! `start_paused` test advances.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use crate::clock;

/// Civil time for the Chaos Monkey; cheap to clone.
#[derive(Debug, Clone)]
pub struct ChaosClock {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    /// The wall clock; the latest reading in nanoseconds, so it never
    /// goes back.
    Wall(Arc<AtomicI64>),
    /// An instant anchored to tokio's clock.
    Anchored { anchor: Timestamp, at: Instant },
}

impl ChaosClock {
    /// The wall clock, read at every look, never going backwards.
    pub fn system() -> ChaosClock {
        ChaosClock {
            source: Source::Wall(Arc::new(AtomicI64::new(i64::MIN))),
        }
    }

    /// A clock that reads `anchor` now (by tokio's clock) and moves with
    /// tokio's clock: under a paused test clock it moves only when the test
    /// advances time.
    pub fn starting_at(anchor: Timestamp) -> ChaosClock {
        ChaosClock {
            source: Source::Anchored {
                anchor,
                at: Instant::now(),
            },
        }
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        match &self.source {
            Source::Wall(latest) => {
                let wall = Timestamp::try_from(clock::wall_now())
                    .unwrap_or(Timestamp::UNIX_EPOCH)
                    .as_nanosecond() as i64;
                let seen = latest.fetch_max(wall, Ordering::Relaxed).max(wall);
                Timestamp::from_nanosecond(i128::from(seen)).unwrap_or(Timestamp::UNIX_EPOCH)
            }
            Source::Anchored { anchor, at } => {
                let elapsed =
                    SignedDuration::try_from(Instant::now().saturating_duration_since(*at))
                        .unwrap_or(SignedDuration::MAX);
                anchor.checked_add(elapsed).unwrap_or(Timestamp::MAX)
            }
        }
    }

    /// How long from now until `t` (zero when `t` has passed).
    pub fn until(&self, t: Timestamp) -> Duration {
        let d = t.duration_since(self.now());
        Duration::try_from(d).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_never_goes_back() {
        let clock = ChaosClock::system();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert!(a > "2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn it_moves_with_tokios_clock() {
        let start: Timestamp = "2026-03-02T16:59:00Z".parse().unwrap();
        let clock = ChaosClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(
            clock.now(),
            "2026-03-02T17:00:30Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(clock.until(start), Duration::ZERO);
        let later: Timestamp = "2026-03-02T17:01:00Z".parse().unwrap();
        assert_eq!(clock.until(later), Duration::from_secs(30));
    }
}

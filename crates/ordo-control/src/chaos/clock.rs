//! The Chaos Monkey's clock: a wall-clock reading taken once, moved on by
//! tokio's clock.
//!
//! The schedule needs civil time (work days, hours, time zones), the tests
//! need time they control. Anchoring a wall-clock instant to a
//! `tokio::time::Instant` gives both: in production the anchor is now and
//! tokio's clock is monotonic (a clock step does not replay or skip a
//! slot); under `start_paused` tests the anchor is any instant the test
//! picks (a Monday 08:59 in Los Angeles) and time moves as the test
//! advances it.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use crate::clock;

/// Civil time for the Chaos Monkey; cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct ChaosClock {
    anchor: Timestamp,
    at: Instant,
}

impl ChaosClock {
    /// The wall clock now, moved on by tokio's clock from here.
    pub fn system() -> ChaosClock {
        let now = Timestamp::try_from(clock::wall_now()).unwrap_or(Timestamp::UNIX_EPOCH);
        ChaosClock::starting_at(now)
    }

    /// A clock that reads `anchor` now (by tokio's clock) and moves with
    /// tokio's clock: under a paused test clock it moves only when the test
    /// advances time.
    pub fn starting_at(anchor: Timestamp) -> ChaosClock {
        ChaosClock {
            anchor,
            at: Instant::now(),
        }
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        self.at_instant(Instant::now())
    }

    /// The time at tokio instant `i`.
    pub fn at_instant(&self, i: Instant) -> Timestamp {
        let elapsed = SignedDuration::try_from(i.saturating_duration_since(self.at))
            .unwrap_or(SignedDuration::MAX);
        self.anchor.checked_add(elapsed).unwrap_or(Timestamp::MAX)
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

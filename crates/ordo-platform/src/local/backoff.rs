//! Restart backoff: how long an instance waits before its next attempt.
//!
//! The delay starts at `initial`, doubles with each failure in a row and
//! stops growing at `max`; an instance that stayed up for `reset_after`
//! starts again from `initial` at its next failure. So a crash loop costs a
//! few processes a minute, not a busy CPU, and an instance that crashes once
//! a day restarts at once. Jitter takes up to a share `jitter` off each delay,
//! drawn from a seedable random source, so replicas that crash together do
//! not restart together.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::PlatformError;

/// The restart backoff's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// The first delay. Default 500 ms.
    pub initial: Duration,
    /// The longest delay. Default 30 s.
    pub max: Duration,
    /// Share of each delay that jitter may take off, in `0.0..=1.0`
    /// (0 = none). Default 0.2: a 4 s delay becomes 3.2 s to 4 s.
    pub jitter: f64,
    /// Seed of the jitter's random source; `None` seeds it from the
    /// process's randomness. Tests set a seed (or no jitter) to replay.
    pub seed: Option<u64>,
    /// An instance up for this long starts from `initial` at its next
    /// failure. Default 30 s.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter: 0.2,
            seed: None,
            reset_after: Duration::from_secs(30),
        }
    }
}

impl BackoffPolicy {
    /// The first problem with these settings.
    pub fn validate(&self) -> Result<(), PlatformError> {
        if self.initial.is_zero() {
            return Err(PlatformError::invalid(
                "backoff.initial",
                "must be more than zero (a crashing command would restart in a busy loop)",
            ));
        }
        if self.max < self.initial {
            return Err(PlatformError::invalid(
                "backoff.max",
                "must be at least backoff.initial",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(PlatformError::invalid(
                "backoff.jitter",
                format!("{} is not between 0.0 and 1.0", self.jitter),
            ));
        }
        Ok(())
    }
}

/// One instance's backoff state: failures in a row.
#[derive(Debug)]
pub(super) struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
}

impl Backoff {
    pub(super) fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// The delay before the next attempt, counting one more failure.
    pub(super) fn next_delay(&mut self, rng: &Rng) -> Duration {
        let base = self.base(self.failures);
        self.failures = self.failures.saturating_add(1);
        if self.policy.jitter == 0.0 {
            return base;
        }
        base.mul_f64(1.0 - self.policy.jitter * rng.next_f64())
    }

    /// The delay before jitter after `failures` failures in a row.
    fn base(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(31));
        self.policy
            .initial
            .checked_mul(factor)
            .map_or(self.policy.max, |d| d.min(self.policy.max))
    }

    /// A process that turned up at `up_since` (if it did) has ended: if it
    /// stayed up for `reset_after`, the next delay is `initial` again.
    pub(super) fn ended(&mut self, up_since: Option<Instant>) {
        if up_since.is_some_and(|t| t.elapsed() >= self.policy.reset_after) {
            self.failures = 0;
        }
    }
}

/// A seedable random source shared by every instance of a platform
/// (SplitMix64 over one atomic).
#[derive(Debug)]
pub(super) struct Rng {
    state: AtomicU64,
}

impl Rng {
    /// Seeded with `seed`, or from the process's randomness.
    pub(super) fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x6f72_646f);
            h.finish()
        });
        Rng {
            state: AtomicU64::new(seed),
        }
    }

    /// A uniform number in `[0, 1)`.
    pub(super) fn next_f64(&self) -> f64 {
        const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut z = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn no_jitter() -> BackoffPolicy {
        BackoffPolicy {
            jitter: 0.0,
            ..BackoffPolicy::default()
        }
    }

    #[test]
    fn doubles_from_initial_up_to_max() {
        let rng = Rng::new(Some(1));
        let mut b = Backoff::new(no_jitter());
        let delays: Vec<_> = (0..10).map(|_| b.next_delay(&rng)).collect();
        let secs = |s| Duration::from_secs(s);
        assert_eq!(
            delays,
            [
                ms(500),
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(30),
                secs(30),
                secs(30),
                secs(30)
            ]
        );
    }

    #[test]
    fn never_overflows() {
        let rng = Rng::new(Some(1));
        let mut b = Backoff::new(BackoffPolicy {
            max: Duration::MAX,
            ..no_jitter()
        });
        for _ in 0..200 {
            b.next_delay(&rng);
        }
        assert!(b.next_delay(&rng) >= Duration::from_secs(500 * (1 << 20)));
    }

    #[test]
    fn jitter_only_shortens_within_its_share_and_replays_from_a_seed() {
        let policy = BackoffPolicy {
            jitter: 0.5,
            seed: Some(7),
            ..BackoffPolicy::default()
        };
        let draw = || {
            let rng = Rng::new(policy.seed);
            let mut b = Backoff::new(policy.clone());
            (0..8).map(|_| b.next_delay(&rng)).collect::<Vec<_>>()
        };
        let delays = draw();
        assert_eq!(delays, draw());
        let mut plain = Backoff::new(no_jitter());
        let rng = Rng::new(None);
        for d in delays {
            let base = plain.next_delay(&rng);
            assert!(
                d <= base && d >= base / 2,
                "{d:?} outside [{:?}, {base:?}]",
                base / 2
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn resets_only_after_staying_up_long_enough() {
        let rng = Rng::new(None);
        let mut b = Backoff::new(no_jitter());
        assert_eq!(b.next_delay(&rng), ms(500));
        assert_eq!(b.next_delay(&rng), ms(1000));

        // Up for 29 s: not long enough, the delays keep growing.
        let up = Instant::now();
        tokio::time::advance(Duration::from_secs(29)).await;
        b.ended(Some(up));
        assert_eq!(b.next_delay(&rng), ms(2000));

        // Never up: no reset however long it took.
        tokio::time::advance(Duration::from_secs(60)).await;
        b.ended(None);
        assert_eq!(b.next_delay(&rng), ms(4000));

        // Up for 30 s: back to the first delay.
        let up = Instant::now();
        tokio::time::advance(Duration::from_secs(30)).await;
        b.ended(Some(up));
        assert_eq!(b.next_delay(&rng), ms(500));
    }

    #[test]
    fn settings_that_would_busy_loop_are_refused() {
        let zero = BackoffPolicy {
            initial: Duration::ZERO,
            ..BackoffPolicy::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("busy loop")
        );
        let inverted = BackoffPolicy {
            max: ms(1),
            ..BackoffPolicy::default()
        };
        assert!(inverted.validate().is_err());
        let jitter = BackoffPolicy {
            jitter: 1.5,
            ..BackoffPolicy::default()
        };
        assert!(jitter.validate().is_err());
        BackoffPolicy::default().validate().unwrap();
    }
}

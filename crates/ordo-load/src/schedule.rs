//! [`Schedule`]: when each request is due.
//!
//! Request `i` is due at `start + i / rate`, computed from `i` each time
//! rather than by adding a period to the previous time, so rounding never
//! accumulates: request 1,000,000 at 3 requests per second is due at exactly
//! 333,333.333333333 s, not a few milliseconds off after a million additions.

use std::time::Duration;

use tokio::time::Instant;

const NANOS_PER_SEC: f64 = 1e9;

/// Offsets of due times from the start of a run, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Offsets {
    rate: f64,
}

impl Offsets {
    /// The offset of request `i`, rounded to the nearest nanosecond.
    pub(crate) fn of(&self, i: u64) -> Duration {
        // `as u64` saturates, so absurd indices cannot wrap.
        Duration::from_nanos((i as f64 * NANOS_PER_SEC / self.rate).round() as u64)
    }

    /// How many requests are due strictly before `offset`.
    pub(crate) fn count_before(&self, offset: Duration) -> u64 {
        // A first guess from the inverse, then exact correction against
        // `of`, so this agrees with `of` however the floats round.
        let mut k = (offset.as_nanos() as f64 * self.rate / NANOS_PER_SEC).ceil() as u64;
        while k > 0 && self.of(k - 1) >= offset {
            k -= 1;
        }
        while self.of(k) < offset {
            k += 1;
        }
        k
    }
}

/// The due times of one run: request `i` is due at `start + i / rate`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    start: Instant,
    offsets: Offsets,
}

impl Schedule {
    /// Offsets at `rate` requests per second (which must be positive and finite).
    pub(crate) fn offsets(rate: f64) -> Offsets {
        Offsets { rate }
    }

    /// A schedule starting at `start`.
    pub(crate) fn new(start: Instant, rate: f64) -> Self {
        Self {
            start,
            offsets: Self::offsets(rate),
        }
    }

    /// When the run started: request 0 is due then.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// When request `i` is due.
    pub(crate) fn due(&self, i: u64) -> Instant {
        self.start + self.offsets.of(i)
    }

    /// How many requests are due at or before `at`.
    pub(crate) fn due_by(&self, at: Instant) -> u64 {
        if at < self.start {
            return 0;
        }
        let since = at - self.start;
        self.offsets.count_before(since + Duration::from_nanos(1))
    }

    /// How many requests are due strictly before `at`.
    pub(crate) fn due_before(&self, at: Instant) -> u64 {
        self.offsets
            .count_before(at.saturating_duration_since(self.start))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn due_times_are_exact_multiples_of_the_period() {
        let o = Schedule::offsets(100.0);
        assert_eq!(o.of(0), Duration::ZERO);
        assert_eq!(o.of(1), Duration::from_millis(10));
        assert_eq!(o.of(999), Duration::from_millis(9990));
        let third = Schedule::offsets(3.0);
        assert_eq!(third.of(1), Duration::from_nanos(333_333_333));
        assert_eq!(third.of(2), Duration::from_nanos(666_666_667));
        assert_eq!(third.of(3_000_000), Duration::from_secs(1_000_000));
    }

    #[test]
    fn counts_are_half_open() {
        let o = Schedule::offsets(100.0);
        assert_eq!(o.count_before(Duration::ZERO), 0);
        assert_eq!(o.count_before(Duration::from_nanos(1)), 1);
        assert_eq!(o.count_before(Duration::from_millis(10)), 1);
        assert_eq!(o.count_before(Duration::from_secs(10)), 1000);
    }

    proptest! {
        #[test]
        fn count_before_agrees_with_offsets(
            rate in 0.001f64..1_000_000.0,
            i in 0u64..10_000_000,
            nudge in -2i64..=2,
        ) {
            let o = Schedule::offsets(rate);
            let at = o.of(i).as_nanos() as i64 + nudge;
            prop_assume!(at >= 0);
            let at = Duration::from_nanos(at as u64);
            let n = o.count_before(at);
            // Everything before index n is due before `at`, index n is not.
            prop_assert!(n == 0 || o.of(n - 1) < at);
            prop_assert!(o.of(n) >= at);
        }

        #[test]
        fn offsets_never_drift(rate in 0.001f64..1_000_000.0, i in 0u64..1_000_000_000) {
            let exact = i as f64 / rate * 1e9;
            prop_assume!(exact < 1e18);
            let got = Schedule::offsets(rate).of(i).as_nanos() as f64;
            // Within a nanosecond plus float precision of the exact value.
            prop_assert!((got - exact).abs() <= 1.0 + exact * 1e-15, "{got} vs {exact}");
        }
    }
}

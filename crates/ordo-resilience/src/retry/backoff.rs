//! How long to wait before each retry.

use std::time::Duration;

use crate::rng::Rng;

/// How delays grow from one retry to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Growth {
    /// The same delay every time.
    Constant,
    /// `initial × n` for the n-th retry.
    Linear,
    /// `initial × multiplier^(n-1)` for the n-th retry.
    Exponential {
        /// The factor between two retries' delays.
        multiplier: f64,
    },
}

/// How the delay is randomised, so that callers that failed together do not
/// retry together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// The computed delay, exactly.
    None,
    /// Uniform between zero and the computed delay ("full jitter", which
    /// spreads retries best; see AWS's "Exponential Backoff and Jitter").
    Full,
    /// Uniform between half the computed delay and all of it.
    Equal,
    /// Uniform within ±`factor` of the computed delay (Polly's ±25 % for
    /// constant and linear delays is `Proportional(0.25)`).
    Proportional(f64),
}

/// The delays between retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first retry's delay (before jitter).
    pub initial: Duration,
    /// How delays grow.
    pub growth: Growth,
    /// No delay exceeds this (before jitter).
    pub max: Duration,
    /// How delays are randomised.
    pub jitter: Jitter,
}

impl Backoff {
    /// Exponential growth ×2 from `initial` up to `max`, with full jitter.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            growth: Growth::Exponential { multiplier: 2.0 },
            max,
            jitter: Jitter::Full,
        }
    }

    /// The same delay every time, without jitter.
    pub fn constant(delay: Duration) -> Self {
        Backoff {
            initial: delay,
            growth: Growth::Constant,
            max: delay,
            jitter: Jitter::None,
        }
    }

    /// No delay at all.
    pub fn none() -> Self {
        Self::constant(Duration::ZERO)
    }

    /// The same backoff with another jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before the `retry`-th retry (1-based), before jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let n = retry.max(1);
        let secs = self.initial.as_secs_f64()
            * match self.growth {
                Growth::Constant => 1.0,
                Growth::Linear => f64::from(n),
                Growth::Exponential { multiplier } => multiplier.powi((n - 1).min(1023) as i32),
            };
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The delay before the `retry`-th retry, jittered with `rng`.
    pub fn delay(&self, retry: u32, rng: &Rng) -> Duration {
        let base = self.base_delay(retry);
        let scale = |lo: f64, hi: f64| {
            let f = lo + (hi - lo) * rng.next_f64();
            // Past `Duration::MAX` (a huge `max` jittered upward): the most
            // there is, not a panic.
            Duration::try_from_secs_f64((base.as_secs_f64() * f).max(0.0)).unwrap_or(Duration::MAX)
        };
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => scale(0.0, 1.0),
            Jitter::Equal => scale(0.5, 1.0),
            Jitter::Proportional(p) => scale(1.0 - p, 1.0 + p),
        }
    }

    pub(crate) fn problems(&self, e: &mut crate::error::ConfigError) {
        e.check(self.max >= self.initial, "backoff.max", || {
            format!(
                "{:?} is shorter than backoff.initial {:?}",
                self.max, self.initial
            )
        });
        if let Growth::Exponential { multiplier } = self.growth {
            e.check(
                multiplier.is_finite() && multiplier >= 1.0,
                "backoff.growth.multiplier",
                || format!("must be at least 1.0, got {multiplier}"),
            );
        }
        if let Jitter::Proportional(p) = self.jitter {
            e.check((0.0..=1.0).contains(&p), "backoff.jitter", || {
                format!("a proportional jitter must be 0 to 1, got {p}")
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_grows_and_caps() {
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1))
            .with_jitter(Jitter::None);
        let d: Vec<_> = (1..=6).map(|n| b.base_delay(n).as_millis()).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn full_jitter_stays_below_the_base() {
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1));
        let rng = Rng::seeded(3);
        for n in 1..10 {
            assert!(b.delay(n, &rng) <= b.base_delay(n));
        }
    }

    #[test]
    fn a_huge_jittered_delay_saturates_instead_of_panicking() {
        let b = Backoff::constant(Duration::MAX).with_jitter(Jitter::Proportional(1.0));
        let rng = Rng::seeded(5);
        for n in 1..20 {
            let _ = b.delay(n, &rng);
        }
    }

    #[test]
    fn linear_grows_by_initial() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            growth: Growth::Linear,
            max: Duration::from_millis(35),
            jitter: Jitter::None,
        };
        let d: Vec<_> = (1..=4).map(|n| b.base_delay(n).as_millis()).collect();
        assert_eq!(d, vec![10, 20, 30, 35]);
    }
}

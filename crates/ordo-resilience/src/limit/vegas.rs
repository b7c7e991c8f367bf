//! Vegas: delay-based, estimating the queue from how much slower calls are
//! than the fastest seen, as TCP Vegas does.

use std::time::Duration;

use super::{LimitAlgorithm, Sample};
use crate::error::ConfigError;
use crate::rng::Rng;

/// Netflix's `VegasLimit`, with a slow start.
///
/// The queue is estimated as `limit × (1 − rtt_noload / rtt)`, where
/// `rtt_noload` is the fastest recent sample (re-probed every
/// `probe_multiplier × limit` samples, with jitter). With little queue the
/// limit grows, with much it shrinks; between `alpha` and `beta` it holds.
/// Thresholds scale with `log10(limit)` as in Netflix's implementation.
///
/// | setting | default |
/// |---|---|
/// | `initial_limit` | 20 |
/// | `max_limit` | 1,000 |
/// | `smoothing` | 1.0 |
/// | `probe_multiplier` | 30 |
/// | `slow_start` | on (ordo's fix, see below) |
///
/// **Slow start** (on by default): Netflix's Vegas adds only `beta`
/// (6 at a limit of 20) per sample when there is no queue, so a service that
/// needs a limit of 500 takes thousands of samples to get there and sheds
/// load meanwhile (concurrency-limits issue #35). Until the first sign of
/// queueing or a drop, ordo doubles the limit instead, as TCP's slow start
/// does; after that it behaves exactly like Netflix's.
#[derive(Debug)]
pub struct Vegas {
    /// The limit before any sample.
    pub initial_limit: u32,
    /// The limit never goes above this.
    pub max_limit: u32,
    /// How much of each step to take, in (0, 1].
    pub smoothing: f64,
    /// `rtt_noload` is re-measured every `probe_multiplier × limit` samples.
    pub probe_multiplier: u32,
    /// Double the limit until the first queueing or drop.
    pub slow_start: bool,
    /// The current limit; `None` until the first sample, so a changed
    /// `initial_limit` field is honoured.
    limit: Option<f64>,
    rtt_noload: Duration,
    probe_count: u64,
    probe_jitter: f64,
    in_slow_start: bool,
    rng: Rng,
}

impl Default for Vegas {
    fn default() -> Self {
        Vegas::new(20, 1000)
    }
}

/// Netflix's `Log10RootFunction`: log10 below 1000, square root above.
fn log10_root(limit: f64) -> f64 {
    let l = limit.max(1.0);
    if l < 1000.0 {
        l.log10().floor().max(1.0)
    } else {
        l.sqrt().floor()
    }
}

impl Vegas {
    /// Vegas with these limits and the other settings at their defaults.
    pub fn new(initial_limit: u32, max_limit: u32) -> Self {
        let rng = Rng::new();
        Vegas {
            initial_limit,
            max_limit,
            smoothing: 1.0,
            probe_multiplier: 30,
            slow_start: true,
            limit: None,
            rtt_noload: Duration::ZERO,
            probe_count: 0,
            probe_jitter: 0.5 + rng.next_f64() * 0.5,
            in_slow_start: true,
            rng,
        }
    }

    /// The same, with probe jitter drawn from `rng` (for reproducible tests).
    pub fn with_rng(mut self, rng: Rng) -> Self {
        self.probe_jitter = 0.5 + rng.next_f64() * 0.5;
        self.rng = rng;
        self
    }

    /// Without ordo's slow start: exactly Netflix's algorithm.
    pub fn without_slow_start(mut self) -> Self {
        self.slow_start = false;
        self
    }

    pub(crate) fn problems(&self, e: &mut ConfigError) {
        super::check_bounds(e, self.initial_limit, 1, self.max_limit);
        e.check(
            self.smoothing > 0.0 && self.smoothing <= 1.0,
            "vegas.smoothing",
            || format!("must be in (0, 1], got {}", self.smoothing),
        );
        e.check(self.probe_multiplier >= 1, "vegas.probe_multiplier", || {
            "must be at least 1".to_owned()
        });
    }
}

impl LimitAlgorithm for Vegas {
    fn initial_limit(&self) -> u32 {
        self.initial_limit
    }

    fn update(&mut self, sample: &Sample) -> u32 {
        let l = self.limit.unwrap_or(f64::from(self.initial_limit));
        let rtt = sample.rtt.max(Duration::from_nanos(1));
        self.probe_count += 1;
        if self.probe_jitter * f64::from(self.probe_multiplier) * l <= self.probe_count as f64 {
            self.probe_jitter = 0.5 + self.rng.next_f64() * 0.5;
            self.probe_count = 0;
            self.rtt_noload = rtt;
            return l as u32;
        }
        if self.rtt_noload.is_zero() || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
            return l as u32;
        }
        let queue = (l * (1.0 - self.rtt_noload.as_secs_f64() / rtt.as_secs_f64())).ceil();
        let step = log10_root(l);
        let (alpha, beta, threshold) = (3.0 * step, 6.0 * step, step);
        let next = if sample.dropped {
            self.in_slow_start = false;
            l - step
        } else if f64::from(sample.in_flight) * 2.0 < l {
            return l as u32;
        } else if queue <= threshold {
            if self.slow_start && self.in_slow_start {
                l * 2.0
            } else {
                l + beta
            }
        } else {
            self.in_slow_start = false;
            if queue < alpha {
                l + step
            } else if queue > beta {
                l - step
            } else {
                return l as u32;
            }
        };
        let next = next.clamp(1.0, f64::from(self.max_limit));
        let limit = (1.0 - self.smoothing) * l + self.smoothing * next;
        self.limit = Some(limit);
        limit as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rtt_ms: u64, in_flight: u32) -> Sample {
        Sample {
            rtt: Duration::from_millis(rtt_ms),
            in_flight,
            dropped: false,
        }
    }

    #[test]
    fn slow_start_doubles_until_queueing_then_netflix_steps() {
        let mut v = Vegas::new(20, 1000).with_rng(Rng::seeded(1));
        v.update(&at(10, 20)); // sets rtt_noload
        assert_eq!(v.update(&at(10, 20)), 40);
        assert_eq!(v.update(&at(10, 40)), 80);
        // Queueing: rtt doubled means half the limit is queue: shrink.
        let l = v.update(&at(20, 80));
        assert!(l < 80, "{l}");
        // Out of slow start: no queue grows by beta only.
        let before = v.limit.unwrap_or(f64::from(v.initial_limit)) as u32;
        let after = v.update(&at(10, before));
        assert_eq!(after, before + 6);
    }

    #[test]
    fn without_slow_start_grows_by_beta() {
        let mut v = Vegas::new(20, 1000)
            .with_rng(Rng::seeded(1))
            .without_slow_start();
        v.update(&at(10, 20));
        assert_eq!(v.update(&at(10, 20)), 26);
    }

    #[test]
    fn drops_shrink_even_when_app_limited() {
        let mut v = Vegas::new(50, 1000).with_rng(Rng::seeded(1));
        v.update(&at(10, 50));
        let s = Sample {
            rtt: Duration::from_millis(12),
            in_flight: 1,
            dropped: true,
        };
        assert_eq!(v.update(&s), 49);
    }
}

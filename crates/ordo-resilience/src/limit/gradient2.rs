//! Gradient2: compare each call's latency with a long-term average and
//! scale the limit by the ratio.

use super::{LimitAlgorithm, Sample};
use crate::error::ConfigError;

/// Netflix's `Gradient2Limit`, with fixes for its known drift.
///
/// Each sample's latency is compared with an exponential average over
/// `long_window` samples. The gradient `tolerance × long / short`, clamped
/// to [0.5, 1], scales the limit, and `queue_size` is added so the limit
/// can grow; the step is smoothed. When the long average exceeds twice the
/// sample it decays by 5 %, so the average recovers after a load spike.
///
/// | setting | default |
/// |---|---|
/// | `initial_limit` | 20 |
/// | `min_limit` | 20 |
/// | `max_limit` | 200 |
/// | `smoothing` | 0.2 |
/// | `queue_size` | 4 |
/// | `long_window` | 600 samples |
/// | `tolerance` | 1.5 |
/// | `drift_guard` | on (ordo's fix) |
/// | `respect_drops` | on (ordo's fix) |
///
/// **Drift guard** (on by default). Netflix's update settles where
/// `limit = queue_size / (1 − gradient)`: at a gradient of 0.95 that is 80,
/// and every sample within `tolerance` of the average gives a gradient of
/// 1 and +0.8. Because the long average follows the latency the limit
/// itself causes, a dependency kept in moderate overload sees its limit
/// climb until `max_limit` (concurrency-limits PR #134, issue #137). With
/// the guard, the `queue_size` headroom is added only when the gradient is
/// 1 (latency within tolerance), so any sign of queueing stops growth.
///
/// **Respect drops** (on by default). Netflix's Gradient2 ignores drops
/// entirely, so a dependency whose calls all time out at the same latency
/// looks healthy (issue #137). With this on, a dropped call applies the
/// minimum gradient, 0.5: the limit settles below the point where calls
/// start timing out, instead of at `max_limit`.
///
/// Like every delay-based limit without a probe, Gradient2 cannot tell a
/// dependency that got slower from one it is overloading once the long
/// average has caught up; the drops are what bound it then. Use
/// [`Aimd`](super::Aimd) with its timeout set to your latency objective if
/// the objective matters more than throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient2 {
    /// The limit before any sample.
    pub initial_limit: u32,
    /// The limit never goes below this.
    pub min_limit: u32,
    /// The limit never goes above this.
    pub max_limit: u32,
    /// How much of each step to take, in (0, 1].
    pub smoothing: f64,
    /// Headroom added on each update so the limit can grow.
    pub queue_size: u32,
    /// Samples the long-term average spans.
    pub long_window: u32,
    /// How much slower than the average a call may be before the limit
    /// shrinks (at least 1.0).
    pub tolerance: f64,
    /// ordo's fix for upward drift: headroom only at gradient 1.
    pub drift_guard: bool,
    /// ordo's fix for ignored drops; see above.
    pub respect_drops: bool,
    /// The current limit; `None` until the first sample, so a changed
    /// `initial_limit` field is honoured.
    limit: Option<f64>,
    long: LongAverage,
}

/// Netflix's `ExpAvgMeasurement`: a plain mean for the first samples, an
/// exponential average after.
#[derive(Debug, Clone, PartialEq)]
struct LongAverage {
    value: f64,
    count: u32,
}

impl LongAverage {
    const WARMUP: u32 = 10;

    fn new() -> Self {
        LongAverage {
            value: 0.0,
            count: 0,
        }
    }

    fn add(&mut self, sample: f64, window: u32) -> f64 {
        if self.count < Self::WARMUP {
            self.count += 1;
            self.value += (sample - self.value) / f64::from(self.count);
        } else {
            let f = 2.0 / (f64::from(window) + 1.0);
            self.value = self.value * (1.0 - f) + sample * f;
        }
        self.value
    }
}

impl Default for Gradient2 {
    fn default() -> Self {
        Gradient2::new(20, 20, 200)
    }
}

impl Gradient2 {
    /// Gradient2 with these limits and the other settings at their defaults.
    pub fn new(initial_limit: u32, min_limit: u32, max_limit: u32) -> Self {
        Gradient2 {
            initial_limit,
            min_limit,
            max_limit,
            smoothing: 0.2,
            queue_size: 4,
            long_window: 600,
            tolerance: 1.5,
            drift_guard: true,
            respect_drops: true,
            limit: None,
            long: LongAverage::new(),
        }
    }

    /// Exactly Netflix's algorithm, without ordo's fixes.
    pub fn netflix(mut self) -> Self {
        self.drift_guard = false;
        self.respect_drops = false;
        self
    }

    pub(crate) fn problems(&self, e: &mut ConfigError) {
        super::check_bounds(e, self.initial_limit, self.min_limit, self.max_limit);
        e.check(
            self.smoothing > 0.0 && self.smoothing <= 1.0,
            "gradient2.smoothing",
            || format!("must be in (0, 1], got {}", self.smoothing),
        );
        e.check(self.tolerance >= 1.0, "gradient2.tolerance", || {
            format!("must be at least 1.0, got {}", self.tolerance)
        });
        e.check(self.long_window >= 1, "gradient2.long_window", || {
            "must be at least 1".to_owned()
        });
    }
}

impl LimitAlgorithm for Gradient2 {
    fn initial_limit(&self) -> u32 {
        self.initial_limit
    }

    fn update(&mut self, sample: &Sample) -> u32 {
        let l = self.limit.unwrap_or(f64::from(self.initial_limit));
        let short = sample.rtt.as_secs_f64().max(1e-9);
        let long = self.long.add(short, self.long_window);
        if long / short > 2.0 {
            self.long.value *= 0.95;
        }
        if f64::from(sample.in_flight) < l / 2.0 {
            return l as u32;
        }
        let gradient = if self.respect_drops && sample.dropped {
            0.5
        } else {
            (self.tolerance * long / short).clamp(0.5, 1.0)
        };
        let headroom = if self.drift_guard && gradient < 1.0 {
            0.0
        } else {
            f64::from(self.queue_size)
        };
        let next = l * gradient + headroom;
        let next = l * (1.0 - self.smoothing) + next * self.smoothing;
        let limit = next.clamp(f64::from(self.min_limit), f64::from(self.max_limit));
        self.limit = Some(limit);
        limit as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(rtt_ms: u64, in_flight: u32) -> Sample {
        Sample {
            rtt: Duration::from_millis(rtt_ms),
            in_flight,
            dropped: false,
        }
    }

    /// A dependency with capacity for `capacity` calls at once: beyond
    /// it, latency grows with the calls in flight; calls slower than the
    /// timeout are dropped. The client always has calls to send.
    fn overload(g: &mut Gradient2, capacity: f64) -> Vec<u32> {
        let rng = crate::rng::Rng::seeded(7);
        let (base_ms, timeout_ms) = (10.0, 50.0);
        let mut limit = g.initial_limit;
        let mut limits = Vec::new();
        for _ in 0..50_000 {
            let noise = 0.9 + 0.2 * rng.next_f64();
            let rtt = base_ms * (f64::from(limit) / capacity).max(1.0) * noise;
            limit = g.update(&Sample {
                rtt: Duration::from_secs_f64(rtt.min(timeout_ms) / 1000.0),
                in_flight: limit,
                dropped: rtt > timeout_ms,
            });
            limits.push(limit);
        }
        limits
    }

    #[test]
    fn netflix_gradient2_climbs_to_the_max_under_overload() {
        let mut g = Gradient2::new(50, 20, 1000).netflix();
        let limits = overload(&mut g, 100.0);
        assert_eq!(*limits.last().unwrap(), 1000);
    }

    #[test]
    fn drift_guard_and_drops_keep_the_limit_below_the_timeouts() {
        let mut g = Gradient2::new(50, 20, 1000);
        let limits = overload(&mut g, 100.0);
        let tail = &limits[limits.len() - 10_000..];
        // Calls time out from 5x capacity on: the limit stays below.
        assert!(tail.iter().all(|l| *l < 500), "max {:?}", tail.iter().max());
        assert!(tail.iter().any(|l| *l > 100), "still uses the capacity");
    }

    #[test]
    fn grows_while_latency_is_flat_and_drops_halve_the_gradient() {
        let mut g = Gradient2::new(20, 10, 200);
        let mut l = 0;
        for _ in 0..100 {
            l = g.update(&at(10, 500));
        }
        assert!(l > 60, "{l}");
        let dropped = Sample {
            rtt: Duration::from_millis(10),
            in_flight: 500,
            dropped: true,
        };
        let after = g.update(&dropped);
        assert!(after < l, "{after} < {l}");
    }
}

//! Circuit breaker settings, their defaults and their validation.

use std::time::Duration;

use crate::error::ConfigError;
use crate::window::Snapshot;

/// What the breaker looks at to decide whether to open.
#[derive(Debug, Clone, PartialEq)]
pub enum SlidingWindow {
    /// The last `size` calls (1 to 1,000,000).
    Count {
        /// Number of calls.
        size: u32,
    },
    /// The calls of the last `length`, counted in `buckets` equal buckets
    /// (1 to 256) that expire one at a time. Each bucket counts up to
    /// 262,143 calls; above that it saturates (use more buckets for more
    /// calls per second).
    Time {
        /// The span of time.
        length: Duration,
        /// How many buckets it is cut in.
        buckets: u32,
    },
    /// Open after `failures` failures in a row, whatever the rate (slow
    /// calls count as failures when slow-call detection is on).
    ConsecutiveFailures {
        /// Failures in a row that open the circuit.
        failures: u32,
    },
}

/// Slow-call detection: calls slower than `duration` count as slow, and the
/// circuit opens when the slow share reaches `rate_threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowCalls {
    /// A call that takes longer than this is slow.
    pub duration: Duration,
    /// Percentage of slow calls (0, 100] at which the circuit opens.
    pub rate_threshold: f64,
}

/// How long the circuit stays open before it lets trial calls through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenWait {
    /// The wait after the first trip.
    pub initial: Duration,
    /// Each further trip without the circuit closing in between multiplies
    /// the wait by this (1.0 = fixed wait).
    pub multiplier: f64,
    /// The wait never exceeds this.
    pub max: Duration,
}

impl OpenWait {
    /// The same wait every time.
    pub fn fixed(wait: Duration) -> Self {
        OpenWait {
            initial: wait,
            multiplier: 1.0,
            max: wait,
        }
    }

    /// A wait that grows by `multiplier` on repeated trips, up to `max`.
    pub fn exponential(initial: Duration, multiplier: f64, max: Duration) -> Self {
        OpenWait {
            initial,
            multiplier,
            max,
        }
    }

    /// The wait after the `trip`-th consecutive trip (1-based).
    pub fn after_trip(&self, trip: u32) -> Duration {
        let factor = self.multiplier.powi(trip.saturating_sub(1).min(64) as i32);
        let secs = self.initial.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }
}

/// How the circuit tests a dependency before closing again.
///
/// Half-open starts with a *probe* stage: at most `permitted_calls` trial
/// calls are let through (all others are rejected) and, once they have all
/// finished, judged with the same thresholds as the closed circuit. A probe
/// still running after `probe_deadline` counts as a failure and gives its
/// permit back, so a hung call cannot hold the circuit half-open forever.
///
/// Then, unless `ramp` is empty, the circuit *ramps*: for `ramp_step` each,
/// it admits the given shares of calls in turn (spread evenly, rejecting the
/// rest), recording them in a fresh window that can open the circuit again.
/// After the last step it closes. This keeps a dependency that just recovered
/// from taking its full load at once, the stampede that follows a single
/// successful probe in Hystrix.
#[derive(Debug, Clone, PartialEq)]
pub struct HalfOpen {
    /// Trial calls in the probe stage (1 to 4,095).
    pub permitted_calls: u32,
    /// A probe running longer than this counts as failed.
    pub probe_deadline: Duration,
    /// Shares of calls admitted in each ramp step, increasing, each in
    /// (0, 1). Empty: close right after the probes pass.
    pub ramp: Vec<f64>,
    /// How long each ramp step lasts.
    pub ramp_step: Duration,
}

/// Everything a circuit breaker needs to know. See the defaults table in
/// [the module docs](crate::circuit_breaker).
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreakerConfig {
    /// What the closed circuit looks at.
    pub window: SlidingWindow,
    /// Calls the window must hold before rates are judged (rate windows).
    pub minimum_calls: u32,
    /// Percentage of failed calls (0, 100] at which the circuit opens.
    pub failure_rate_threshold: f64,
    /// Slow-call detection; `None` measures no durations.
    pub slow_calls: Option<SlowCalls>,
    /// How long the circuit stays open.
    pub open_wait: OpenWait,
    /// How the circuit tests the dependency before closing.
    pub half_open: HalfOpen,
    /// Count other policies' local rejections (bulkhead full, rate limited,
    /// ...) as failures. Off by default: a full bulkhead says nothing about
    /// the dependency, and counting it would open the circuit exactly when
    /// the service is merely busy.
    pub count_rejections: bool,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            window: SlidingWindow::Count { size: 100 },
            minimum_calls: 20,
            failure_rate_threshold: 50.0,
            slow_calls: None,
            open_wait: OpenWait::exponential(Duration::from_secs(5), 2.0, Duration::from_secs(60)),
            half_open: HalfOpen {
                permitted_calls: 5,
                probe_deadline: Duration::from_secs(10),
                ramp: vec![0.1, 0.25, 0.5],
                ramp_step: Duration::from_secs(1),
            },
            count_rejections: false,
        }
    }
}

/// Limits that the lock-free state machine relies on.
pub(crate) const MAX_PERMITTED: u32 = 4095;

impl CircuitBreakerConfig {
    /// Checks every field; lists every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("circuit_breaker");
        match &self.window {
            SlidingWindow::Count { size } => {
                e.check(
                    (1..=crate::window::count::MAX_SIZE).contains(size),
                    "window.size",
                    || format!("must be 1 to 1000000 calls, got {size}"),
                );
                e.check(self.minimum_calls <= *size, "minimum_calls", || {
                    format!(
                        "{} can never be reached by a window of {size} calls",
                        self.minimum_calls
                    )
                });
            }
            SlidingWindow::Time { length, buckets } => {
                e.check(
                    (1..=crate::window::buckets::MAX_BUCKETS).contains(buckets),
                    "window.buckets",
                    || format!("must be 1 to 256, got {buckets}"),
                );
                e.check(
                    *length >= Duration::from_millis(1) * (*buckets).max(1),
                    "window.length",
                    || format!("must be at least 1ms per bucket, got {length:?}"),
                );
            }
            SlidingWindow::ConsecutiveFailures { failures } => {
                e.check(*failures >= 1, "window.failures", || {
                    "must be at least 1".to_owned()
                });
            }
        }
        e.check(self.minimum_calls >= 1, "minimum_calls", || {
            "must be at least 1".to_owned()
        });
        e.check(
            self.failure_rate_threshold > 0.0 && self.failure_rate_threshold <= 100.0,
            "failure_rate_threshold",
            || {
                format!(
                    "must be a percentage in (0, 100], got {}",
                    self.failure_rate_threshold
                )
            },
        );
        if let Some(slow) = &self.slow_calls {
            e.check(
                slow.rate_threshold > 0.0 && slow.rate_threshold <= 100.0,
                "slow_calls.rate_threshold",
                || {
                    format!(
                        "must be a percentage in (0, 100], got {}",
                        slow.rate_threshold
                    )
                },
            );
            e.check(!slow.duration.is_zero(), "slow_calls.duration", || {
                "must be more than zero".to_owned()
            });
        }
        let w = &self.open_wait;
        e.check(
            w.initial >= Duration::from_millis(1),
            "open_wait.initial",
            || format!("must be at least 1ms, got {:?}", w.initial),
        );
        e.check(
            w.multiplier.is_finite() && w.multiplier >= 1.0,
            "open_wait.multiplier",
            || format!("must be at least 1.0, got {}", w.multiplier),
        );
        e.check(w.max >= w.initial, "open_wait.max", || {
            format!(
                "{:?} is shorter than open_wait.initial {:?}",
                w.max, w.initial
            )
        });
        let h = &self.half_open;
        e.check(
            (1..=MAX_PERMITTED).contains(&h.permitted_calls),
            "half_open.permitted_calls",
            || format!("must be 1 to {MAX_PERMITTED}, got {}", h.permitted_calls),
        );
        e.check(
            h.probe_deadline >= Duration::from_millis(1),
            "half_open.probe_deadline",
            || format!("must be at least 1ms, got {:?}", h.probe_deadline),
        );
        e.check(
            h.ramp.iter().all(|s| *s > 0.0 && *s < 1.0),
            "half_open.ramp",
            || format!("every share must be in (0, 1), got {:?}", h.ramp),
        );
        e.check(
            h.ramp.windows(2).all(|p| p[0] < p[1]),
            "half_open.ramp",
            || format!("shares must increase, got {:?}", h.ramp),
        );
        e.check(h.ramp.len() <= 16, "half_open.ramp", || {
            format!("at most 16 steps, got {}", h.ramp.len())
        });
        e.check(
            h.ramp.is_empty() || h.ramp_step >= Duration::from_millis(1),
            "half_open.ramp_step",
            || "must be at least 1ms when there is a ramp".to_owned(),
        );
        e.into_result(())
    }

    /// True when `s` should open the circuit.
    #[inline]
    pub(crate) fn exceeded(&self, s: &Snapshot, minimum_calls: u64) -> bool {
        if s.calls == 0 || s.calls < minimum_calls {
            return false;
        }
        // Compare in integers: failures/calls >= t/100, without dividing.
        let over = |part: u64, threshold: f64| (part as f64) * 100.0 >= threshold * s.calls as f64;
        over(s.failures, self.failure_rate_threshold)
            || self
                .slow_calls
                .is_some_and(|slow| over(s.slow, slow.rate_threshold))
    }
}

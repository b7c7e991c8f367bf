//! Prometheus metrics, registered in a [`prometheus_client`] registry.
//!
//! Every metric is labelled by `policy`, the name given to
//! [`Telemetry::new`](crate::Telemetry::new). Names follow
//! `ordo_<area>_<name>_<unit>[_total]` and are constants here, so dashboards
//! and tests refer to one spelling.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `ordo_calls_total` | counter | policy, outcome | calls that finished, by outcome: `success`, `failure`, or the [`ErrorKind`] that ended them (`timeout`, `circuit-open`, ...) |
//! | `ordo_call_duration_seconds` | histogram | policy | time from call to result |
//! | `ordo_circuit_state` | gauge | policy, state | 1 for the breaker's current state, 0 for the others |
//! | `ordo_circuit_transitions_total` | counter | policy, from, to | state transitions |
//! | `ordo_rejections_total` | counter | policy, reason | calls a policy refused to make |
//! | `ordo_timeouts_total` | counter | policy | timeouts that fired |
//! | `ordo_retries_total` | counter | policy | retry attempts made |
//! | `ordo_retry_give_ups_total` | counter | policy, reason | calls returned without the retry they asked for |
//! | `ordo_fallbacks_total` | counter | policy, cause | answers given by a fallback |
//! | `ordo_hedges_total` | counter | policy | hedged attempts sent |
//! | `ordo_hedge_budget_exhausted_total` | counter | policy | hedges the budget refused |
//! | `ordo_concurrency_limit` | gauge | policy | the adaptive concurrency limit |
//! | `ordo_probe_expirations_total` | counter | policy | half-open probes that ran past their deadline |
//!
//! The counters are plain atomics resolved once, when a layer is built, so
//! counting costs one atomic add. The call-duration histogram is lock-free
//! too (prometheus-client's own histogram takes a mutex per observation).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use crate::circuit_breaker::CircuitState;
use crate::error::ErrorKind;
use crate::events::{EventKind, GiveUp};
use crate::fallback::Cause;

/// `ordo_calls_total`
pub const CALLS_TOTAL: &str = "ordo_calls";
/// `ordo_call_duration_seconds`
pub const CALL_DURATION_SECONDS: &str = "ordo_call_duration";
/// `ordo_circuit_state`
pub const CIRCUIT_STATE: &str = "ordo_circuit_state";
/// `ordo_circuit_transitions_total`
pub const CIRCUIT_TRANSITIONS_TOTAL: &str = "ordo_circuit_transitions";
/// `ordo_rejections_total`
pub const REJECTIONS_TOTAL: &str = "ordo_rejections";
/// `ordo_timeouts_total`
pub const TIMEOUTS_TOTAL: &str = "ordo_timeouts";
/// `ordo_retries_total`
pub const RETRIES_TOTAL: &str = "ordo_retries";
/// `ordo_retry_give_ups_total`
pub const RETRY_GIVE_UPS_TOTAL: &str = "ordo_retry_give_ups";
/// `ordo_fallbacks_total`
pub const FALLBACKS_TOTAL: &str = "ordo_fallbacks";
/// `ordo_hedges_total`
pub const HEDGES_TOTAL: &str = "ordo_hedges";
/// `ordo_hedge_budget_exhausted_total`
pub const HEDGE_BUDGET_EXHAUSTED_TOTAL: &str = "ordo_hedge_budget_exhausted";
/// `ordo_concurrency_limit`
pub const CONCURRENCY_LIMIT: &str = "ordo_concurrency_limit";
/// `ordo_probe_expirations_total`
pub const PROBE_EXPIRATIONS_TOTAL: &str = "ordo_probe_expirations";

type Labels = Vec<(&'static str, String)>;

/// The metric families, registered once per registry and shared by every
/// policy that reports into it. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Metrics {
    calls: Family<Labels, Counter>,
    durations: Family<Labels, AtomicHistogram, fn() -> AtomicHistogram>,
    circuit_state: Family<Labels, Gauge>,
    transitions: Family<Labels, Counter>,
    rejections: Family<Labels, Counter>,
    timeouts: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    give_ups: Family<Labels, Counter>,
    fallbacks: Family<Labels, Counter>,
    hedges: Family<Labels, Counter>,
    hedge_budget: Family<Labels, Counter>,
    limit: Family<Labels, Gauge>,
    probe_expirations: Family<Labels, Counter>,
}

impl Metrics {
    /// Registers ordo's metric families in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            calls: Family::default(),
            durations: Family::new_with_constructor(AtomicHistogram::for_latency),
            circuit_state: Family::default(),
            transitions: Family::default(),
            rejections: Family::default(),
            timeouts: Family::default(),
            retries: Family::default(),
            give_ups: Family::default(),
            fallbacks: Family::default(),
            hedges: Family::default(),
            hedge_budget: Family::default(),
            limit: Family::default(),
            probe_expirations: Family::default(),
        };
        registry.register(
            CALLS_TOTAL,
            "Calls that finished, by outcome",
            m.calls.clone(),
        );
        registry.register_with_unit(
            CALL_DURATION_SECONDS,
            "Time from call to result",
            Unit::Seconds,
            m.durations.clone(),
        );
        registry.register(
            CIRCUIT_STATE,
            "1 for the circuit breaker's current state",
            m.circuit_state.clone(),
        );
        registry.register(
            CIRCUIT_TRANSITIONS_TOTAL,
            "Circuit breaker state transitions",
            m.transitions.clone(),
        );
        registry.register(
            REJECTIONS_TOTAL,
            "Calls a policy refused to make",
            m.rejections.clone(),
        );
        registry.register(TIMEOUTS_TOTAL, "Timeouts that fired", m.timeouts.clone());
        registry.register(RETRIES_TOTAL, "Retry attempts made", m.retries.clone());
        registry.register(
            RETRY_GIVE_UPS_TOTAL,
            "Calls returned without the retry they asked for",
            m.give_ups.clone(),
        );
        registry.register(
            FALLBACKS_TOTAL,
            "Answers given by a fallback",
            m.fallbacks.clone(),
        );
        registry.register(HEDGES_TOTAL, "Hedged attempts sent", m.hedges.clone());
        registry.register(
            HEDGE_BUDGET_EXHAUSTED_TOTAL,
            "Hedges the budget refused",
            m.hedge_budget.clone(),
        );
        registry.register(
            CONCURRENCY_LIMIT,
            "The adaptive concurrency limit",
            m.limit.clone(),
        );
        registry.register(
            PROBE_EXPIRATIONS_TOTAL,
            "Half-open probes that ran past their deadline",
            m.probe_expirations.clone(),
        );
        m
    }

    pub(crate) fn for_policy(&self, policy: &str) -> PolicyMetrics {
        let l = |extra: &[(&'static str, &str)]| -> Labels {
            let mut v = vec![("policy", policy.to_owned())];
            v.extend(extra.iter().map(|(k, val)| (*k, (*val).to_owned())));
            v
        };
        let states = CircuitState::ALL.map(|s| {
            self.circuit_state
                .get_or_create_owned(&l(&[("state", s.as_str())]))
        });
        // Every series exists from the start, at zero, so that rates and
        // alerts work before the first event, and so that counting never
        // allocates a label set.
        let calls = ErrorKind::ALL.map(|k| {
            let outcome = if k == ErrorKind::Inner {
                "failure"
            } else {
                k.as_str()
            };
            self.calls.get_or_create_owned(&l(&[("outcome", outcome)]))
        });
        PolicyMetrics {
            family: self.clone(),
            policy: policy.into(),
            calls_success: self
                .calls
                .get_or_create_owned(&l(&[("outcome", "success")])),
            calls,
            duration: self.durations.get_or_create_owned(&l(&[])),
            states,
            rejections: ErrorKind::ALL.map(|k| {
                self.rejections
                    .get_or_create_owned(&l(&[("reason", k.as_str())]))
            }),
            fallbacks: Cause::ALL.map(|c| {
                self.fallbacks
                    .get_or_create_owned(&l(&[("cause", c.as_str())]))
            }),
            give_ups: GiveUp::ALL.map(|g| {
                self.give_ups
                    .get_or_create_owned(&l(&[("reason", g.as_str())]))
            }),
            timeouts: self.timeouts.get_or_create_owned(&l(&[])),
            retries: self.retries.get_or_create_owned(&l(&[])),
            hedges: self.hedges.get_or_create_owned(&l(&[])),
            hedge_budget: self.hedge_budget.get_or_create_owned(&l(&[])),
            limit: self.limit.get_or_create_owned(&l(&[])),
            probe_expirations: self.probe_expirations.get_or_create_owned(&l(&[])),
        }
    }
}

/// The metrics of one policy, resolved once.
#[derive(Debug)]
pub(crate) struct PolicyMetrics {
    family: Metrics,
    policy: Arc<str>,
    calls_success: Counter,
    /// By [`ErrorKind`] (`Inner` counts as `failure`).
    calls: [Counter; 7],
    duration: AtomicHistogram,
    states: [Gauge; 6],
    rejections: [Counter; 7],
    fallbacks: [Counter; 7],
    give_ups: [Counter; 5],
    timeouts: Counter,
    retries: Counter,
    hedges: Counter,
    hedge_budget: Counter,
    limit: Gauge,
    probe_expirations: Counter,
}

impl PolicyMetrics {
    /// The same families, resolved for another policy name.
    pub(crate) fn family_for(&self, policy: &str) -> PolicyMetrics {
        self.family.for_policy(policy)
    }

    /// Counts a finished call and its duration.
    #[inline]
    pub(crate) fn record_call(&self, outcome: Result<(), ErrorKind>, elapsed: Option<Duration>) {
        match outcome {
            Ok(()) => self.calls_success.inc(),
            Err(kind) => self.calls[kind as usize].inc(),
        };
        if let Some(elapsed) = elapsed {
            self.duration.observe(elapsed);
        }
    }

    /// Updates the counters an event stands for.
    pub(crate) fn record_event(&self, kind: &EventKind) {
        match *kind {
            EventKind::CircuitTransition { from, to } => {
                // All six from `to`: transitions reported out of order by
                // two threads still leave exactly one state at 1.
                self.set_circuit_state(to);
                // Transitions are rare; their series are made on first use.
                let labels = vec![
                    ("policy", self.policy.to_string()),
                    ("from", from.as_str().to_owned()),
                    ("to", to.as_str().to_owned()),
                ];
                self.family.transitions.get_or_create(&labels).inc();
            }
            EventKind::Rejected { reason } => {
                self.rejections[reason as usize].inc();
            }
            EventKind::TimedOut { .. } => {
                self.timeouts.inc();
            }
            EventKind::Retry { .. } => {
                self.retries.inc();
            }
            EventKind::RetryGaveUp { reason, .. } => {
                self.give_ups[reason as usize].inc();
            }
            EventKind::Fallback { cause } => {
                self.fallbacks[cause as usize].inc();
            }
            EventKind::Hedge { .. } => {
                self.hedges.inc();
            }
            EventKind::HedgeBudgetExhausted => {
                self.hedge_budget.inc();
            }
            EventKind::LimitChanged { to, .. } => {
                self.limit.set(i64::from(to));
            }
            EventKind::ProbeExpired => {
                self.probe_expirations.inc();
            }
        }
    }

    /// Sets the circuit-state gauges without a transition (at build time).
    pub(crate) fn set_circuit_state(&self, state: CircuitState) {
        for (i, g) in self.states.iter().enumerate() {
            g.set(i64::from(i == state as usize));
        }
    }

    /// Sets the concurrency-limit gauge without an event (at build time).
    pub(crate) fn set_limit(&self, limit: u32) {
        self.limit.set(i64::from(limit));
    }
}

/// Upper bounds of the call-duration buckets, in seconds.
const LATENCY_BOUNDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// A histogram of durations with fixed buckets, updated with atomics only.
#[derive(Debug, Clone)]
pub struct AtomicHistogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    bounds_nanos: Vec<u64>,
    bounds: Vec<f64>,
    /// One more than `bounds`: the last counts everything above.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

impl AtomicHistogram {
    /// A histogram with the given upper bounds in seconds (ascending).
    pub fn new(bounds_secs: &[f64]) -> Self {
        let bounds: Vec<f64> = bounds_secs
            .iter()
            .copied()
            .filter(|b| b.is_finite() && *b > 0.0)
            .collect();
        AtomicHistogram {
            inner: Arc::new(HistogramInner {
                bounds_nanos: bounds.iter().map(|b| (b * 1e9) as u64).collect(),
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                bounds,
                sum_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// The buckets ordo uses for call latency: 0.5 ms to 60 s.
    pub fn for_latency() -> Self {
        Self::new(&LATENCY_BOUNDS)
    }

    /// Records one duration.
    #[inline]
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = self.inner.bounds_nanos.partition_point(|b| *b < nanos);
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        self.inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.inner.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn histogram_encodes_cumulative_buckets() {
        let mut registry = Registry::default();
        let m = Metrics::new(&mut registry);
        let p = m.for_policy("db");
        p.record_call(Ok(()), Some(Duration::from_millis(3)));
        p.record_call(Err(ErrorKind::Inner), Some(Duration::from_millis(300)));
        p.record_call(Err(ErrorKind::Timeout), None);
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        assert!(
            out.contains(r#"ordo_calls_total{policy="db",outcome="success"} 1"#),
            "{out}"
        );
        assert!(out.contains(r#"ordo_calls_total{policy="db",outcome="timeout"} 1"#));
        assert!(
            out.contains(r#"ordo_call_duration_seconds_bucket{le="0.005",policy="db"} 1"#)
                || out.contains(r#"ordo_call_duration_seconds_bucket{policy="db",le="0.005"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"ordo_call_duration_seconds_count{policy="db"} 2"#),
            "{out}"
        );
    }
}

//! A route's resilience policy: the settings of ordo-resilience's
//! policies, in config-file form.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::validate::Problems;

/// The policies a route applies, outermost first: total timeout,
/// bulkhead, adaptive concurrency limit, circuit breaker, retries (each
/// attempt under `per_try_timeout`, on an endpoint whose own circuit
/// breaker admits it), fallback when all of that fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Deadline for the whole request, retries included, until the
    /// response headers arrive. Default `15s`. Answered with `504`,
    /// `x-ordo-reason: upstream-timeout`.
    #[serde(default = "defaults::timeout")]
    pub timeout: Duration,
    /// Deadline for each attempt; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Retries, on by default (2 attempts in all, within a budget).
    #[serde(default)]
    pub retry: RetryConfig,
    /// A circuit breaker for the whole route; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// A fixed cap on the route's requests in flight; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulkhead: Option<BulkheadConfig>,
    /// An adaptive cap on the route's requests in flight; none when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<LimitConfig>,
    /// A response to give instead of an error that ordo generates; none
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            timeout: defaults::timeout(),
            per_try_timeout: None,
            retry: RetryConfig::default(),
            circuit_breaker: None,
            bulkhead: None,
            concurrency_limit: None,
            fallback: None,
        }
    }
}

/// What makes an attempt worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryOn {
    /// The connection to the endpoint could not be made (the request was
    /// never sent, so this is retried whatever the method).
    ConnectFailure,
    /// The connection broke before the response headers arrived.
    Reset,
    /// The attempt ran past `per_try_timeout`.
    PerTryTimeout,
    /// The endpoint answered 502, 503 or 504.
    GatewayError,
    /// The endpoint answered any 5xx.
    #[serde(rename = "5xx")]
    FiveXx,
    /// The endpoint answered one of `retriable_status_codes`.
    RetriableStatusCodes,
}

/// Retry settings. Attempts after the first go to another endpoint when
/// the cluster has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 turns retries off, at most
    /// 10). Default 2.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// What is retried. Default `connect-failure`, `reset`,
    /// `per-try-timeout`, `gateway-error`.
    #[serde(default = "defaults::retry_on")]
    pub retry_on: Vec<RetryOn>,
    /// Statuses retried with `retriable-status-codes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retriable_status_codes: Vec<u16>,
    /// Delay between attempts: full jitter over an exponential curve.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// The share of requests that may be retried; `null` for no budget
    /// (not advised: retries then multiply load on a failing service).
    #[serde(default = "defaults::budget")]
    pub budget: Option<BudgetConfig>,
    /// Retry requests whose method is not idempotent (POST, PATCH) after
    /// they were sent. Connect failures are retried regardless. Default
    /// off.
    #[serde(default)]
    pub retry_non_idempotent: bool,
    /// Request bodies up to this many bytes (by `content-length`) are kept
    /// so they can be sent again; a longer or unsized body streams and is
    /// not retried. Default 65536.
    #[serde(default = "defaults::max_buffered_body")]
    pub max_buffered_body: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: defaults::max_attempts(),
            retry_on: defaults::retry_on(),
            retriable_status_codes: Vec::new(),
            backoff: BackoffConfig::default(),
            budget: defaults::budget(),
            retry_non_idempotent: false,
            max_buffered_body: defaults::max_buffered_body(),
        }
    }
}

/// Delays between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    /// The delay before the first retry, doubled for each one after, drawn
    /// uniformly from zero to it (full jitter). Default `25ms`; `0s` for
    /// none.
    #[serde(default = "defaults::backoff_base")]
    pub base: Duration,
    /// The delay never exceeds this. Default `250ms`.
    #[serde(default = "defaults::backoff_max")]
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: defaults::backoff_base(),
            max: defaults::backoff_max(),
        }
    }
}

/// A retry budget: over the last `ttl`, retries may add at most `ratio` of
/// the requests, or `min_per_second` per second when that is more (the
/// larger of the two, as Envoy's budget; not their sum).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Retries per request, 0 to 10. Default 0.2.
    #[serde(default = "defaults::ratio")]
    pub ratio: f64,
    /// Retries per second allowed however quiet the route is, so quiet
    /// routes can still retry; busy routes are held to `ratio`. Default 10.
    #[serde(default = "defaults::min_per_second")]
    pub min_per_second: u32,
    /// How long a request counts towards the budget. 1s to 60s, default
    /// `10s`.
    #[serde(default = "defaults::ttl")]
    pub ttl: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            ratio: defaults::ratio(),
            min_per_second: defaults::min_per_second(),
            ttl: defaults::ttl(),
        }
    }
}

/// What a circuit breaker looks at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowConfig {
    /// The last N calls.
    Count(u32),
    /// The calls of the last `length`, in `buckets` buckets.
    Time {
        /// The span of time.
        length: Duration,
        /// How many buckets it is cut in (1 to 256).
        buckets: u32,
    },
    /// Open after N failures in a row.
    ConsecutiveFailures(u32),
}

/// A circuit breaker (ordo-resilience's): opens when the failure rate (or
/// the slow-call rate) of its window crosses a threshold, waits, then lets
/// a few probe calls through and closes when they succeed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// The window. Default the last 100 calls: `{count: 100}`.
    #[serde(default = "defaults::window")]
    pub window: WindowConfig,
    /// Calls the window must hold before a rate is judged. Default 20.
    #[serde(default = "defaults::minimum_calls")]
    pub minimum_calls: u32,
    /// Failure percentage (0, 100] that opens the circuit. Default 50.
    #[serde(default = "defaults::failure_rate_threshold")]
    pub failure_rate_threshold: f64,
    /// Slow-call detection; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_calls: Option<SlowCallConfig>,
    /// How long the circuit stays open after its first trip. Default `5s`.
    #[serde(default = "defaults::open_wait")]
    pub open_wait: Duration,
    /// Each further trip without closing multiplies the wait by this
    /// (1 = fixed). Default 2.
    #[serde(default = "defaults::open_wait_multiplier")]
    pub open_wait_multiplier: f64,
    /// The longest open wait. Default `60s`.
    #[serde(default = "defaults::max_open_wait")]
    pub max_open_wait: Duration,
    /// Probe calls let through while half open. Default 5.
    #[serde(default = "defaults::half_open_calls")]
    pub half_open_calls: u32,
    /// A probe that has not finished after this counts as failed. Default
    /// `10s`.
    #[serde(default = "defaults::probe_deadline")]
    pub probe_deadline: Duration,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            window: defaults::window(),
            minimum_calls: defaults::minimum_calls(),
            failure_rate_threshold: defaults::failure_rate_threshold(),
            slow_calls: None,
            open_wait: defaults::open_wait(),
            open_wait_multiplier: defaults::open_wait_multiplier(),
            max_open_wait: defaults::max_open_wait(),
            half_open_calls: defaults::half_open_calls(),
            probe_deadline: defaults::probe_deadline(),
        }
    }
}

/// Slow calls count against the circuit like failures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowCallConfig {
    /// A call slower than this is slow. Required.
    pub duration: Duration,
    /// Slow-call percentage (0, 100] that opens the circuit. Default 50.
    #[serde(default = "defaults::failure_rate_threshold")]
    pub rate_threshold: f64,
}

/// A bulkhead: at most `max_concurrent` requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkheadConfig {
    /// Requests in flight at once. Required, at least 1.
    pub max_concurrent: u32,
    /// How long a request may wait for a free slot. Default `0s`: rejected
    /// at once with `503`, `x-ordo-reason: bulkhead-full`.
    #[serde(default)]
    pub max_wait: Duration,
    /// Requests that may wait at once. Default 0.
    #[serde(default)]
    pub max_waiting: u32,
}

/// Adaptive concurrency algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitAlgorithm {
    /// Netflix's Gradient2 (with ordo's drift guard).
    Gradient2,
    /// Additive increase, multiplicative decrease.
    Aimd,
    /// TCP Vegas (with ordo's slow start).
    Vegas,
}

/// An adaptive concurrency limit: the cap follows the latency the route
/// sees. Requests over it get `503`, `x-ordo-reason: concurrency-limited`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// The algorithm. Default `gradient2`.
    #[serde(default = "defaults::algorithm")]
    pub algorithm: LimitAlgorithm,
    /// The cap before any sample; the algorithm's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_limit: Option<u32>,
    /// The lowest cap (gradient2, aimd); the algorithm's default when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_limit: Option<u32>,
    /// The highest cap; the algorithm's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_limit: Option<u32>,
}

/// A canned response given instead of an error that ordo generates
/// (circuit open, bulkhead full, concurrency limited, no healthy
/// endpoint, connect failure, timeout). It carries `x-ordo-reason` with
/// the cause and `x-ordo-fallback: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Status code. Default 200.
    #[serde(default = "defaults::fallback_status")]
    pub status: u16,
    /// Response headers. Not the framing and hop-by-hop ones
    /// (`content-length`, `transfer-encoding`, `connection`, `keep-alive`,
    /// `proxy-connection`, `te`, `trailer`, `upgrade`): the proxy writes
    /// those for each answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Response body. Default empty; at most 1 MiB.
    #[serde(default)]
    pub body: String,
    /// Also replace 5xx responses of the upstream (after retries).
    /// Default off.
    #[serde(default)]
    pub on_upstream_5xx: bool,
}

mod defaults {
    use super::{BudgetConfig, LimitAlgorithm, RetryOn, WindowConfig};
    use crate::Duration;

    pub(super) fn timeout() -> Duration {
        Duration::from_secs(15)
    }
    pub(super) fn max_attempts() -> u32 {
        2
    }
    pub(super) fn retry_on() -> Vec<RetryOn> {
        vec![
            RetryOn::ConnectFailure,
            RetryOn::Reset,
            RetryOn::PerTryTimeout,
            RetryOn::GatewayError,
        ]
    }
    pub(super) fn budget() -> Option<BudgetConfig> {
        Some(BudgetConfig::default())
    }
    pub(super) fn max_buffered_body() -> u64 {
        65536
    }
    pub(super) fn backoff_base() -> Duration {
        Duration::from_millis(25)
    }
    pub(super) fn backoff_max() -> Duration {
        Duration::from_millis(250)
    }
    pub(super) fn ratio() -> f64 {
        0.2
    }
    pub(super) fn min_per_second() -> u32 {
        10
    }
    pub(super) fn ttl() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn window() -> WindowConfig {
        WindowConfig::Count(100)
    }
    pub(super) fn minimum_calls() -> u32 {
        20
    }
    pub(super) fn failure_rate_threshold() -> f64 {
        50.0
    }
    pub(super) fn open_wait() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn open_wait_multiplier() -> f64 {
        2.0
    }
    pub(super) fn max_open_wait() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn half_open_calls() -> u32 {
        5
    }
    pub(super) fn probe_deadline() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn algorithm() -> LimitAlgorithm {
        LimitAlgorithm::Gradient2
    }
    pub(super) fn fallback_status() -> u16 {
        200
    }
}

impl PolicyConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        p.check(!self.timeout.is_zero(), "timeout", || {
            "must be more than zero".into()
        });
        if let Some(t) = self.per_try_timeout {
            p.check(!t.is_zero(), "per_try_timeout", || {
                "must be more than zero".into()
            });
            p.check(t <= self.timeout, "per_try_timeout", || {
                format!("{t} is longer than the route's timeout {}", self.timeout)
            });
        }
        p.at("retry", |p| self.retry.check(p));
        if let Some(cb) = &self.circuit_breaker {
            p.at("circuit_breaker", |p| cb.check(p));
        }
        if let Some(b) = &self.bulkhead {
            p.at("bulkhead", |p| {
                p.check(b.max_concurrent >= 1, "max_concurrent", || {
                    "must be at least 1".into()
                });
                p.check(
                    b.max_waiting == 0 || !b.max_wait.is_zero(),
                    "max_wait",
                    || "requests may wait (max_waiting > 0) but max_wait is 0s".into(),
                );
                p.check(
                    b.max_wait.is_zero() || b.max_waiting >= 1,
                    "max_waiting",
                    || format!("is 0, so max_wait {} lets no request wait", b.max_wait),
                );
            });
        }
        if let Some(l) = &self.concurrency_limit {
            p.at("concurrency_limit", |p| {
                for (field, v) in [
                    ("initial_limit", l.initial_limit),
                    ("min_limit", l.min_limit),
                    ("max_limit", l.max_limit),
                ] {
                    p.check(v.is_none_or(|v| v >= 1), field, || {
                        "must be at least 1".into()
                    });
                }
                if let (Some(min), Some(max)) = (l.min_limit, l.max_limit) {
                    p.check(min <= max, "max_limit", || {
                        format!("{max} is below min_limit {min}")
                    });
                }
                if let Some(initial) = l.initial_limit {
                    if let Some(min) = l.min_limit {
                        p.check(initial >= min, "initial_limit", || {
                            format!("{initial} is below min_limit {min}")
                        });
                    }
                    if let Some(max) = l.max_limit {
                        p.check(initial <= max, "initial_limit", || {
                            format!("{initial} is above max_limit {max}")
                        });
                    }
                }
            });
        }
        if let Some(f) = &self.fallback {
            p.at("fallback", |p| {
                p.check((200..=599).contains(&f.status), "status", || {
                    format!("{} is not a status from 200 to 599", f.status)
                });
                p.check(f.body.len() <= 1 << 20, "body", || "is over 1 MiB".into());
                check_canned_body(p, f.status, &f.body);
                for (k, v) in &f.headers {
                    p.check(http_token(k), &format!("headers.{k}"), || {
                        format!("`{k}` is not a header name")
                    });
                    check_canned_header(p, k);
                    p.check(
                        v.bytes()
                            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80),
                        &format!("headers.{k}"),
                        || "the value has control characters".into(),
                    );
                }
            });
        }
    }
}

/// The shortest span the resilience policies measure.
const MILLI: std::time::Duration = std::time::Duration::from_millis(1);

/// A canned answer's (a fallback's, a fault's abort) body: none on a `204`
/// or `304`.
pub(crate) fn check_canned_body(p: &mut Problems, status: u16, body: &str) {
    p.check(
        body.is_empty() || !matches!(status, 204 | 304),
        "body",
        || format!("a {status} answer has no body"),
    );
}

/// A canned answer's header `name`: not one the proxy writes itself.
pub(crate) fn check_canned_header(p: &mut Problems, name: &str) {
    p.check(
        !proxy_owned_header(name),
        &format!("headers.{name}"),
        || format!("`{name}` is written by the proxy for each answer; it cannot be set"),
    );
}

/// Whether `name` is a header the proxy writes itself on every answer
/// (the body's framing) or that belongs to one hop only: a canned answer
/// (a fallback, a fault's abort) may not set it.
fn proxy_owned_header(name: &str) -> bool {
    const OWNED: [&str; 8] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ];
    OWNED.iter().any(|o| o.eq_ignore_ascii_case(name))
}

pub(crate) fn http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl RetryConfig {
    fn check(&self, p: &mut Problems) {
        p.check(
            (1..=10).contains(&self.max_attempts),
            "max_attempts",
            || format!("must be 1 to 10, got {}", self.max_attempts),
        );
        for (i, s) in self.retriable_status_codes.iter().enumerate() {
            p.check(
                (100..=599).contains(s),
                &format!("retriable_status_codes[{i}]"),
                || format!("{s} is not an HTTP status"),
            );
        }
        p.check(
            self.retriable_status_codes.is_empty()
                || self.retry_on.contains(&RetryOn::RetriableStatusCodes),
            "retriable_status_codes",
            || "listed, but `retry_on` lacks `retriable-status-codes`".into(),
        );
        p.at("backoff", |p| {
            p.check(self.backoff.max >= self.backoff.base, "max", || {
                format!("{} is below base {}", self.backoff.max, self.backoff.base)
            });
        });
        if let Some(b) = &self.budget {
            p.at("budget", |p| {
                p.check(
                    b.ratio.is_finite() && (0.0..=10.0).contains(&b.ratio),
                    "ratio",
                    || format!("must be 0 to 10, got {}", b.ratio),
                );
                p.check(
                    (std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(60))
                        .contains(&b.ttl.get()),
                    "ttl",
                    || format!("must be 1s to 60s, got {}", b.ttl),
                );
            });
        }
        p.check(
            self.max_buffered_body <= 64 << 20,
            "max_buffered_body",
            || "keep it at or under 64 MiB".into(),
        );
    }
}

impl CircuitBreakerConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        match self.window {
            WindowConfig::Count(n) => {
                p.check((1..=1_000_000).contains(&n), "window.count", || {
                    format!("must be 1 to 1000000, got {n}")
                });
                p.check(self.minimum_calls <= n, "minimum_calls", || {
                    format!(
                        "{} can never be reached by a window of {n} calls",
                        self.minimum_calls
                    )
                });
            }
            WindowConfig::Time { length, buckets } => {
                p.check((1..=256).contains(&buckets), "window.time.buckets", || {
                    format!("must be 1 to 256, got {buckets}")
                });
                p.check(
                    length.get() >= MILLI * buckets.max(1),
                    "window.time.length",
                    || format!("must be at least 1ms per bucket, got {length}"),
                );
            }
            WindowConfig::ConsecutiveFailures(n) => {
                p.check(n >= 1, "window.consecutive_failures", || {
                    "must be at least 1".into()
                })
            }
        }
        p.check(self.minimum_calls >= 1, "minimum_calls", || {
            "must be at least 1".into()
        });
        let percent = |v: f64| v.is_finite() && v > 0.0 && v <= 100.0;
        p.check(
            percent(self.failure_rate_threshold),
            "failure_rate_threshold",
            || format!("must be in (0, 100], got {}", self.failure_rate_threshold),
        );
        if let Some(s) = &self.slow_calls {
            p.check(!s.duration.is_zero(), "slow_calls.duration", || {
                "must be more than zero".into()
            });
            p.check(
                percent(s.rate_threshold),
                "slow_calls.rate_threshold",
                || format!("must be in (0, 100], got {}", s.rate_threshold),
            );
        }
        p.check(self.open_wait.get() >= MILLI, "open_wait", || {
            format!("must be at least 1ms, got {}", self.open_wait)
        });
        p.check(
            self.open_wait_multiplier.is_finite() && self.open_wait_multiplier >= 1.0,
            "open_wait_multiplier",
            || format!("must be at least 1, got {}", self.open_wait_multiplier),
        );
        p.check(
            self.max_open_wait >= self.open_wait,
            "max_open_wait",
            || {
                format!(
                    "{} is below open_wait {}",
                    self.max_open_wait, self.open_wait
                )
            },
        );
        p.check(
            (1..=4095).contains(&self.half_open_calls),
            "half_open_calls",
            || format!("must be 1 to 4095, got {}", self.half_open_calls),
        );
        p.check(self.probe_deadline.get() >= MILLI, "probe_deadline", || {
            format!("must be at least 1ms, got {}", self.probe_deadline)
        });
    }
}

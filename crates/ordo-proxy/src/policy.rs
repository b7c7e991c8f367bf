//! A route's policies, built from config into ordo-resilience's parts:
//! circuit breaker, bulkhead, adaptive limit, retry budget and backoff.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use ordo_config::proxy as cfg;
use ordo_resilience::bulkhead::{Bulkhead, BulkheadConfig};
use ordo_resilience::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, HalfOpen, OpenWait, SlidingWindow, SlowCalls,
};
use ordo_resilience::limit::{
    Aimd, ConcurrencyLimitLayer, ConcurrencyLimiter, Gradient2, LimitConfig,
};
use ordo_resilience::retry::{Backoff, Jitter, RetryBudget, RetryBudgetConfig};
use ordo_resilience::{Rng, Telemetry};

/// The retry conditions, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RetryOn(u8);

impl RetryOn {
    pub(crate) const CONNECT: u8 = 1;
    pub(crate) const RESET: u8 = 2;
    pub(crate) const PER_TRY_TIMEOUT: u8 = 4;
    pub(crate) const GATEWAY: u8 = 8;
    pub(crate) const FIVE_XX: u8 = 16;
    pub(crate) const STATUSES: u8 = 32;

    pub(crate) fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Retry settings of a route.
#[derive(Debug)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) on: RetryOn,
    pub(crate) statuses: Vec<u16>,
    pub(crate) backoff: Backoff,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) non_idempotent: bool,
    pub(crate) max_buffered_body: u64,
    pub(crate) rng: Rng,
}

impl RetryPolicy {
    /// Whether a response with `status` is worth another attempt.
    pub(crate) fn retries_status(&self, status: u16) -> bool {
        (self.on.has(RetryOn::FIVE_XX) && status >= 500)
            || (self.on.has(RetryOn::GATEWAY) && matches!(status, 502..=504))
            || (self.on.has(RetryOn::STATUSES) && self.statuses.contains(&status))
    }
}

/// A configured fallback response.
#[derive(Debug)]
pub(crate) struct Fallback {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) on_upstream_5xx: bool,
}

/// Every policy of a route.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) timeout: Duration,
    pub(crate) per_try_timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) bulkhead: Option<Bulkhead>,
    pub(crate) limiter: Option<ConcurrencyLimiter>,
    pub(crate) fallback: Option<Fallback>,
    /// The settings it was built from, to tell whether a reload changed them.
    config: cfg::PolicyConfig,
}

/// The resilience library's breaker settings from the config file's.
pub(crate) fn breaker_config(c: &cfg::CircuitBreakerConfig) -> CircuitBreakerConfig {
    let defaults = CircuitBreakerConfig::default();
    CircuitBreakerConfig {
        window: match c.window {
            cfg::WindowConfig::Count(size) => SlidingWindow::Count { size },
            cfg::WindowConfig::Time { length, buckets } => SlidingWindow::Time {
                length: length.get(),
                buckets,
            },
            cfg::WindowConfig::ConsecutiveFailures(failures) => {
                SlidingWindow::ConsecutiveFailures { failures }
            }
        },
        minimum_calls: c.minimum_calls,
        failure_rate_threshold: c.failure_rate_threshold,
        slow_calls: c.slow_calls.map(|s| SlowCalls {
            duration: s.duration.get(),
            rate_threshold: s.rate_threshold,
        }),
        open_wait: OpenWait::exponential(
            c.open_wait.get(),
            c.open_wait_multiplier,
            c.max_open_wait.get(),
        ),
        half_open: HalfOpen {
            permitted_calls: c.half_open_calls,
            probe_deadline: c.probe_deadline.get(),
            ..defaults.half_open
        },
        count_rejections: false,
    }
}

impl Policy {
    /// Builds the policies of the route named `name`; errors name the
    /// field under `policy`.
    pub(crate) fn build(c: &cfg::PolicyConfig, name: &str) -> Result<Policy, (String, String)> {
        let err = |field: &str, e: &dyn std::fmt::Display| (field.to_owned(), e.to_string());
        let mut on = 0u8;
        for r in &c.retry.retry_on {
            on |= match r {
                cfg::RetryOn::ConnectFailure => RetryOn::CONNECT,
                cfg::RetryOn::Reset => RetryOn::RESET,
                cfg::RetryOn::PerTryTimeout => RetryOn::PER_TRY_TIMEOUT,
                cfg::RetryOn::GatewayError => RetryOn::GATEWAY,
                cfg::RetryOn::FiveXx => RetryOn::FIVE_XX,
                cfg::RetryOn::RetriableStatusCodes => RetryOn::STATUSES,
            };
        }
        let budget = match &c.retry.budget {
            Some(b) => Some(
                RetryBudget::new(RetryBudgetConfig {
                    ratio: b.ratio,
                    min_per_second: b.min_per_second,
                    ttl: b.ttl.get(),
                })
                .map_err(|e| err("retry.budget", &e))?,
            ),
            None => None,
        };
        let backoff = if c.retry.backoff.base.is_zero() {
            Backoff::none()
        } else {
            Backoff::exponential(c.retry.backoff.base.get(), c.retry.backoff.max.get())
                .with_jitter(Jitter::Full)
        };
        let breaker = match &c.circuit_breaker {
            Some(b) => Some(
                CircuitBreaker::new(breaker_config(b), Telemetry::new(name.to_owned()))
                    .map_err(|e| err("circuit_breaker", &e))?,
            ),
            None => None,
        };
        let bulkhead = match &c.bulkhead {
            Some(b) => Some(
                Bulkhead::new(
                    BulkheadConfig {
                        max_concurrent_calls: b.max_concurrent,
                        max_wait: b.max_wait.get(),
                        max_waiting: b.max_waiting,
                    },
                    Telemetry::new(name.to_owned()),
                )
                .map_err(|e| err("bulkhead", &e))?,
            ),
            None => None,
        };
        let limiter = match &c.concurrency_limit {
            Some(l) => {
                let config = match l.algorithm {
                    cfg::LimitAlgorithm::Gradient2 => {
                        let mut g = Gradient2::default();
                        g.initial_limit = l.initial_limit.unwrap_or(g.initial_limit);
                        g.min_limit = l.min_limit.unwrap_or(g.min_limit);
                        g.max_limit = l.max_limit.unwrap_or(g.max_limit);
                        LimitConfig::Gradient2(g)
                    }
                    cfg::LimitAlgorithm::Aimd => {
                        let mut a = Aimd::default();
                        a.initial_limit = l.initial_limit.unwrap_or(a.initial_limit);
                        a.min_limit = l.min_limit.unwrap_or(a.min_limit);
                        a.max_limit = l.max_limit.unwrap_or(a.max_limit);
                        LimitConfig::Aimd(a)
                    }
                    cfg::LimitAlgorithm::Vegas => LimitConfig::Vegas {
                        initial_limit: l.initial_limit.unwrap_or(20),
                        max_limit: l.max_limit.unwrap_or(1000),
                        slow_start: true,
                    },
                };
                let layer = ConcurrencyLimitLayer::builder()
                    .config(config)
                    .telemetry(Telemetry::new(name.to_owned()))
                    .build()
                    .map_err(|e| err("concurrency_limit", &e))?;
                layer.limiter()
            }
            None => None,
        };
        let fallback = match &c.fallback {
            Some(f) => {
                let mut headers = HeaderMap::new();
                for (k, v) in &f.headers {
                    let name = HeaderName::try_from(k.as_str())
                        .map_err(|e| err(&format!("fallback.headers.{k}"), &e))?;
                    let value = HeaderValue::try_from(v.as_str())
                        .map_err(|e| err(&format!("fallback.headers.{k}"), &e))?;
                    headers.append(name, value);
                }
                Some(Fallback {
                    status: StatusCode::from_u16(f.status)
                        .map_err(|e| err("fallback.status", &e))?,
                    headers,
                    body: Bytes::from(f.body.clone()),
                    on_upstream_5xx: f.on_upstream_5xx,
                })
            }
            None => None,
        };
        Ok(Policy {
            timeout: c.timeout.get(),
            per_try_timeout: c.per_try_timeout.map(|d| d.get()),
            retry: RetryPolicy {
                max_attempts: c.retry.max_attempts.max(1),
                on: RetryOn(on),
                statuses: c.retry.retriable_status_codes.clone(),
                backoff,
                budget,
                non_idempotent: c.retry.retry_non_idempotent,
                max_buffered_body: c.retry.max_buffered_body,
                rng: Rng::new(),
            },
            breaker,
            bulkhead,
            limiter,
            fallback,
            config: c.clone(),
        })
    }

    /// Takes over the state of the same route's policies in the config
    /// before a reload, where their settings are unchanged: an open circuit
    /// stays open, slots in use stay taken, the adaptive limit and the
    /// retry budget keep what they learnt. Changed settings start fresh.
    pub(crate) fn carry_over(&mut self, before: &Policy) {
        let (now, then) = (&self.config, &before.config);
        if now.circuit_breaker == then.circuit_breaker {
            self.breaker = before.breaker.clone();
        }
        if now.bulkhead == then.bulkhead {
            self.bulkhead = before.bulkhead.clone();
        }
        if now.concurrency_limit == then.concurrency_limit {
            self.limiter = before.limiter.clone();
        }
        if now.retry.budget == then.retry.budget {
            self.retry.budget = before.retry.budget.clone();
        }
    }
}

//! Stacks that reproduce the defaults of Hystrix, resilience4j and Polly,
//! so that their users can move to ordo without retuning.
//!
//! Each preset sets the anchor's tuning values. Where the anchor lacks one
//! of ordo's safety nets, the net stays on, because it does not change how
//! a healthy dependency is treated, only how a sick one hurts: a retry
//! budget (20 % + 10/s), a deadline on half-open probes (10 s), and not
//! counting other policies' rejections as circuit failures. Where the
//! anchor's behaviour cannot be reproduced exactly, the table says so.
//!
//! | | [`hystrix`] | [`resilience4j`] | [`polly`] |
//! |---|---|---|---|
//! | total timeout | none | none | 30 s |
//! | retry | none | 3 attempts, 500 ms fixed | 4 attempts, 2 s × 2ⁿ, jittered¹ |
//! | circuit window | last 10 s, 10 buckets | last 100 calls | last 30 s, 30 buckets |
//! | minimum calls | 20 | 100 | 100 |
//! | failure threshold | 50 % | 50 % | 10 % |
//! | slow calls | off | 100 % slower than 60 s | off |
//! | open wait | 5 s | 60 s | 5 s |
//! | half-open | 1 probe | 10 probes | 1 probe |
//! | attempt timeout | 1 s | 1 s | 10 s |
//! | bulkhead | 10, no wait | 25, no wait | 1,000, no queue |
//!
//! ¹ Polly's standard HTTP pipeline jitters with a decorrelated jitter; ordo
//! uses equal jitter (each delay between half and all of 2 s × 2ⁿ), which
//! spreads retries over a similar range. Hystrix judges its circuit from a
//! health snapshot taken every 500 ms and counts bulkhead rejections as
//! errors; ordo judges on every call and does not count rejections.

use std::time::Duration;

use super::StackConfig;
use crate::bulkhead::BulkheadConfig;
use crate::circuit_breaker::{CircuitBreakerConfig, HalfOpen, OpenWait, SlidingWindow, SlowCalls};
use crate::retry::{Backoff, Growth, Jitter, RetryBudgetConfig, RetryConfig};

fn probes(permitted_calls: u32) -> HalfOpen {
    HalfOpen {
        permitted_calls,
        probe_deadline: Duration::from_secs(10),
        ramp: Vec::new(),
        ramp_step: Duration::from_secs(1),
    }
}

/// Hystrix 1.5's command defaults (semaphore isolation).
pub fn hystrix() -> StackConfig {
    StackConfig {
        circuit_breaker: Some(CircuitBreakerConfig {
            window: SlidingWindow::Time {
                length: Duration::from_secs(10),
                buckets: 10,
            },
            minimum_calls: 20,
            failure_rate_threshold: 50.0,
            slow_calls: None,
            open_wait: OpenWait::fixed(Duration::from_secs(5)),
            half_open: probes(1),
            count_rejections: false,
        }),
        attempt_timeout: Some(Duration::from_secs(1)),
        bulkhead: Some(BulkheadConfig {
            max_concurrent_calls: 10,
            max_wait: Duration::ZERO,
            max_waiting: 1,
        }),
        ..StackConfig::default()
    }
}

/// resilience4j 2's defaults for Retry, CircuitBreaker, TimeLimiter and
/// Bulkhead, in its recommended order.
pub fn resilience4j() -> StackConfig {
    StackConfig {
        retry: Some(RetryConfig {
            max_attempts: 3,
            backoff: Backoff::constant(Duration::from_millis(500)),
            budget: Some(RetryBudgetConfig::default()),
            retry_non_idempotent: false,
            honor_retry_after: false,
            max_retry_after: Duration::from_secs(30),
        }),
        circuit_breaker: Some(CircuitBreakerConfig {
            window: SlidingWindow::Count { size: 100 },
            minimum_calls: 100,
            failure_rate_threshold: 50.0,
            slow_calls: Some(SlowCalls {
                duration: Duration::from_secs(60),
                rate_threshold: 100.0,
            }),
            open_wait: OpenWait::fixed(Duration::from_secs(60)),
            half_open: probes(10),
            count_rejections: false,
        }),
        attempt_timeout: Some(Duration::from_secs(1)),
        bulkhead: Some(BulkheadConfig {
            max_concurrent_calls: 25,
            max_wait: Duration::ZERO,
            max_waiting: 1,
        }),
        ..StackConfig::default()
    }
}

/// Polly 8 as .NET's standard HTTP resilience pipeline
/// (`AddStandardResilienceHandler`) configures it.
pub fn polly() -> StackConfig {
    StackConfig {
        total_timeout: Some(Duration::from_secs(30)),
        retry: Some(RetryConfig {
            max_attempts: 4,
            backoff: Backoff {
                initial: Duration::from_secs(2),
                growth: Growth::Exponential { multiplier: 2.0 },
                max: Duration::from_secs(30),
                jitter: Jitter::Equal,
            },
            budget: Some(RetryBudgetConfig::default()),
            retry_non_idempotent: false,
            honor_retry_after: true,
            max_retry_after: Duration::from_secs(30),
        }),
        circuit_breaker: Some(CircuitBreakerConfig {
            window: SlidingWindow::Time {
                length: Duration::from_secs(30),
                buckets: 30,
            },
            minimum_calls: 100,
            failure_rate_threshold: 10.0,
            slow_calls: None,
            open_wait: OpenWait::fixed(Duration::from_secs(5)),
            half_open: probes(1),
            count_rejections: false,
        }),
        attempt_timeout: Some(Duration::from_secs(10)),
        bulkhead: Some(BulkheadConfig {
            max_concurrent_calls: 1000,
            max_wait: Duration::ZERO,
            max_waiting: 1,
        }),
        ..StackConfig::default()
    }
}

/// ordo's own defaults: every policy a dependency call usually wants.
pub fn ordo() -> StackConfig {
    StackConfig {
        total_timeout: Some(Duration::from_secs(10)),
        retry: Some(RetryConfig::default()),
        circuit_breaker: Some(CircuitBreakerConfig::default()),
        attempt_timeout: Some(Duration::from_secs(2)),
        bulkhead: Some(BulkheadConfig::default()),
        ..StackConfig::default()
    }
}

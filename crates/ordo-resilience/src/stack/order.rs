//! Which orders of policies are harmful, and why.

use std::fmt;

/// The kinds of policy a stack is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyKind {
    /// [`FallbackLayer`](crate::fallback::FallbackLayer)
    Fallback,
    /// [`InstrumentLayer`](crate::instrument::InstrumentLayer)
    Instrument,
    /// [`TimeoutLayer`](crate::timeout::TimeoutLayer)
    Timeout,
    /// [`RetryLayer`](crate::retry::RetryLayer)
    Retry,
    /// [`HedgeLayer`](crate::hedge::HedgeLayer)
    Hedge,
    /// [`CircuitBreakerLayer`](crate::circuit_breaker::CircuitBreakerLayer)
    CircuitBreaker,
    /// [`RateLimitLayer`](crate::rate_limit::RateLimitLayer)
    RateLimit,
    /// [`ThrottleLayer`](crate::throttle::ThrottleLayer)
    Throttle,
    /// [`BulkheadLayer`](crate::bulkhead::BulkheadLayer)
    Bulkhead,
    /// [`ConcurrencyLimitLayer`](crate::limit::ConcurrencyLimitLayer)
    ConcurrencyLimit,
}

impl PolicyKind {
    /// The policy's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Fallback => "fallback",
            PolicyKind::Instrument => "instrument",
            PolicyKind::Timeout => "timeout",
            PolicyKind::Retry => "retry",
            PolicyKind::Hedge => "hedge",
            PolicyKind::CircuitBreaker => "circuit breaker",
            PolicyKind::RateLimit => "rate limit",
            PolicyKind::Throttle => "throttle",
            PolicyKind::Bulkhead => "bulkhead",
            PolicyKind::ConcurrencyLimit => "concurrency limit",
        }
    }

    /// Policies that reject calls locally.
    pub const fn rejects_locally(self) -> bool {
        matches!(
            self,
            PolicyKind::CircuitBreaker
                | PolicyKind::RateLimit
                | PolicyKind::Throttle
                | PolicyKind::Bulkhead
                | PolicyKind::ConcurrencyLimit
        )
    }

    /// Policies that act on the outcomes they observe.
    const fn observes_outcomes(self) -> bool {
        matches!(
            self,
            PolicyKind::Retry
                | PolicyKind::Hedge
                | PolicyKind::CircuitBreaker
                | PolicyKind::Throttle
                | PolicyKind::ConcurrencyLimit
        )
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A layer of ordo's, as the stack builder sees it.
pub trait Policy {
    /// What kind of policy it is.
    fn kind(&self) -> PolicyKind;

    /// For circuit breakers: whether other policies' rejections count as
    /// failures.
    fn counts_rejections(&self) -> bool {
        false
    }
}

/// An order of policies known to be harmful.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderError {
    /// A policy that acts on outcomes sits outside a fallback, so it never
    /// sees the failures the fallback hides.
    OutsideFallback {
        /// The policy outside the fallback.
        policy: PolicyKind,
    },
    /// A retry or hedge sits inside a circuit breaker: attempts continue
    /// while the circuit opens, and the breaker counts a whole retried call
    /// as one.
    RetryInsideCircuitBreaker {
        /// Retry or hedge.
        policy: PolicyKind,
    },
    /// A rejecting policy sits inside a circuit breaker that counts
    /// rejections as failures: a busy service would open its own circuit.
    RejectionsCountedByBreaker {
        /// The rejecting policy.
        policy: PolicyKind,
    },
    /// Every timeout is outside the circuit breaker: a hanging dependency is
    /// cancelled before the breaker sees a failure, so the circuit never
    /// opens on it.
    NoTimeoutInsideCircuitBreaker,
    /// Hedging sits outside retry: each hedge retries on its own, multiplying
    /// attempts beyond what the budget intends.
    HedgeOutsideRetry,
    /// An adaptive concurrency limit sits outside a retry or hedge: it would
    /// measure backoff sleeps as latency and shrink for no reason.
    LimitOutsideRetry {
        /// Retry or hedge.
        policy: PolicyKind,
    },
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::OutsideFallback { policy } => write!(
                f,
                "the {policy} is outside the fallback and would never see the failures the \
                 fallback answers; put the fallback outermost"
            ),
            OrderError::RetryInsideCircuitBreaker { policy } => write!(
                f,
                "the {policy} is inside the circuit breaker: it would keep trying while the \
                 circuit opens; put the circuit breaker inside the {policy}"
            ),
            OrderError::RejectionsCountedByBreaker { policy } => write!(
                f,
                "the {policy} is inside a circuit breaker that counts rejections as failures: \
                 a busy service would open its own circuit; stop counting rejections or move \
                 the {policy} outside"
            ),
            OrderError::NoTimeoutInsideCircuitBreaker => f.write_str(
                "every timeout is outside the circuit breaker: a hanging call is cancelled \
                 before the breaker counts it, so the circuit never opens on a hung \
                 dependency; put a timeout inside the circuit breaker",
            ),
            OrderError::HedgeOutsideRetry => f.write_str(
                "the hedge is outside the retry: every hedge would retry on its own; put the \
                 hedge inside the retry",
            ),
            OrderError::LimitOutsideRetry { policy } => write!(
                f,
                "the concurrency limit is outside the {policy}: it would count backoff and \
                 waiting as latency; put it inside"
            ),
        }
    }
}

impl std::error::Error for OrderError {}

/// Checks an order of policies, outermost first; returns every problem.
pub fn check_order(policies: &[(PolicyKind, bool)]) -> Result<(), Vec<OrderError>> {
    let mut problems = Vec::new();
    let position = |k: PolicyKind| policies.iter().position(|(p, _)| *p == k);
    let positions = |k: PolicyKind| {
        policies
            .iter()
            .enumerate()
            .filter(move |(_, (p, _))| *p == k)
            .map(|(i, _)| i)
    };
    if let Some(last_fallback) = positions(PolicyKind::Fallback).next_back() {
        for (kind, _) in &policies[..last_fallback] {
            if kind.observes_outcomes() {
                problems.push(OrderError::OutsideFallback { policy: *kind });
            }
        }
    }
    for (b, (_, counts)) in policies
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| *p == PolicyKind::CircuitBreaker)
    {
        for (kind, _) in &policies[b + 1..] {
            if matches!(kind, PolicyKind::Retry | PolicyKind::Hedge) {
                problems.push(OrderError::RetryInsideCircuitBreaker { policy: *kind });
            }
            if *counts && kind.rejects_locally() {
                problems.push(OrderError::RejectionsCountedByBreaker { policy: *kind });
            }
        }
        let timeouts_outside = policies[..b].iter().any(|(p, _)| *p == PolicyKind::Timeout);
        let timeouts_inside = policies[b + 1..]
            .iter()
            .any(|(p, _)| *p == PolicyKind::Timeout);
        if timeouts_outside && !timeouts_inside {
            problems.push(OrderError::NoTimeoutInsideCircuitBreaker);
        }
    }
    if let (Some(h), Some(r)) = (
        position(PolicyKind::Hedge),
        positions(PolicyKind::Retry).next_back(),
    ) && h < r
    {
        problems.push(OrderError::HedgeOutsideRetry);
    }
    if let Some(l) = position(PolicyKind::ConcurrencyLimit) {
        for (kind, _) in &policies[l + 1..] {
            if matches!(kind, PolicyKind::Retry | PolicyKind::Hedge) {
                problems.push(OrderError::LimitOutsideRetry { policy: *kind });
            }
        }
    }
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

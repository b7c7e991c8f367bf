//! A whole stack from plain settings, in the documented order.

use std::time::Duration;

use tower_layer::{Identity, Layer, Stack};

use super::order::{PolicyKind, check_order};
use crate::bulkhead::{BulkheadConfig, BulkheadLayer};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerLayer};
use crate::classify::DefaultClassifier;
use crate::error::ConfigError;
use crate::hedge::{HedgeConfig, HedgeLayer};
use crate::instrument::InstrumentLayer;
use crate::limit::{ConcurrencyLimitLayer, LimitConfig};
use crate::rate_limit::{RateLimitConfig, RateLimitLayer};
use crate::retry::{RetryBudget, RetryConfig, RetryLayer};
use crate::telemetry::Telemetry;
use crate::throttle::{ThrottleConfig, ThrottleLayer};
use crate::timeout::TimeoutLayer;

/// Every policy of a stack, each optional. [`StackConfig::build`] composes
/// them in the documented order (see [the module docs](super)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StackConfig {
    /// A deadline for the whole call, retries included.
    pub total_timeout: Option<Duration>,
    /// Retry, with its budget.
    pub retry: Option<RetryConfig>,
    /// Hedging; it shares retry's budget when both are set.
    pub hedge: Option<HedgeConfig>,
    /// The circuit breaker.
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// A rate limit on attempts.
    pub rate_limit: Option<RateLimitConfig>,
    /// Client-side adaptive throttling.
    pub throttle: Option<ThrottleConfig>,
    /// A deadline for each attempt.
    pub attempt_timeout: Option<Duration>,
    /// A fixed cap on attempts in flight.
    pub bulkhead: Option<BulkheadConfig>,
    /// An adaptive cap on attempts in flight.
    pub concurrency_limit: Option<LimitConfig>,
}

/// The composed layer type, innermost first. Absent policies are layers in
/// their pass-through mode rather than `Either`s, so the service type stays
/// linear in the number of policies (nested `Either`s double it at each
/// step, and with ten steps the compiler gives up).
type Composed<C> = Stack<
    ConcurrencyLimitLayer<C>,
    Stack<
        BulkheadLayer,
        Stack<
            TimeoutLayer,
            Stack<
                ThrottleLayer<C>,
                Stack<
                    RateLimitLayer,
                    Stack<
                        CircuitBreakerLayer<C>,
                        Stack<
                            HedgeLayer<C>,
                            Stack<
                                RetryLayer<C>,
                                Stack<TimeoutLayer, Stack<InstrumentLayer<C>, Identity>>,
                            >,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// A built stack: a layer, plus handles on its stateful parts.
#[derive(Debug, Clone)]
pub struct PolicyStack<C = DefaultClassifier> {
    layer: Composed<C>,
    breaker: Option<CircuitBreaker>,
    budget: Option<RetryBudget>,
    order: Vec<PolicyKind>,
}

impl<C> PolicyStack<C> {
    /// The circuit breaker, to read or change its state.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The retry budget (shared by retry and hedge).
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// The policies present, outermost first.
    pub fn order(&self) -> &[PolicyKind] {
        &self.order
    }
}

impl<S, C> Layer<S> for PolicyStack<C>
where
    Composed<C>: Layer<S>,
{
    type Service = <Composed<C> as Layer<S>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.layer.layer(inner)
    }
}

impl StackConfig {
    /// Checks every policy's settings, and the settings against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("stack");
        for (field, timeout) in [
            ("total_timeout", self.total_timeout),
            ("attempt_timeout", self.attempt_timeout),
        ] {
            e.check(timeout.is_none_or(|t| !t.is_zero()), field, || {
                "must be more than zero".to_owned()
            });
        }
        e.check(
            !(self.total_timeout.is_some()
                && self.circuit_breaker.is_some()
                && self.attempt_timeout.is_none()),
            "attempt_timeout",
            || {
                "is needed with a total_timeout and a circuit_breaker: the total timeout \
                 cancels hung calls before the breaker counts them, so the circuit would \
                 never open on a hung dependency"
                    .to_owned()
            },
        );
        if let (Some(total), Some(attempt)) = (self.total_timeout, self.attempt_timeout) {
            e.check(attempt <= total, "attempt_timeout", || {
                format!("{attempt:?} is longer than total_timeout {total:?}")
            });
        }
        if let Some(c) = &self.retry {
            e.absorb(c.validate());
        }
        if let Some(c) = &self.hedge {
            e.absorb(c.validate());
        }
        if let Some(c) = &self.circuit_breaker {
            e.absorb(c.validate());
            e.check(
                !c.count_rejections,
                "circuit_breaker.count_rejections",
                || {
                    "a stack's rejecting policies sit inside its circuit breaker, so it must not \
                 count their rejections"
                        .to_owned()
                },
            );
        }
        if let Some(c) = &self.rate_limit {
            e.absorb(c.validate());
        }
        if let Some(c) = &self.throttle {
            e.absorb(c.validate());
        }
        if let Some(c) = &self.bulkhead {
            e.absorb(c.validate());
        }
        if let Some(c) = &self.concurrency_limit {
            e.absorb(c.validate());
        }
        e.into_result(())
    }

    /// The policies present, outermost first, in the documented order.
    pub fn order(&self) -> Vec<PolicyKind> {
        let present = [
            (true, PolicyKind::Instrument),
            (self.total_timeout.is_some(), PolicyKind::Timeout),
            (self.retry.is_some(), PolicyKind::Retry),
            (self.hedge.is_some(), PolicyKind::Hedge),
            (self.circuit_breaker.is_some(), PolicyKind::CircuitBreaker),
            (self.rate_limit.is_some(), PolicyKind::RateLimit),
            (self.throttle.is_some(), PolicyKind::Throttle),
            (self.attempt_timeout.is_some(), PolicyKind::Timeout),
            (self.bulkhead.is_some(), PolicyKind::Bulkhead),
            (
                self.concurrency_limit.is_some(),
                PolicyKind::ConcurrencyLimit,
            ),
        ];
        present
            .into_iter()
            .filter(|(p, _)| *p)
            .map(|(_, k)| k)
            .collect()
    }

    /// Builds the stack with the default classifier, reporting to
    /// `telemetry`.
    pub fn build(self, telemetry: Telemetry) -> Result<PolicyStack, ConfigError> {
        self.build_with(DefaultClassifier, telemetry)
    }

    /// Builds the stack with `classifier` for every policy.
    pub fn build_with<C: Clone>(
        self,
        classifier: C,
        telemetry: Telemetry,
    ) -> Result<PolicyStack<C>, ConfigError> {
        self.validate()?;
        let order = self.order();
        // The documented order passes the checks by construction, given
        // `validate` (no rejection counting, a timeout inside the breaker).
        debug_assert!(
            check_order(&order.iter().map(|k| (*k, false)).collect::<Vec<_>>()).is_ok(),
            "the documented order is refused: {order:?}"
        );
        let t = || telemetry.clone();
        let budget = match &self.retry {
            Some(r) => r.budget.map(RetryBudget::new).transpose()?,
            None => None,
        };
        let retry = self
            .retry
            .map(|c| {
                let b = RetryLayer::builder()
                    .config(c)
                    .classifier(classifier.clone())
                    .telemetry(t());
                match &budget {
                    Some(budget) => b.budget(budget.clone()),
                    None => b.no_budget(),
                }
                .build()
            })
            .transpose()?;
        let hedge = self
            .hedge
            .map(|c| {
                let b = HedgeLayer::builder()
                    .config(c)
                    .classifier(classifier.clone())
                    .telemetry(t());
                match &budget {
                    Some(budget) => b.shared_budget(budget.clone()),
                    None => b,
                }
                .build()
            })
            .transpose()?;
        let breaker = self
            .circuit_breaker
            .map(|c| {
                CircuitBreakerLayer::builder()
                    .config(c)
                    .classifier(classifier.clone())
                    .telemetry(t())
                    .build()
            })
            .transpose()?;
        let handle = breaker.as_ref().map(CircuitBreakerLayer::breaker);
        let rate_limit = self
            .rate_limit
            .map(|c| RateLimitLayer::builder().config(c).telemetry(t()).build())
            .transpose()?;
        let throttle = self
            .throttle
            .map(|c| {
                ThrottleLayer::builder()
                    .config(c)
                    .classifier(classifier.clone())
                    .telemetry(t())
                    .build()
            })
            .transpose()?;
        let total = self
            .total_timeout
            .map(|d| TimeoutLayer::try_new(d, t()))
            .transpose()?;
        let attempt = self
            .attempt_timeout
            .map(|d| TimeoutLayer::try_new(d, t()))
            .transpose()?;
        let bulkhead = self
            .bulkhead
            .map(|c| BulkheadLayer::builder().config(c).telemetry(t()).build())
            .transpose()?;
        let limit = self
            .concurrency_limit
            .map(|c| {
                ConcurrencyLimitLayer::builder()
                    .config(c)
                    .classifier(classifier.clone())
                    .telemetry(t())
                    .build()
            })
            .transpose()?;
        let instrument = InstrumentLayer::new(t()).classifier(classifier.clone());
        let off = || classifier.clone();
        let limit = limit.unwrap_or_else(|| ConcurrencyLimitLayer::off(off()));
        let bulkhead = bulkhead.unwrap_or_else(BulkheadLayer::off);
        let attempt = attempt.unwrap_or_else(TimeoutLayer::off);
        let throttle = throttle.unwrap_or_else(|| ThrottleLayer::off(off()));
        let rate_limit = rate_limit.unwrap_or_else(RateLimitLayer::off);
        let breaker = breaker.unwrap_or_else(|| CircuitBreakerLayer::off(off()));
        let hedge = hedge.unwrap_or_else(HedgeLayer::off);
        let retry = retry.unwrap_or_else(RetryLayer::off);
        let total = total.unwrap_or_else(TimeoutLayer::off);
        let layer = Stack::new(
            limit,
            Stack::new(
                bulkhead,
                Stack::new(
                    attempt,
                    Stack::new(
                        throttle,
                        Stack::new(
                            rate_limit,
                            Stack::new(
                                breaker,
                                Stack::new(
                                    hedge,
                                    Stack::new(
                                        retry,
                                        Stack::new(total, Stack::new(instrument, Identity::new())),
                                    ),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        );
        Ok(PolicyStack {
            layer,
            breaker: handle,
            budget,
            order,
        })
    }
}

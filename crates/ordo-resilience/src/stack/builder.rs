//! A stack in any order you choose, checked against the known-harmful ones.

use std::fmt;

use tower_layer::{Identity, Stack};

use super::order::{OrderError, Policy, PolicyKind, check_order};
use crate::bulkhead::BulkheadLayer;
use crate::circuit_breaker::CircuitBreakerLayer;
use crate::fallback::FallbackLayer;
use crate::hedge::HedgeLayer;
use crate::instrument::InstrumentLayer;
use crate::limit::ConcurrencyLimitLayer;
use crate::rate_limit::RateLimitLayer;
use crate::retry::RetryLayer;
use crate::throttle::ThrottleLayer;
use crate::timeout::TimeoutLayer;

/// Composes layers outermost first, like tower's `ServiceBuilder`, and
/// refuses orders known to be harmful when built.
///
/// ```
/// use std::time::Duration;
/// use ordo_resilience::{
///     bulkhead::BulkheadLayer, circuit_breaker::CircuitBreakerLayer, retry::RetryLayer,
///     stack::{OrderError, StackBuilder}, timeout::TimeoutLayer,
/// };
///
/// // Retry inside the circuit breaker: refused.
/// let err = StackBuilder::new()
///     .push(CircuitBreakerLayer::builder().build().unwrap())
///     .push(RetryLayer::builder().build().unwrap())
///     .build()
///     .unwrap_err();
/// assert!(err.contains(&OrderError::RetryInsideCircuitBreaker {
///     policy: ordo_resilience::stack::PolicyKind::Retry
/// }));
///
/// // The documented order: accepted.
/// let layer = StackBuilder::new()
///     .push(RetryLayer::builder().build().unwrap())
///     .push(CircuitBreakerLayer::builder().build().unwrap())
///     .push(TimeoutLayer::new(Duration::from_secs(1)))
///     .push(BulkheadLayer::builder().build().unwrap())
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct StackBuilder<L> {
    layer: L,
    policies: Vec<(PolicyKind, bool)>,
}

impl Default for StackBuilder<Identity> {
    fn default() -> Self {
        Self::new()
    }
}

impl StackBuilder<Identity> {
    /// An empty stack.
    pub fn new() -> Self {
        StackBuilder {
            layer: Identity::new(),
            policies: Vec::new(),
        }
    }
}

impl<L> StackBuilder<L> {
    /// Adds a policy inside the ones added before.
    pub fn push<P: Policy>(mut self, policy: P) -> StackBuilder<Stack<P, L>> {
        self.policies
            .push((policy.kind(), policy.counts_rejections()));
        StackBuilder {
            layer: Stack::new(policy, self.layer),
            policies: self.policies,
        }
    }

    /// Adds any other layer inside the ones added before; it takes no part
    /// in the order check.
    pub fn push_layer<T>(self, layer: T) -> StackBuilder<Stack<T, L>> {
        StackBuilder {
            layer: Stack::new(layer, self.layer),
            policies: self.policies,
        }
    }

    /// The policies so far, outermost first.
    pub fn policies(&self) -> impl Iterator<Item = PolicyKind> + '_ {
        self.policies.iter().map(|(k, _)| *k)
    }

    /// Checks the order and returns the composed layer.
    pub fn build(self) -> Result<L, OrderErrors> {
        check_order(&self.policies).map_err(OrderErrors)?;
        Ok(self.layer)
    }
}

/// Every problem with an order of policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderErrors(pub Vec<OrderError>);

impl OrderErrors {
    /// Whether `e` is among the problems.
    pub fn contains(&self, e: &OrderError) -> bool {
        self.0.contains(e)
    }
}

impl fmt::Display for OrderErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OrderErrors {}

macro_rules! policy {
    ($kind:ident: $($ty:ty),* $(,)?) => {$(
        impl Policy for $ty {
            fn kind(&self) -> PolicyKind {
                PolicyKind::$kind
            }
        }
    )*};
}

policy!(Timeout: TimeoutLayer);
policy!(Bulkhead: BulkheadLayer);
policy!(RateLimit: RateLimitLayer);

impl<T, E, C> Policy for FallbackLayer<T, E, C> {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Fallback
    }
}

impl<C> Policy for InstrumentLayer<C> {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Instrument
    }
}

impl<C, P> Policy for RetryLayer<C, P> {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Retry
    }
}

impl<C, P> Policy for HedgeLayer<C, P> {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Hedge
    }
}

impl<C> Policy for CircuitBreakerLayer<C> {
    fn kind(&self) -> PolicyKind {
        PolicyKind::CircuitBreaker
    }

    fn counts_rejections(&self) -> bool {
        self.is_on() && self.breaker().config().count_rejections
    }
}

impl<C> Policy for ThrottleLayer<C> {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Throttle
    }
}

impl<C> Policy for ConcurrencyLimitLayer<C> {
    fn kind(&self) -> PolicyKind {
        PolicyKind::ConcurrencyLimit
    }
}

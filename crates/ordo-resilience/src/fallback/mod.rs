//! Fallback: answer in place of a dependency that failed or was not
//! called, with a function of what went wrong or a fixed value.
//!
//! # Why
//!
//! A degraded answer (a cached page, a default recommendation, an empty
//! list) is often better than an error. Netflix's services answer with
//! fallbacks when a dependency's circuit is open, so users see a slightly
//! worse page instead of a broken one.
//!
//! # How
//!
//! The fallback runs when the wrapped call ends in one of the [`Cause`]s it
//! handles (all of them by default): a failure (an error, or a response the
//! [classifier](crate::classify::Classify) calls a failure), a timeout, an
//! open circuit, a full bulkhead, a concurrency limit, throttling or a rate
//! limit. It receives a [`Trigger`] that says which, with the original
//! result, and returns the result to give instead (which may be the original
//! error, passed through).
//!
//! Place it outermost: a policy outside a fallback never sees the failures
//! the fallback hid (a circuit would never open, a retry never retry).
//! [`StackBuilder`](crate::stack::StackBuilder) refuses such an order.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use ordo_resilience::{fallback::{Cause, FallbackLayer, Trigger}, Error};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let fallback = FallbackLayer::new(|t: Trigger<&'static str, Error<&'static str>>| {
//!     assert_eq!(t.cause(), Cause::Failure);
//!     Ok("cached")
//! });
//! let mut svc = ServiceBuilder::new()
//!     .layer(fallback)
//!     .service(service_fn(|_: ()| async { Err(Error::Inner("down")) }));
//! assert_eq!(svc.ready().await.unwrap().call(()).await.unwrap(), "cached");
//! # }
//! ```

mod future;
mod layer;
mod service;

use std::fmt;

pub use future::ResponseFuture;
pub use layer::{Causes, FallbackFn, FallbackLayer};
pub use service::FallbackService;

use crate::error::ErrorKind;

/// What made the fallback answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The call failed: an error from the service, or a response classified
    /// as a failure.
    Failure,
    /// A timeout fired.
    Timeout,
    /// A circuit breaker rejected the call.
    CircuitOpen,
    /// A bulkhead rejected the call.
    BulkheadFull,
    /// An adaptive concurrency limit rejected the call.
    ConcurrencyLimited,
    /// Adaptive throttling dropped the call.
    Throttled,
    /// A rate limiter rejected the call.
    RateLimited,
}

impl Cause {
    /// Every cause.
    pub const ALL: [Cause; 7] = [
        Cause::Failure,
        Cause::Timeout,
        Cause::CircuitOpen,
        Cause::BulkheadFull,
        Cause::ConcurrencyLimited,
        Cause::Throttled,
        Cause::RateLimited,
    ];

    /// A short, stable name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::Failure => "failure",
            Cause::Timeout => "timeout",
            Cause::CircuitOpen => "circuit-open",
            Cause::BulkheadFull => "bulkhead-full",
            Cause::ConcurrencyLimited => "concurrency-limited",
            Cause::Throttled => "throttled",
            Cause::RateLimited => "rate-limited",
        }
    }

    pub(crate) const fn from_kind(kind: ErrorKind) -> Cause {
        match kind {
            ErrorKind::Inner => Cause::Failure,
            ErrorKind::Timeout => Cause::Timeout,
            ErrorKind::CircuitOpen => Cause::CircuitOpen,
            ErrorKind::BulkheadFull => Cause::BulkheadFull,
            ErrorKind::ConcurrencyLimited => Cause::ConcurrencyLimited,
            ErrorKind::Throttled => Cause::Throttled,
            ErrorKind::RateLimited => Cause::RateLimited,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the fallback is told: why it runs, and the result it replaces.
#[derive(Debug)]
pub struct Trigger<T, E> {
    cause: Cause,
    result: Result<T, E>,
}

impl<T, E> Trigger<T, E> {
    pub(crate) fn new(cause: Cause, result: Result<T, E>) -> Self {
        Trigger { cause, result }
    }

    /// Why the fallback runs.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The result being replaced.
    pub fn result(&self) -> &Result<T, E> {
        &self.result
    }

    /// The result being replaced, to pass it through or inspect it.
    pub fn into_result(self) -> Result<T, E> {
        self.result
    }
}

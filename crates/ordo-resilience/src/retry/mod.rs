//! Retry: try a failed call again, after a growing, randomised delay, within
//! a budget.
//!
//! # Why
//!
//! Many failures are brief: a connection reset, an instance restarting, a
//! request that landed on the one slow replica. Trying again usually works.
//! Retrying carelessly, though, multiplies load on a dependency that is
//! already struggling, so every retry here is bounded three ways: a maximum
//! number of attempts, a [`RetryBudget`] shared across calls (retries add at
//! most 20 % to recent traffic, plus 10 per second), and a backoff with
//! jitter so that callers that failed together do not retry together.
//!
//! # What is retried
//!
//! A result the [classifier](crate::classify::Classify) calls a failure,
//! including a timeout of an attempt; and a result that carries a
//! `Retry-After` (HTTP 429 or 503), which is retried no sooner than it asks.
//! Never retried: other policies' local rejections (an open circuit, a full
//! bulkhead: retrying them only spins), and requests that are not
//! idempotent, unless [`RetryBuilder::retry_non_idempotent`] says so (see
//! [`replay`]). When retry gives up, the caller gets the last result, and a
//! [`RetryGaveUp`](crate::EventKind::RetryGaveUp) event says why.
//!
//! Place a circuit breaker *inside* the retry, so each attempt is counted
//! and retries stop when the circuit opens; a timeout inside bounds each
//! attempt, one outside bounds the whole call.
//!
//! # Defaults
//!
//! | setting | default | resilience4j | Polly |
//! |---|---|---|---|
//! | `max_attempts` (incl. the first) | 3 | 3 | 4 (3 retries) |
//! | backoff | 25 ms × 2ⁿ, at most 250 ms, full jitter | 500 ms fixed | 2 s constant |
//! | budget | 20 % + 10/s over 10 s | none | none |
//! | non-idempotent requests | not retried | retried | retried |
//! | `Retry-After` | honoured, up to 30 s | no | no (yes in the HTTP handler) |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use ordo_resilience::{retry::RetryLayer, Error};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let calls = Arc::new(AtomicU32::new(0));
//! let seen = calls.clone();
//! let mut svc = ServiceBuilder::new()
//!     .layer(RetryLayer::builder().max_attempts(3).build().unwrap())
//!     .service(service_fn(move |req: u32| {
//!         let n = seen.fetch_add(1, Ordering::SeqCst);
//!         async move { if n < 2 { Err(Error::Inner("flaky")) } else { Ok(req) } }
//!     }));
//! assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! # }
//! ```

mod backoff;
mod budget;
mod future;
mod layer;
pub mod replay;
mod service;

use std::time::Duration;

pub use backoff::{Backoff, Growth, Jitter};
pub use budget::{RetryBudget, RetryBudgetConfig};
pub use future::ResponseFuture;
pub use layer::{RetryBuilder, RetryLayer};
pub use replay::{ByRequest, CloneAll, Idempotency, Replay, Retryable};
pub use service::RetryService;

use crate::error::ConfigError;

/// Retry settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 to 100; 1 never retries).
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// The budget retries draw from; `None` for no budget (not advised).
    /// A layer built with [`RetryBuilder::budget`] shares the given budget
    /// instead.
    pub budget: Option<RetryBudgetConfig>,
    /// Retry requests that are not idempotent too.
    pub retry_non_idempotent: bool,
    /// Honour `Retry-After`: wait at least that long, and retry such
    /// results even when they are not failures.
    pub honor_retry_after: bool,
    /// A `Retry-After` longer than this is not waited for: the result is
    /// returned as it is.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            backoff: Backoff::exponential(Duration::from_millis(25), Duration::from_millis(250)),
            budget: Some(RetryBudgetConfig::default()),
            retry_non_idempotent: false,
            honor_retry_after: true,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("retry");
        e.check(
            (1..=100).contains(&self.max_attempts),
            "max_attempts",
            || format!("must be 1 to 100, got {}", self.max_attempts),
        );
        self.backoff.problems(&mut e);
        if let Some(b) = &self.budget {
            b.problems(&mut e, ["budget.ratio", "budget.ttl"]);
        }
        e.into_result(())
    }
}

//! Bulkhead: cap the calls in flight to one dependency, so that when it
//! slows down it cannot take every task, connection and byte of memory of
//! the caller with it.
//!
//! # Why
//!
//! A ship's bulkheads keep one flooded compartment from sinking the ship.
//! Without one, a slow dependency accumulates waiting calls until the caller
//! runs out of something, and then every other feature fails too. With a
//! bulkhead of N slots, call N+1 fails at once with [`BulkheadFull`] (or
//! after a short bounded wait), which a [fallback](crate::fallback) can
//! answer, and the rest of the service keeps working.
//!
//! # How
//!
//! A slot is taken in `poll_ready` and held until the response future
//! finishes or is dropped. With no wait configured, a service that finds no
//! free slot still reports ready, and its next call fails at once with
//! [`BulkheadFull`], so callers never hang on it. With a wait, `poll_ready`
//! waits for a slot up to `max_wait` (with at most `max_waiting` callers
//! queued); then the call is rejected.
//!
//! Taking a slot is a compare-and-swap on one counter, giving it back one
//! atomic subtraction, and the response future holds an `Arc` on the
//! counter; only callers that have to wait touch a notification queue.
//!
//! # Defaults
//!
//! | setting | default | resilience4j | Hystrix (semaphore) |
//! |---|---|---|---|
//! | `max_concurrent_calls` | 25 | 25 | 10 |
//! | `max_wait` | 0 (reject at once) | 0 | 0 |
//! | `max_waiting` | 1,000 | unbounded | n/a |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use ordo_resilience::{bulkhead::BulkheadLayer, Error};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let bulkhead = BulkheadLayer::builder().max_concurrent_calls(1).build().unwrap();
//! let mut svc = ServiceBuilder::new()
//!     .layer(bulkhead)
//!     .service(service_fn(|_: ()| std::future::pending::<Result<(), Error>>()));
//! let _busy = svc.ready().await.unwrap().call(()); // holds the only slot
//! let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
//! assert!(matches!(err, Error::BulkheadFull(_)));
//! # }
//! ```

mod error;
mod future;
mod layer;
mod permit;
mod service;
mod slots;

use std::time::Duration;

pub use error::BulkheadFull;
pub use future::ResponseFuture;
pub use layer::{BulkheadBuilder, BulkheadLayer};
pub use permit::{Bulkhead, BulkheadPermit};
pub use service::BulkheadService;

use crate::error::ConfigError;

/// Bulkhead settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkheadConfig {
    /// Calls allowed in flight at once.
    pub max_concurrent_calls: u32,
    /// How long a caller may wait for a free slot; zero rejects at once.
    pub max_wait: Duration,
    /// How many callers may wait at once; further ones are rejected.
    pub max_waiting: u32,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent_calls: 25,
            max_wait: Duration::ZERO,
            max_waiting: 1000,
        }
    }
}

impl BulkheadConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("bulkhead");
        e.check(
            self.max_concurrent_calls >= 1,
            "max_concurrent_calls",
            || "must be at least 1".to_owned(),
        );
        e.check(
            self.max_wait.is_zero() || self.max_waiting >= 1,
            "max_waiting",
            || "must be at least 1 when max_wait is set".to_owned(),
        );
        e.into_result(())
    }
}

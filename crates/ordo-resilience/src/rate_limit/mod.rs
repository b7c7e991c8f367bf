//! Rate limiter: at most `rate` calls per `period`, with bursts up to
//! `burst`, by the generic cell rate algorithm (GCRA).
//!
//! # Why
//!
//! Some dependencies have a quota (a payment provider, a search API) or a
//! known capacity in calls per second. Calls beyond it are refused locally,
//! at once or after a short wait, rather than sent to be refused remotely.
//!
//! # How
//!
//! GCRA keeps one number, the *theoretical arrival time* (TAT) of the next
//! call if calls came exactly at the rate. A call is allowed when it is no
//! more than `burst − 1` intervals early, and moves the TAT one interval on.
//! The whole state is one atomic word updated by compare-and-swap: no lock,
//! no refill task, exact at any rate. A permit is taken in `poll_ready`; a
//! call that would have to wait longer than `max_wait` is rejected with
//! [`RateLimited`], which says when a permit frees up. A permit reserved by
//! a caller that goes away before using it (a client timeout, a dropped
//! service) is given back, unless later permits were reserved after it.
//!
//! # Defaults
//!
//! | setting | default | resilience4j |
//! |---|---|---|
//! | `rate` / `period` | 100 per second | 50 per 500 ns |
//! | `burst` | `rate` | `rate` |
//! | `max_wait` | 0 (reject at once) | 5 s |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! use std::time::Duration;
//! use ordo_resilience::{rate_limit::RateLimitLayer, Error};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let limit = RateLimitLayer::builder().rate(2, Duration::from_secs(1)).build().unwrap();
//! let mut svc = ServiceBuilder::new()
//!     .layer(limit)
//!     .service(service_fn(|_: ()| async { Ok::<_, Error>(()) }));
//! svc.ready().await.unwrap().call(()).await.unwrap();
//! svc.ready().await.unwrap().call(()).await.unwrap();
//! let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
//! assert!(matches!(err, Error::RateLimited(_)));
//! # }
//! ```

mod error;
mod gcra;
mod layer;
mod service;

use std::time::Duration;

pub use error::RateLimited;
pub use layer::{RateLimitBuilder, RateLimitLayer};
pub use service::{RateLimitService, ResponseFuture};

use crate::error::ConfigError;

/// Rate limiter settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Calls allowed per `period`.
    pub rate: u32,
    /// The period `rate` is counted over.
    pub period: Duration,
    /// Calls allowed at once after a quiet time (at least 1).
    pub burst: u32,
    /// How long a call may wait for a permit; zero rejects at once.
    pub max_wait: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            rate: 100,
            period: Duration::from_secs(1),
            burst: 100,
            max_wait: Duration::ZERO,
        }
    }
}

impl RateLimitConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("rate_limit");
        e.check(self.rate >= 1, "rate", || "must be at least 1".to_owned());
        e.check(!self.period.is_zero(), "period", || {
            "must be more than zero".to_owned()
        });
        e.check(
            self.rate == 0 || self.period / self.rate >= Duration::from_nanos(1),
            "rate",
            || {
                format!(
                    "{} per {:?} is faster than one per nanosecond",
                    self.rate, self.period
                )
            },
        );
        e.check(self.burst >= 1, "burst", || "must be at least 1".to_owned());
        e.into_result(())
    }
}

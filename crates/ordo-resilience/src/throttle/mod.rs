//! Client-side adaptive throttling, from Google's *Site Reliability
//! Engineering*, chapter 21: when a dependency refuses many calls, refuse
//! some of them locally before sending.
//!
//! # Why
//!
//! An overloaded dependency still spends effort on every call it rejects.
//! When most calls are refused anyway, the cheapest thing the caller can do
//! is not send them. Each client keeps, over the last two minutes, the
//! number of calls it attempted (`requests`, including those it dropped
//! itself) and the number the dependency accepted (`accepts`), and drops a
//! new call locally with probability
//!
//! ```text
//! max(0, (requests − K × accepts) / (requests + 1))
//! ```
//!
//! With K = 2 a client sends roughly twice what the dependency accepts: it
//! keeps probing, so it notices recovery at once, but most of the load a
//! failing dependency cannot serve never leaves the client.
//!
//! A call counts as accepted when the [classifier](crate::classify::Classify)
//! calls it a success or ignores it, and as a request without an accept
//! when it fails or is dropped locally. Calls count when they finish, not
//! when they start: counted at the start, a burst of concurrent calls at
//! startup would look like a burst of refusals (they are all requested and
//! none accepted yet) and be throttled for nothing. A call cancelled before
//! it finishes is not counted.
//!
//! # Defaults
//!
//! | setting | default (SRE book) |
//! |---|---|
//! | `k` | 2.0 |
//! | `window` | 2 minutes, in 12 buckets |
//!
//! # Example
//!
//! ```
//! use ordo_resilience::throttle::ThrottleLayer;
//! let layer = ThrottleLayer::builder().k(1.5).build().unwrap();
//! assert_eq!(layer.probability(), 0.0);
//! ```

mod error;
mod future;
mod layer;
mod service;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use error::Throttled;
pub use future::ResponseFuture;
pub use layer::{ThrottleBuilder, ThrottleLayer};
pub use service::ThrottleService;

use crate::error::ConfigError;
use crate::rng::Rng;
use crate::telemetry::Telemetry;
use crate::window::Buckets;

/// Adaptive throttling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// How many times the accepted calls a client may send (at least 1).
    pub k: f64,
    /// The history the counts cover.
    pub window: Duration,
    /// How many buckets the history is cut in (1 to 256).
    pub buckets: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            k: 2.0,
            window: Duration::from_secs(120),
            buckets: 12,
        }
    }
}

impl ThrottleConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("throttle");
        e.check(self.k.is_finite() && self.k >= 1.0, "k", || {
            format!("must be at least 1.0, got {}", self.k)
        });
        e.check(
            (1..=crate::window::buckets::MAX_BUCKETS).contains(&self.buckets),
            "buckets",
            || format!("must be 1 to 256, got {}", self.buckets),
        );
        e.check(
            self.window >= Duration::from_millis(1) * self.buckets.max(1),
            "window",
            || format!("must be at least 1ms per bucket, got {:?}", self.window),
        );
        e.into_result(())
    }
}

/// The counts and the random source shared by every clone of a throttled
/// service.
#[derive(Debug)]
pub(crate) struct Throttle {
    // [requests, accepts]
    history: Buckets<2>,
    k: f64,
    rng: Rng,
    pub(crate) telemetry: Telemetry,
}

impl Throttle {
    pub(crate) fn new(config: ThrottleConfig, rng: Rng, telemetry: Telemetry) -> Arc<Self> {
        Arc::new(Throttle {
            history: Buckets::new(
                Instant::now(),
                config.window / config.buckets,
                config.buckets,
            ),
            k: config.k,
            rng,
            telemetry,
        })
    }

    /// The current local rejection probability.
    pub(crate) fn probability_at(&self, now: Instant) -> f64 {
        let [requests, accepts] = self.history.sum(now);
        let requests = requests as f64;
        ((requests - self.k * accepts as f64) / (requests + 1.0)).max(0.0)
    }

    /// Decides whether to send a request; `Err` carries the probability it
    /// was dropped with, and counts it as a request without an accept.
    #[inline]
    pub(crate) fn admit(&self, now: Instant) -> Result<(), f64> {
        let p = self.probability_at(now);
        if p > 0.0 && self.rng.next_f64() < p {
            self.history.add(now, [1, 0]);
            Err(p)
        } else {
            Ok(())
        }
    }

    /// Counts a finished request, in the bucket of its start.
    #[inline]
    pub(crate) fn finished(&self, started: Instant, accepted: bool) {
        self.history.add(started, [1, u64::from(accepted)]);
    }
}

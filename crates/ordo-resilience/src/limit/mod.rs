//! Adaptive concurrency limit: find how many calls a dependency can take at
//! once from the latency and drops it shows, and reject the excess.
//!
//! # Why
//!
//! A fixed [bulkhead](crate::bulkhead) needs a number, and the right number
//! changes with every deploy, instance size and traffic mix. Netflix's
//! concurrency-limits applies TCP congestion control to calls instead: the
//! limit grows while latency stays flat and shrinks when calls queue up or
//! drop, so a dependency is kept near its best throughput and latency
//! without tuning. Calls over the limit fail at once with
//! [`LimitExceeded`], which a fallback or a caller's retry elsewhere can
//! handle.
//!
//! # Algorithms
//!
//! [`Aimd`] (loss-based), [`Vegas`] (delay-based, queue estimate) and
//! [`Gradient2`] (delay-based, long-term average), with Netflix's defaults,
//! each documented with its table. Their known failure modes are fixed by
//! options that are on by default:
//!
//! - Vegas ramps up slowly without a slow start: [`Vegas::slow_start`].
//! - Gradient2 drifts upward under moderate overload:
//!   [`Gradient2::drift_guard`]; and it ignores drops:
//!   [`Gradient2::respect_drops`].
//! - Cancelled calls must not count as drops: a call dropped before it
//!   finishes (a client gave up, a hedge won) frees its slot without a
//!   sample, unless [`ConcurrencyLimitBuilder::cancellation_is_drop`] says
//!   otherwise.
//!
//! # What counts as a drop
//!
//! A result the [classifier](crate::classify::Classify) calls a failure
//! (errors, timeouts, HTTP 5xx with [`HttpClassifier`](crate::classify::HttpClassifier)).
//! Ignored results (other policies' local rejections) free their slot
//! without a sample, as Netflix's `onIgnore` does, so that an artificially
//! short latency does not inflate the limit.
//!
//! # Example
//!
//! ```
//! use ordo_resilience::limit::{ConcurrencyLimitLayer, Gradient2};
//! let layer = ConcurrencyLimitLayer::builder()
//!     .algorithm(Gradient2::new(20, 5, 500))
//!     .build()
//!     .unwrap();
//! assert_eq!(layer.limit(), 20);
//! ```

mod aimd;
mod error;
mod future;
mod gradient2;
mod layer;
mod limiter;
mod permit;
mod service;
mod vegas;

use std::time::Duration;

pub use aimd::Aimd;
pub use error::LimitExceeded;
pub use future::ResponseFuture;
pub use gradient2::Gradient2;
pub use layer::{ConcurrencyLimitBuilder, ConcurrencyLimitLayer};
pub use permit::{ConcurrencyLimiter, LimitPermit};
pub use service::ConcurrencyLimitService;
pub use vegas::Vegas;

use crate::error::ConfigError;

/// One finished call, as a limit algorithm sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// How long the call took.
    pub rtt: Duration,
    /// Calls in flight when it started, itself included.
    pub in_flight: u32,
    /// Whether it was dropped (failed in a way that signals overload).
    pub dropped: bool,
}

/// Computes a concurrency limit from samples.
///
/// The limiter calls `update` once per finished call, under a lock held
/// only for the call; implementations keep whatever state they need.
pub trait LimitAlgorithm: Send + 'static {
    /// The limit before any sample.
    fn initial_limit(&self) -> u32;

    /// Takes one sample and returns the new limit.
    fn update(&mut self, sample: &Sample) -> u32;
}

fn check_bounds(e: &mut ConfigError, initial: u32, min: u32, max: u32) {
    e.check(min >= 1, "min_limit", || "must be at least 1".to_owned());
    e.check(max >= min, "max_limit", || {
        format!("{max} is below min_limit {min}")
    });
    e.check((min..=max).contains(&initial), "initial_limit", || {
        format!("{initial} is outside [{min}, {max}]")
    });
}

/// Settings of a limit, for configuration files: which algorithm, with its
/// settings.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitConfig {
    /// AIMD.
    Aimd(Aimd),
    /// Gradient2.
    Gradient2(Gradient2),
    /// Vegas; its random source is not compared.
    Vegas {
        /// The limit before any sample.
        initial_limit: u32,
        /// The largest limit.
        max_limit: u32,
        /// Ordo's slow start.
        slow_start: bool,
    },
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig::Gradient2(Gradient2::default())
    }
}

impl LimitConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("concurrency_limit");
        match self {
            LimitConfig::Aimd(a) => a.problems(&mut e),
            LimitConfig::Gradient2(g) => g.problems(&mut e),
            LimitConfig::Vegas {
                initial_limit,
                max_limit,
                ..
            } => Vegas::new(*initial_limit, *max_limit).problems(&mut e),
        }
        e.into_result(())
    }

    pub(crate) fn into_algorithm(self) -> Box<dyn LimitAlgorithm> {
        match self {
            LimitConfig::Aimd(a) => Box::new(a),
            LimitConfig::Gradient2(g) => Box::new(g),
            LimitConfig::Vegas {
                initial_limit,
                max_limit,
                slow_start,
            } => {
                let mut v = Vegas::new(initial_limit, max_limit);
                v.slow_start = slow_start;
                Box::new(v)
            }
        }
    }
}

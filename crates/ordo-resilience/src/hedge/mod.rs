//! Hedging: when a call is slower than usual, send the same request again
//! and take whichever answer comes first.
//!
//! # Why
//!
//! Tail latency is mostly bad luck: a garbage collection, a busy neighbour,
//! a cold cache on one replica. A second attempt made after, say, the 95th
//! percentile latency is very likely to land somewhere luckier, so hedging
//! cuts the tail for a few percent of extra load ("The Tail at Scale", Dean
//! and Barroso). The extra load is bounded by a budget, the same kind as
//! retry's, and can be the very same budget (see
//! [`HedgeBuilder::shared_budget`]), so that retries and hedges together
//! never add more than the budget allows.
//!
//! # How
//!
//! The call starts one attempt. If it has not finished after the hedge
//! delay (fixed, or a percentile of recent latencies), and the budget
//! allows, another attempt starts, up to `max_hedged_attempts` extra ones,
//! one delay apart. The first success is returned and every other attempt
//! is dropped, which cancels it. A failure while others still run is held
//! back in case one of them succeeds; when none is left, the last failure
//! is returned. A call that fails before any hedge was sent fails at once:
//! trying again after a failure is retry's job.
//!
//! Like retry, hedging only sends again requests that are idempotent (see
//! [`crate::retry::replay`]).
//!
//! # Defaults
//!
//! | setting | default | Polly |
//! |---|---|---|
//! | delay | the 95th percentile of the last 512 latencies (1 s until 100 are known) | 2 s |
//! | `max_hedged_attempts` | 1 | 1 |
//! | budget | 20 % + 10/s over 10 s, or one shared with retry | none |
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use ordo_resilience::{hedge::HedgeLayer, retry::{RetryBudget, RetryLayer}};
//! let budget = RetryBudget::default();
//! let retry = RetryLayer::builder().budget(budget.clone()).build().unwrap();
//! let hedge = HedgeLayer::builder()
//!     .fixed_delay(Duration::from_millis(50))
//!     .shared_budget(budget)
//!     .build()
//!     .unwrap();
//! # let _ = (retry, hedge);
//! ```

mod future;
mod latency;
mod layer;
mod service;

use std::time::Duration;

pub use future::ResponseFuture;
pub use layer::{HedgeBuilder, HedgeLayer};
pub use service::HedgeService;

use crate::error::ConfigError;
use crate::retry::RetryBudgetConfig;

/// When to send a hedge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeDelay {
    /// After a fixed time.
    Fixed(Duration),
    /// After the given percentile of recent latencies; `fallback` until
    /// `min_samples` latencies are known.
    Percentile {
        /// In (0, 1), for example 0.95.
        percentile: f64,
        /// Latencies needed before the percentile is used (1 to 512).
        min_samples: u32,
        /// The delay until then.
        fallback: Duration,
    },
}

/// Hedging settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeConfig {
    /// When to send each hedge.
    pub delay: HedgeDelay,
    /// Extra attempts at most (1 to 10).
    pub max_hedged_attempts: u32,
    /// The budget hedges draw from; `None` for no budget (not advised).
    pub budget: Option<RetryBudgetConfig>,
    /// Hedge requests that are not idempotent too.
    pub hedge_non_idempotent: bool,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        HedgeConfig {
            delay: HedgeDelay::Percentile {
                percentile: 0.95,
                min_samples: 100,
                fallback: Duration::from_secs(1),
            },
            max_hedged_attempts: 1,
            budget: Some(RetryBudgetConfig::default()),
            hedge_non_idempotent: false,
        }
    }
}

impl HedgeConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("hedge");
        e.check(
            (1..=10).contains(&self.max_hedged_attempts),
            "max_hedged_attempts",
            || format!("must be 1 to 10, got {}", self.max_hedged_attempts),
        );
        if let HedgeDelay::Percentile {
            percentile,
            min_samples,
            ..
        } = self.delay
        {
            e.check(
                percentile > 0.0 && percentile < 1.0,
                "delay.percentile",
                || format!("must be in (0, 1), got {percentile}"),
            );
            e.check(
                (1..=512).contains(&min_samples),
                "delay.min_samples",
                || format!("must be 1 to 512, got {min_samples}"),
            );
        }
        if let Some(b) = &self.budget {
            b.problems(&mut e, ["budget.ratio", "budget.ttl"]);
        }
        e.into_result(())
    }
}

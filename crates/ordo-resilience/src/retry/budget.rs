//! Retry budgets: retries may add at most a share of recent traffic.
//!
//! # Why budgets and not max retries?
//!
//! "Retry up to 3 times" sounds safe, but when a dependency is overloaded
//! every caller retries every call, and 3 retries quadruple its load at the
//! moment it can least take it: a retry storm. A budget bounds the *extra*
//! load instead: over the last `ttl`, retries may number at most `ratio` of
//! the calls made, or `min_per_second` per second if that is more, so that a
//! quiet service can still retry. When a dependency fails hard, retries stop
//! being sent once the budget is spent; when it fails occasionally, every
//! failure is retried. These are the defaults of Finagle, linkerd and tower.
//!
//! # The floor is a floor, not a bonus
//!
//! Finagle and tower *add* the per-second reserve to the share, so a budget
//! of 20 % lets a service at 500 calls per second send 22 % extra load
//! (10 / 500 on top). ordo takes the larger of the two, as Envoy's retry
//! budget does (`max(budget_percent × active, min_retry_concurrency)`):
//! above `min_per_second / ratio` calls per second the ratio is a hard cap,
//! and below it the floor still lets quiet services retry.
//!
//! One budget can be shared by several layers (a retry and a hedge, or the
//! retries to every endpoint of a cluster); cloning a [`RetryBudget`]
//! shares it.
//!
//! # Defaults
//!
//! | setting | default | Finagle / linkerd / tower |
//! |---|---|---|
//! | `ratio` | 0.2 (20 %) | 0.2 |
//! | `min_per_second` | 10 | 10 |
//! | `ttl` | 10 s | 10 s |

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ConfigError;
use crate::window::Buckets;

const BUCKETS: u32 = 10;

/// A budget of retries shared across calls; see the module docs.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // [calls deposited, retries withdrawn]
    window: Buckets<2>,
    ratio: f64,
    reserve: f64,
    config: RetryBudgetConfig,
}

/// Retry budget settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetConfig {
    /// Retries may add at most this share of calls (0 to 1000).
    pub ratio: f64,
    /// Retries allowed per second however little traffic there is: the
    /// budget over the last `ttl` is the larger of this times `ttl` and
    /// `ratio` of the calls (not their sum).
    pub min_per_second: u32,
    /// How long a call or a retry counts (1 s to 60 s).
    pub ttl: Duration,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 10,
            ttl: Duration::from_secs(10),
        }
    }
}

impl RetryBudgetConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = ConfigError::new("retry_budget");
        self.problems(&mut e, ["ratio", "ttl"]);
        e.into_result(())
    }

    /// Adds this budget's problems to `e`, under the given field names
    /// (a policy that embeds a budget names them `budget.ratio`, ...).
    pub(crate) fn problems(&self, e: &mut ConfigError, [ratio, ttl]: [&'static str; 2]) {
        e.check(
            self.ratio.is_finite() && (0.0..=1000.0).contains(&self.ratio),
            ratio,
            || format!("must be 0 to 1000, got {}", self.ratio),
        );
        e.check(
            (Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.ttl),
            ttl,
            || format!("must be 1s to 60s, got {:?}", self.ttl),
        );
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(RetryBudgetConfig::default()).expect("the defaults are valid")
    }
}

impl RetryBudget {
    /// A budget with these settings.
    pub fn new(config: RetryBudgetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(RetryBudget {
            inner: Arc::new(Inner {
                window: Buckets::new(Instant::now(), config.ttl / BUCKETS, BUCKETS),
                ratio: config.ratio,
                reserve: f64::from(config.min_per_second) * config.ttl.as_secs_f64(),
                config,
            }),
        })
    }

    /// The settings.
    pub fn config(&self) -> RetryBudgetConfig {
        self.inner.config
    }

    /// Counts one call (not a retry).
    #[inline]
    pub fn deposit(&self) {
        self.deposit_at(Instant::now());
    }

    /// Counts one call made at `now`, for a caller that has just read the
    /// clock (saves reading it again).
    #[inline]
    pub fn deposit_at(&self, now: Instant) {
        self.inner.window.add(now, [1, 0]);
    }

    /// Takes one retry from the budget if it has one.
    pub fn try_withdraw(&self) -> bool {
        let now = Instant::now();
        if self.balance_at(now) < 1.0 {
            return false;
        }
        self.inner.window.add(now, [0, 1]);
        true
    }

    /// Retries the budget could pay for now.
    pub fn balance(&self) -> f64 {
        self.balance_at(Instant::now())
    }

    fn balance_at(&self, now: Instant) -> f64 {
        let [calls, retries] = self.inner.window.sum(now);
        let allowed = (calls as f64 * self.inner.ratio).max(self.inner.reserve);
        allowed - retries as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reserve_allows_min_per_second_over_the_ttl() {
        let b = RetryBudget::new(RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 1,
            ttl: Duration::from_secs(10),
        })
        .unwrap();
        let allowed = (0..20).filter(|_| b.try_withdraw()).count();
        assert_eq!(allowed, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_is_not_added_to_the_share() {
        let b = RetryBudget::new(RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 1,
            ttl: Duration::from_secs(10),
        })
        .unwrap();
        // 1,000 calls buy 200 retries; the floor (10) adds nothing to them.
        for _ in 0..1000 {
            b.deposit();
        }
        assert_eq!((0..1000).filter(|_| b.try_withdraw()).count(), 200);
        // 20 calls would buy 4: the floor of 10 is the larger.
        let quiet = RetryBudget::new(b.config()).unwrap();
        for _ in 0..20 {
            quiet.deposit();
        }
        assert_eq!((0..100).filter(|_| quiet.try_withdraw()).count(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_buy_a_share_of_retries_and_expire() {
        let b = RetryBudget::new(RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 0,
            ttl: Duration::from_secs(10),
        })
        .unwrap();
        assert!(!b.try_withdraw());
        for _ in 0..100 {
            b.deposit();
        }
        let allowed = (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(allowed, 20);
        tokio::time::advance(Duration::from_secs(11)).await;
        // Calls and retries both left the window.
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!((0..100).filter(|_| b.try_withdraw()).count(), 2);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = RetryBudget::new(RetryBudgetConfig {
            ratio: -1.0,
            min_per_second: 0,
            ttl: Duration::from_secs(0),
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("retry_budget.ratio"), "{text}");
        assert!(text.contains("retry_budget.ttl"), "{text}");
    }
}

//! The retry layer and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::replay::ByRequest;
use super::{Backoff, RetryBudget, RetryConfig, RetryService};
use crate::classify::DefaultClassifier;
use crate::error::ConfigError;
use crate::rng::Rng;
use crate::telemetry::Telemetry;

/// What every call of a retry layer shares.
#[derive(Debug)]
pub(crate) struct Shared<C, P> {
    pub(crate) config: RetryConfig,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) classifier: C,
    pub(crate) replay: P,
    pub(crate) rng: Rng,
    pub(crate) telemetry: Telemetry,
}

/// Retries failed calls; see [the module docs](super).
#[derive(Debug)]
pub struct RetryLayer<C = DefaultClassifier, P = ByRequest> {
    shared: Option<Arc<Shared<C, P>>>,
}

impl<C, P> Clone for RetryLayer<C, P> {
    fn clone(&self) -> Self {
        RetryLayer {
            shared: self.shared.clone(),
        }
    }
}

impl RetryLayer {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryBuilder<DefaultClassifier, ByRequest> {
        RetryBuilder {
            config: RetryConfig::default(),
            budget: None,
            classifier: DefaultClassifier,
            replay: ByRequest,
            rng: None,
            telemetry: Telemetry::new("retry"),
        }
    }

    /// A layer with these settings.
    pub fn new(config: RetryConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }
}

impl<C, P> RetryLayer<C, P> {
    /// The budget this layer draws from, to share it with another layer.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.shared.as_ref().and_then(|s| s.budget.as_ref())
    }

    /// A layer whose services pass calls through (a stack's absent retry).
    pub(crate) fn off() -> Self {
        RetryLayer { shared: None }
    }
}

impl<S, C, P> Layer<S> for RetryLayer<C, P> {
    type Service = RetryService<S, C, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService::new(inner, self.shared.clone())
    }
}

/// Builds a [`RetryLayer`].
#[derive(Debug)]
pub struct RetryBuilder<C, P> {
    config: RetryConfig,
    budget: Option<RetryBudget>,
    classifier: C,
    replay: P,
    rng: Option<Rng>,
    telemetry: Telemetry,
}

impl<C, P> RetryBuilder<C, P> {
    /// Replaces every setting.
    pub fn config(mut self, config: RetryConfig) -> Self {
        self.config = config;
        self
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts;
        self
    }

    /// Delays between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Draw from `budget`, shared with whoever else holds it.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Retry without a budget (not advised: see [`RetryBudget`]).
    pub fn no_budget(mut self) -> Self {
        self.budget = None;
        self.config.budget = None;
        self
    }

    /// Retry requests that are not idempotent too.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.config.retry_non_idempotent = retry;
        self
    }

    /// Honour `Retry-After`, up to `max`.
    pub fn retry_after(mut self, honor: bool, max: Duration) -> Self {
        self.config.honor_retry_after = honor;
        self.config.max_retry_after = max;
        self
    }

    /// Decide what to retry with `classifier`.
    pub fn classifier<C2>(self, classifier: C2) -> RetryBuilder<C2, P> {
        RetryBuilder {
            config: self.config,
            budget: self.budget,
            classifier,
            replay: self.replay,
            rng: self.rng,
            telemetry: self.telemetry,
        }
    }

    /// Copy requests and judge idempotency with `replay`.
    pub fn replay<P2>(self, replay: P2) -> RetryBuilder<C, P2> {
        RetryBuilder {
            config: self.config,
            budget: self.budget,
            classifier: self.classifier,
            replay,
            rng: self.rng,
            telemetry: self.telemetry,
        }
    }

    /// Draw jitter from `rng` (seed it for reproducible tests).
    pub fn rng(mut self, rng: Rng) -> Self {
        self.rng = Some(rng);
        self
    }

    /// Where to report events and metrics.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Validates the settings and builds the layer.
    pub fn build(self) -> Result<RetryLayer<C, P>, ConfigError> {
        self.config.validate()?;
        let budget = match (self.budget, &self.config.budget) {
            (Some(shared), _) => Some(shared),
            (None, Some(config)) => Some(RetryBudget::new(*config)?),
            (None, None) => None,
        };
        Ok(RetryLayer {
            shared: Some(Arc::new(Shared {
                config: self.config,
                budget,
                classifier: self.classifier,
                replay: self.replay,
                rng: self.rng.unwrap_or_default(),
                telemetry: self.telemetry,
            })),
        })
    }
}

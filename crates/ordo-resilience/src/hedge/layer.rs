//! The hedge layer and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::latency::LatencyTracker;
use super::{HedgeConfig, HedgeDelay, HedgeService};
use crate::classify::DefaultClassifier;
use crate::error::ConfigError;
use crate::retry::{ByRequest, RetryBudget};
use crate::telemetry::Telemetry;

/// What every call of a hedge layer shares.
#[derive(Debug)]
pub(crate) struct Shared<C, P> {
    pub(crate) config: HedgeConfig,
    pub(crate) budget: Option<RetryBudget>,
    /// Whether calls deposit in the budget (not when another layer does).
    pub(crate) deposits: bool,
    pub(crate) latencies: Option<LatencyTracker>,
    pub(crate) classifier: C,
    pub(crate) replay: P,
    pub(crate) telemetry: Telemetry,
}

impl<C, P> Shared<C, P> {
    /// The delay before the next hedge.
    pub(crate) fn delay(&self) -> Duration {
        match self.config.delay {
            HedgeDelay::Fixed(d) => d,
            HedgeDelay::Percentile { fallback, .. } => self
                .latencies
                .as_ref()
                .and_then(LatencyTracker::current)
                .unwrap_or(fallback),
        }
    }
}

/// Hedges slow calls; see [the module docs](super).
#[derive(Debug)]
pub struct HedgeLayer<C = DefaultClassifier, P = ByRequest> {
    shared: Option<Arc<Shared<C, P>>>,
}

impl<C, P> Clone for HedgeLayer<C, P> {
    fn clone(&self) -> Self {
        HedgeLayer {
            shared: self.shared.clone(),
        }
    }
}

impl HedgeLayer {
    /// A builder starting from the defaults.
    pub fn builder() -> HedgeBuilder<DefaultClassifier, ByRequest> {
        HedgeBuilder {
            config: HedgeConfig::default(),
            shared_budget: None,
            classifier: DefaultClassifier,
            replay: ByRequest,
            telemetry: Telemetry::new("hedge"),
        }
    }

    /// A layer with these settings.
    pub fn new(config: HedgeConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }
}

impl<C, P> HedgeLayer<C, P> {
    /// The delay the next call would hedge after.
    pub fn current_delay(&self) -> Duration {
        self.shared
            .as_ref()
            .expect("only a stack builds a layer without a policy, and never shows it")
            .delay()
    }

    /// A layer whose services pass calls through (a stack's absent hedge).
    pub(crate) fn off() -> Self {
        HedgeLayer { shared: None }
    }
}

impl<S, C, P> Layer<S> for HedgeLayer<C, P> {
    type Service = HedgeService<S, C, P>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService::new(inner, self.shared.clone())
    }
}

/// Builds a [`HedgeLayer`].
#[derive(Debug)]
pub struct HedgeBuilder<C, P> {
    config: HedgeConfig,
    shared_budget: Option<RetryBudget>,
    classifier: C,
    replay: P,
    telemetry: Telemetry,
}

impl<C, P> HedgeBuilder<C, P> {
    /// Replaces every setting.
    pub fn config(mut self, config: HedgeConfig) -> Self {
        self.config = config;
        self
    }

    /// Hedge after a fixed delay.
    pub fn fixed_delay(mut self, delay: Duration) -> Self {
        self.config.delay = HedgeDelay::Fixed(delay);
        self
    }

    /// Hedge after `percentile` of recent latencies (`fallback` until
    /// `min_samples` are known).
    pub fn percentile_delay(
        mut self,
        percentile: f64,
        min_samples: u32,
        fallback: Duration,
    ) -> Self {
        self.config.delay = HedgeDelay::Percentile {
            percentile,
            min_samples,
            fallback,
        };
        self
    }

    /// Extra attempts at most.
    pub fn max_hedged_attempts(mut self, n: u32) -> Self {
        self.config.max_hedged_attempts = n;
        self
    }

    /// Draw hedges from `budget`, which another layer (a retry) fills: this
    /// layer only withdraws from it, so that each call is counted once.
    pub fn shared_budget(mut self, budget: RetryBudget) -> Self {
        self.shared_budget = Some(budget);
        self
    }

    /// Hedge without a budget (not advised).
    pub fn no_budget(mut self) -> Self {
        self.shared_budget = None;
        self.config.budget = None;
        self
    }

    /// Hedge requests that are not idempotent too.
    pub fn hedge_non_idempotent(mut self, yes: bool) -> Self {
        self.config.hedge_non_idempotent = yes;
        self
    }

    /// Decide which attempts succeeded with `classifier`.
    pub fn classifier<C2>(self, classifier: C2) -> HedgeBuilder<C2, P> {
        HedgeBuilder {
            config: self.config,
            shared_budget: self.shared_budget,
            classifier,
            replay: self.replay,
            telemetry: self.telemetry,
        }
    }

    /// Copy requests and judge idempotency with `replay`.
    pub fn replay<P2>(self, replay: P2) -> HedgeBuilder<C, P2> {
        HedgeBuilder {
            config: self.config,
            shared_budget: self.shared_budget,
            classifier: self.classifier,
            replay,
            telemetry: self.telemetry,
        }
    }

    /// Where to report events and metrics.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Validates the settings and builds the layer.
    pub fn build(self) -> Result<HedgeLayer<C, P>, ConfigError> {
        self.config.validate()?;
        let (budget, deposits) = match (self.shared_budget, &self.config.budget) {
            (Some(shared), _) => (Some(shared), false),
            (None, Some(config)) => (Some(RetryBudget::new(*config)?), true),
            (None, None) => (None, false),
        };
        let latencies = match self.config.delay {
            HedgeDelay::Percentile {
                percentile,
                min_samples,
                ..
            } => Some(LatencyTracker::new(percentile, min_samples)),
            HedgeDelay::Fixed(_) => None,
        };
        Ok(HedgeLayer {
            shared: Some(Arc::new(Shared {
                config: self.config,
                budget,
                deposits,
                latencies,
                classifier: self.classifier,
                replay: self.replay,
                telemetry: self.telemetry,
            })),
        })
    }
}

//! The throttle layer and its builder.

use std::sync::Arc;

use tokio::time::Instant;
use tower_layer::Layer;

use super::{Throttle, ThrottleConfig, ThrottleService};
use crate::classify::DefaultClassifier;
use crate::error::ConfigError;
use crate::rng::Rng;
use crate::telemetry::Telemetry;

/// Throttles calls locally while the dependency refuses them; every service
/// the layer makes shares one history.
#[derive(Debug, Clone)]
pub struct ThrottleLayer<C = DefaultClassifier> {
    throttle: Option<Arc<Throttle>>,
    classifier: C,
}

impl ThrottleLayer {
    /// A builder starting from the defaults.
    pub fn builder() -> ThrottleBuilder<DefaultClassifier> {
        ThrottleBuilder {
            config: ThrottleConfig::default(),
            classifier: DefaultClassifier,
            rng: None,
            telemetry: Telemetry::new("throttle"),
        }
    }

    /// A layer with these settings.
    pub fn new(config: ThrottleConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }
}

impl<C> ThrottleLayer<C> {
    /// The probability that the next call is dropped locally.
    pub fn probability(&self) -> f64 {
        self.throttle
            .as_ref()
            .map_or(0.0, |t| t.probability_at(Instant::now()))
    }

    /// A layer whose services pass calls through (a stack's absent throttle).
    pub(crate) fn off(classifier: C) -> Self {
        ThrottleLayer {
            throttle: None,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for ThrottleLayer<C> {
    type Service = ThrottleService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        ThrottleService::new(inner, self.throttle.clone(), self.classifier.clone())
    }
}

/// Builds a [`ThrottleLayer`].
#[derive(Debug)]
pub struct ThrottleBuilder<C> {
    config: ThrottleConfig,
    classifier: C,
    rng: Option<Rng>,
    telemetry: Telemetry,
}

impl<C> ThrottleBuilder<C> {
    /// Replaces every setting.
    pub fn config(mut self, config: ThrottleConfig) -> Self {
        self.config = config;
        self
    }

    /// The multiplier K.
    pub fn k(mut self, k: f64) -> Self {
        self.config.k = k;
        self
    }

    /// Decide accepts with `classifier`.
    pub fn classifier<C2>(self, classifier: C2) -> ThrottleBuilder<C2> {
        ThrottleBuilder {
            config: self.config,
            classifier,
            rng: self.rng,
            telemetry: self.telemetry,
        }
    }

    /// Draw decisions from `rng` (seed it for reproducible tests).
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
    pub fn build(self) -> Result<ThrottleLayer<C>, ConfigError> {
        self.config.validate()?;
        Ok(ThrottleLayer {
            throttle: Some(Throttle::new(
                self.config,
                self.rng.unwrap_or_default(),
                self.telemetry,
            )),
            classifier: self.classifier,
        })
    }
}

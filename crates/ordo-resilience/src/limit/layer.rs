//! The concurrency limit layer and its builder.

use std::sync::Arc;

use tower_layer::Layer;

use super::limiter::Limiter;
use super::{ConcurrencyLimitService, Gradient2, LimitAlgorithm, LimitConfig};
use crate::classify::DefaultClassifier;
use crate::error::ConfigError;
use crate::telemetry::Telemetry;

/// Limits calls in flight to an adaptive limit shared by every service the
/// layer makes.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer<C = DefaultClassifier> {
    limiter: Option<Arc<Limiter>>,
    classifier: C,
}

impl ConcurrencyLimitLayer {
    /// A builder with Gradient2 and its defaults.
    pub fn builder() -> ConcurrencyLimitBuilder<DefaultClassifier> {
        ConcurrencyLimitBuilder {
            algorithm: Ok(Box::new(Gradient2::default())),
            cancellation_is_drop: false,
            classifier: DefaultClassifier,
            telemetry: Telemetry::new("concurrency-limit"),
        }
    }

    /// A layer from configuration.
    pub fn new(config: LimitConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }
}

impl<C> ConcurrencyLimitLayer<C> {
    /// The current limit (`u32::MAX` for a layer that limits nothing).
    pub fn limit(&self) -> u32 {
        self.limiter.as_ref().map_or(u32::MAX, |l| l.limit())
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u32 {
        self.limiter.as_ref().map_or(0, |l| l.in_flight())
    }

    /// The limiter itself, to take permits without a service (`None` for a
    /// layer that limits nothing).
    pub fn limiter(&self) -> Option<super::ConcurrencyLimiter> {
        self.limiter.clone().map(super::ConcurrencyLimiter::new)
    }

    /// A layer whose services pass calls through (a stack's absent limit).
    pub(crate) fn off(classifier: C) -> Self {
        ConcurrencyLimitLayer {
            limiter: None,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for ConcurrencyLimitLayer<C> {
    type Service = ConcurrencyLimitService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimitService::new(inner, self.limiter.clone(), self.classifier.clone())
    }
}

/// Builds a [`ConcurrencyLimitLayer`].
pub struct ConcurrencyLimitBuilder<C> {
    algorithm: Result<Box<dyn LimitAlgorithm>, ConfigError>,
    cancellation_is_drop: bool,
    classifier: C,
    telemetry: Telemetry,
}

impl<C> std::fmt::Debug for ConcurrencyLimitBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrencyLimitBuilder")
            .field("cancellation_is_drop", &self.cancellation_is_drop)
            .finish()
    }
}

impl<C> ConcurrencyLimitBuilder<C> {
    /// The algorithm, from configuration (validated at build).
    pub fn config(mut self, config: LimitConfig) -> Self {
        self.algorithm = config.validate().map(|()| config.into_algorithm());
        self
    }

    /// Use this algorithm (one of ordo's, or your own).
    pub fn algorithm(mut self, algorithm: impl LimitAlgorithm) -> Self {
        self.algorithm = Ok(Box::new(algorithm));
        self
    }

    /// Count a call dropped before it finished as a drop (off by default:
    /// a cancelled call says nothing about the dependency's capacity).
    pub fn cancellation_is_drop(mut self, yes: bool) -> Self {
        self.cancellation_is_drop = yes;
        self
    }

    /// Decide drops with `classifier`.
    pub fn classifier<C2>(self, classifier: C2) -> ConcurrencyLimitBuilder<C2> {
        ConcurrencyLimitBuilder {
            algorithm: self.algorithm,
            cancellation_is_drop: self.cancellation_is_drop,
            classifier,
            telemetry: self.telemetry,
        }
    }

    /// Where to report events and metrics.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> Result<ConcurrencyLimitLayer<C>, ConfigError> {
        let algorithm = self.algorithm?;
        Ok(ConcurrencyLimitLayer {
            limiter: Some(Arc::new(Limiter::new(
                algorithm,
                self.cancellation_is_drop,
                self.telemetry,
            ))),
            classifier: self.classifier,
        })
    }
}

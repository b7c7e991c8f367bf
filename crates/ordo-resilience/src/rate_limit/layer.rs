//! The rate limit layer and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::gcra::Gcra;
use super::{RateLimitConfig, RateLimitService};
use crate::error::ConfigError;
use crate::telemetry::Telemetry;

/// Limits the rate of calls; every service the layer makes shares the rate.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    gcra: Option<Arc<Gcra>>,
}

impl RateLimitLayer {
    /// A builder starting from the defaults.
    pub fn builder() -> RateLimitBuilder {
        RateLimitBuilder {
            config: RateLimitConfig::default(),
            burst_set: false,
            telemetry: Telemetry::new("rate-limit"),
        }
    }

    /// A layer with these settings.
    pub fn new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }

    /// A layer whose services pass calls through (a stack's absent limit).
    pub(crate) fn off() -> Self {
        RateLimitLayer { gcra: None }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, self.gcra.clone())
    }
}

/// Builds a [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimitBuilder {
    config: RateLimitConfig,
    burst_set: bool,
    telemetry: Telemetry,
}

impl RateLimitBuilder {
    /// Replaces every setting.
    pub fn config(mut self, config: RateLimitConfig) -> Self {
        self.config = config;
        self.burst_set = true;
        self
    }

    /// `rate` calls per `period`; the burst follows the rate unless set.
    pub fn rate(mut self, rate: u32, period: Duration) -> Self {
        self.config.rate = rate;
        self.config.period = period;
        self
    }

    /// Calls allowed at once after a quiet time.
    pub fn burst(mut self, burst: u32) -> Self {
        self.config.burst = burst;
        self.burst_set = true;
        self
    }

    /// How long a call may wait for a permit.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.config.max_wait = wait;
        self
    }

    /// Where to report events and metrics.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Validates the settings and builds the layer.
    pub fn build(mut self) -> Result<RateLimitLayer, ConfigError> {
        if !self.burst_set {
            self.config.burst = self.config.rate;
        }
        self.config.validate()?;
        Ok(RateLimitLayer {
            gcra: Some(Arc::new(Gcra::new(&self.config, self.telemetry))),
        })
    }
}

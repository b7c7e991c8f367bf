//! The bulkhead layer and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::slots::Slots;
use super::{BulkheadConfig, BulkheadService};
use crate::error::ConfigError;
use crate::telemetry::Telemetry;

/// Wraps services in one shared bulkhead: every service the layer makes,
/// and their clones, share its slots.
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    slots: Option<Arc<Slots>>,
}

impl BulkheadLayer {
    /// A builder starting from the defaults.
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder {
            config: BulkheadConfig::default(),
            telemetry: Telemetry::new("bulkhead"),
        }
    }

    /// A layer with these settings.
    pub fn new(config: BulkheadConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }

    /// A layer whose services pass calls through (a stack's absent bulkhead).
    pub(crate) fn off() -> Self {
        BulkheadLayer { slots: None }
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u32 {
        self.slots.as_ref().map_or(0, |s| s.in_flight())
    }

    /// The bulkhead itself, to take permits without a service (`None` for a
    /// layer that limits nothing).
    pub fn bulkhead(&self) -> Option<super::Bulkhead> {
        self.slots.clone().map(super::Bulkhead::from_slots)
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.slots.clone())
    }
}

/// Builds a [`BulkheadLayer`].
#[derive(Debug, Clone)]
pub struct BulkheadBuilder {
    config: BulkheadConfig,
    telemetry: Telemetry,
}

impl BulkheadBuilder {
    /// Replaces every setting.
    pub fn config(mut self, config: BulkheadConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls allowed in flight at once.
    pub fn max_concurrent_calls(mut self, n: u32) -> Self {
        self.config.max_concurrent_calls = n;
        self
    }

    /// How long a caller may wait for a slot.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.config.max_wait = wait;
        self
    }

    /// How many callers may wait at once.
    pub fn max_waiting(mut self, n: u32) -> Self {
        self.config.max_waiting = n;
        self
    }

    /// Where to report events and metrics.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Validates the settings and builds the layer.
    pub fn build(self) -> Result<BulkheadLayer, ConfigError> {
        self.config.validate()?;
        Ok(BulkheadLayer {
            slots: Some(Arc::new(Slots::new(self.config, self.telemetry))),
        })
    }
}

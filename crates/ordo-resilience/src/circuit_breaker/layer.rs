//! The circuit breaker layer and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::config::{CircuitBreakerConfig, OpenWait, SlidingWindow, SlowCalls};
use super::{Circuit, CircuitBreaker, CircuitBreakerService};
use crate::classify::DefaultClassifier;
use crate::error::ConfigError;
use crate::telemetry::Telemetry;

/// Wraps services in one shared circuit. Every service the layer makes, and
/// every clone of them, trips and recovers together; build one layer per
/// circuit you want (per dependency, per endpoint).
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    circuit: Option<Arc<Circuit>>,
    classifier: C,
}

impl CircuitBreakerLayer<DefaultClassifier> {
    /// A builder starting from the defaults.
    pub fn builder() -> CircuitBreakerBuilder<DefaultClassifier> {
        CircuitBreakerBuilder {
            config: CircuitBreakerConfig::default(),
            classifier: DefaultClassifier,
            telemetry: Telemetry::new("circuit-breaker"),
        }
    }

    /// A layer with these settings and the default classifier.
    pub fn new(config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// The handle on this layer's circuit.
    pub fn breaker(&self) -> CircuitBreaker {
        CircuitBreaker::from_circuit(
            self.circuit
                .clone()
                .expect("only a stack builds a layer without a policy, and never shows it"),
        )
    }

    /// A layer whose services pass calls through (a stack's absent breaker).
    pub(crate) fn off(classifier: C) -> Self {
        CircuitBreakerLayer {
            circuit: None,
            classifier,
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.circuit.is_some()
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.circuit.clone(), self.classifier.clone())
    }
}

/// Builds a [`CircuitBreakerLayer`]; every setting starts at its default.
#[derive(Debug, Clone)]
pub struct CircuitBreakerBuilder<C> {
    config: CircuitBreakerConfig,
    classifier: C,
    telemetry: Telemetry,
}

impl<C> CircuitBreakerBuilder<C> {
    /// Replaces every setting.
    pub fn config(mut self, config: CircuitBreakerConfig) -> Self {
        self.config = config;
        self
    }

    /// Judge the last `size` calls.
    pub fn count_window(mut self, size: u32) -> Self {
        self.config.window = SlidingWindow::Count { size };
        self
    }

    /// Judge the calls of the last `length`, in `buckets` buckets.
    pub fn time_window(mut self, length: Duration, buckets: u32) -> Self {
        self.config.window = SlidingWindow::Time { length, buckets };
        self
    }

    /// Open after `failures` failures in a row.
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.config.window = SlidingWindow::ConsecutiveFailures { failures };
        self
    }

    /// Calls the window must hold before rates are judged.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Failure percentage (0, 100] that opens the circuit.
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.config.failure_rate_threshold = percent;
        self
    }

    /// Count calls slower than `duration` as slow; open when `percent` of
    /// calls are slow.
    pub fn slow_calls(mut self, duration: Duration, percent: f64) -> Self {
        self.config.slow_calls = Some(SlowCalls {
            duration,
            rate_threshold: percent,
        });
        self
    }

    /// How long the circuit stays open.
    pub fn open_wait(mut self, wait: OpenWait) -> Self {
        self.config.open_wait = wait;
        self
    }

    /// Stay open for `wait` every time.
    pub fn open_wait_fixed(self, wait: Duration) -> Self {
        self.open_wait(OpenWait::fixed(wait))
    }

    /// Trial calls in the half-open probe stage.
    pub fn permitted_calls_in_half_open(mut self, calls: u32) -> Self {
        self.config.half_open.permitted_calls = calls;
        self
    }

    /// A probe running longer than this counts as failed.
    pub fn probe_deadline(mut self, deadline: Duration) -> Self {
        self.config.half_open.probe_deadline = deadline;
        self
    }

    /// After the probes, admit these shares of calls for `step` each before
    /// closing.
    pub fn ramp(mut self, shares: impl Into<Vec<f64>>, step: Duration) -> Self {
        self.config.half_open.ramp = shares.into();
        self.config.half_open.ramp_step = step;
        self
    }

    /// Close as soon as the probes pass (resilience4j's behaviour).
    pub fn no_ramp(mut self) -> Self {
        self.config.half_open.ramp.clear();
        self
    }

    /// Count other policies' local rejections as failures.
    pub fn count_rejections(mut self, count: bool) -> Self {
        self.config.count_rejections = count;
        self
    }

    /// Where to report events and metrics.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Decide outcomes with `classifier`.
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerBuilder<C2> {
        CircuitBreakerBuilder {
            config: self.config,
            classifier,
            telemetry: self.telemetry,
        }
    }

    /// Validates the settings and builds the layer.
    pub fn build(self) -> Result<CircuitBreakerLayer<C>, ConfigError> {
        self.config.validate()?;
        Ok(CircuitBreakerLayer {
            circuit: Some(Arc::new(Circuit::new(self.config, self.telemetry))),
            classifier: self.classifier,
        })
    }
}

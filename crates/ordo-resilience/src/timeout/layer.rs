//! The timeout layer.

use std::time::Duration;

use tower_layer::Layer;

use super::TimeoutService;
use crate::error::ConfigError;
use crate::telemetry::Telemetry;

/// Applies a timeout to every call.
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    timeout: Option<Duration>,
    telemetry: Telemetry,
}

impl TimeoutLayer {
    /// A timeout of `timeout`, reporting as "timeout".
    ///
    /// # Panics
    ///
    /// If `timeout` is zero (every call would fail); use
    /// [`TimeoutLayer::try_new`] for values from configuration.
    pub fn new(timeout: Duration) -> Self {
        Self::try_new(timeout, Telemetry::new("timeout")).expect("a timeout must be more than zero")
    }

    /// A timeout of `timeout`, reporting to `telemetry`.
    pub fn try_new(timeout: Duration, telemetry: Telemetry) -> Result<Self, ConfigError> {
        let mut e = ConfigError::new("timeout");
        e.check(!timeout.is_zero(), "timeout", || {
            "must be more than zero".to_owned()
        });
        e.into_result(TimeoutLayer {
            timeout: Some(timeout),
            telemetry,
        })
    }

    /// A layer whose services pass calls through untimed (a stack's
    /// absent timeout).
    pub(crate) fn off() -> Self {
        TimeoutLayer {
            timeout: None,
            telemetry: Telemetry::default(),
        }
    }

    /// The timeout (`None` for a layer that passes calls through).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, self.timeout, self.telemetry.clone())
    }
}

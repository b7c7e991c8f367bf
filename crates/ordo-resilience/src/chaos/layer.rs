//! The chaos layer and its settings.

use std::fmt;
use std::sync::Arc;

use ordo_fault::{Delay, Percent};
use tower_layer::Layer;

use super::{ChaosService, ChaosSwitch};
use crate::Rng;

type Make<T, E> = dyn Fn() -> Result<T, E> + Send + Sync;

/// What a chaos layer injects, shared by its services.
pub(crate) struct Settings<T, E> {
    pub(crate) rate: f64,
    pub(crate) switch: ChaosSwitch,
    pub(crate) scenario: Option<Box<str>>,
    pub(crate) latency: Option<Delay>,
    pub(crate) outcome: Option<Arc<Make<T, E>>>,
    pub(crate) rng: Arc<Rng>,
}

impl<T, E> Settings<T, E> {
    /// Whether this call is injected: the switch is on, the call is in the
    /// scenario (if one is set), and the draw falls within the rate.
    pub(crate) fn roll(&self) -> bool {
        self.switch.is_on()
            && self.scenario.as_deref().is_none_or(crate::fit::in_scenario)
            && Percent::new(self.rate * 100.0).hit(self.rng.next_f64())
    }
}

impl<T, E> fmt::Debug for Settings<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("rate", &self.rate)
            .field("switch", &self.switch)
            .field("scenario", &self.scenario)
            .field("latency", &self.latency)
            .field("outcome", &self.outcome.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// Injects latency and outcomes into a share of calls; see the module
/// docs. `T` and `E` are the wrapped service's response and error types.
pub struct ChaosLayer<T, E> {
    settings: Settings<T, E>,
}

impl<T, E> fmt::Debug for ChaosLayer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("settings", &self.settings)
            .finish()
    }
}

impl<T, E> Clone for ChaosLayer<T, E> {
    fn clone(&self) -> Self {
        ChaosLayer {
            settings: Settings {
                rate: self.settings.rate,
                switch: self.settings.switch.clone(),
                scenario: self.settings.scenario.clone(),
                latency: self.settings.latency,
                outcome: self.settings.outcome.clone(),
                rng: self.settings.rng.clone(),
            },
        }
    }
}

impl<T, E> ChaosLayer<T, E> {
    fn with(latency: Option<Delay>, outcome: Option<Arc<Make<T, E>>>) -> Self {
        ChaosLayer {
            settings: Settings {
                rate: 0.1,
                switch: ChaosSwitch::on(),
                scenario: None,
                latency,
                outcome,
                rng: Arc::new(Rng::new()),
            },
        }
    }

    /// Delays a share of calls by `delay` before they run.
    pub fn latency(delay: Delay) -> Self {
        Self::with(Some(delay), None)
    }

    /// Fails a share of calls with the error `make` returns, without
    /// calling the service.
    pub fn error(make: impl Fn() -> E + Send + Sync + 'static) -> Self {
        Self::with(None, Some(Arc::new(move || Err(make()))))
    }

    /// Answers a share of calls with the result `make` returns (a
    /// made-up response, or an error), without calling the service.
    pub fn outcome(make: impl Fn() -> Result<T, E> + Send + Sync + 'static) -> Self {
        Self::with(None, Some(Arc::new(make)))
    }

    /// Also delays the injected calls by `delay` first.
    pub fn with_latency(mut self, delay: Delay) -> Self {
        self.settings.latency = Some(delay);
        self
    }

    /// The share of calls injected, 0 to 1 (clamped; default 0.1).
    pub fn rate(mut self, rate: f64) -> Self {
        self.settings.rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self
    }

    /// The switch that turns injection on and off (default: a switch of
    /// its own, on).
    pub fn switch(mut self, switch: ChaosSwitch) -> Self {
        self.settings.switch = switch;
        self
    }

    /// Injects only into calls made inside a FIT context carrying
    /// `scenario` (see [`crate::fit`]).
    pub fn scenario(mut self, scenario: impl Into<String>) -> Self {
        self.settings.scenario = Some(scenario.into().into_boxed_str());
        self
    }

    /// The random source (seed it for repeatable tests).
    pub fn rng(mut self, rng: Rng) -> Self {
        self.settings.rng = Arc::new(rng);
        self
    }
}

impl<S, T, E> Layer<S> for ChaosLayer<T, E> {
    type Service = ChaosService<S, T, E>;

    fn layer(&self, inner: S) -> ChaosService<S, T, E> {
        ChaosService::new(inner, Arc::new(self.clone().settings))
    }
}

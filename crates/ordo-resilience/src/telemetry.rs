//! The name, event listeners and metrics a policy reports to.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ErrorKind;
use crate::events::{Event, EventKind, Listener};
use crate::metrics::{Metrics, PolicyMetrics};

/// Where a policy reports: its name, its event listeners, and (optionally)
/// a metrics registry. Cloning is cheap; layers built from clones of one
/// `Telemetry` report under the same name.
///
/// ```
/// use ordo_resilience::{Metrics, Telemetry};
/// let mut registry = prometheus_client::registry::Registry::default();
/// let metrics = Metrics::new(&mut registry);
/// let telemetry = Telemetry::new("ratings")
///     .with_metrics(&metrics)
///     .on_event(|e: &ordo_resilience::Event| eprintln!("{:?}", e.kind));
/// # drop(telemetry);
/// ```
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    listeners: Vec<Arc<dyn Listener>>,
    metrics: Option<PolicyMetrics>,
}

impl Telemetry {
    /// A policy named `name`, reporting nowhere yet.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Telemetry {
            inner: Arc::new(Inner {
                name: name.into(),
                listeners: Vec::new(),
                metrics: None,
            }),
        }
    }

    /// Also reports events to `listener`.
    pub fn on_event(self, listener: impl Listener) -> Self {
        let mut inner = self.into_inner();
        inner.listeners.push(Arc::new(listener));
        Telemetry {
            inner: Arc::new(inner),
        }
    }

    /// Also counts calls and events in `metrics`, labelled with this name.
    pub fn with_metrics(self, metrics: &Metrics) -> Self {
        let mut inner = self.into_inner();
        inner.metrics = Some(metrics.for_policy(&inner.name));
        Telemetry {
            inner: Arc::new(inner),
        }
    }

    fn into_inner(self) -> Inner {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                name: shared.name.clone(),
                listeners: shared.listeners.clone(),
                metrics: shared.metrics.as_ref().map(|m| m.family_for(&shared.name)),
            },
        }
    }

    /// A clone for a response future to keep, or `None` when this
    /// telemetry reports nowhere (saving the future a reference count).
    #[inline]
    pub(crate) fn for_future(&self) -> Option<Telemetry> {
        (self.inner.metrics.is_some() || !self.inner.listeners.is_empty()).then(|| self.clone())
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Reports an event to the metrics and the listeners.
    #[inline]
    pub(crate) fn emit(&self, kind: EventKind) {
        if let Some(m) = &self.inner.metrics {
            m.record_event(&kind);
        }
        if !self.inner.listeners.is_empty() {
            self.notify(kind);
        }
    }

    #[cold]
    fn notify(&self, kind: EventKind) {
        let event = Event {
            policy: self.inner.name.clone(),
            at: Instant::now(),
            kind,
        };
        for l in &self.inner.listeners {
            l.on_event(&event);
        }
    }

    /// True when call durations are measured for metrics.
    #[inline]
    pub(crate) fn measures_calls(&self) -> bool {
        self.inner.metrics.is_some()
    }

    /// Counts a finished call.
    #[inline]
    pub(crate) fn record_call(&self, outcome: Result<(), ErrorKind>, elapsed: Option<Duration>) {
        if let Some(m) = &self.inner.metrics {
            m.record_call(outcome, elapsed);
        }
    }

    pub(crate) fn metrics(&self) -> Option<&PolicyMetrics> {
        self.inner.metrics.as_ref()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new("default")
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("name", &self.inner.name)
            .field("listeners", &self.inner.listeners.len())
            .field("metrics", &self.inner.metrics.is_some())
            .finish()
    }
}

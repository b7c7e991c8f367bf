//! The fallback layer and its configuration.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::{Cause, FallbackService, Trigger};
use crate::classify::DefaultClassifier;
use crate::telemetry::Telemetry;

/// A set of [`Cause`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Causes(u8);

impl Causes {
    /// Every cause.
    pub const ALL: Causes = Causes(0x7f);
    /// No cause.
    pub const NONE: Causes = Causes(0);

    /// This set and `cause`.
    pub const fn with(self, cause: Cause) -> Causes {
        Causes(self.0 | 1 << cause as u8)
    }

    /// This set without `cause`.
    pub const fn without(self, cause: Cause) -> Causes {
        Causes(self.0 & !(1 << cause as u8))
    }

    /// Whether `cause` is in the set.
    pub const fn contains(self, cause: Cause) -> bool {
        self.0 & (1 << cause as u8) != 0
    }
}

type Answer<T, E> = dyn Fn(Trigger<T, E>) -> Result<T, E> + Send + Sync;

/// The function a fallback runs, shared by every clone of the layer.
pub struct FallbackFn<T, E>(Arc<Answer<T, E>>);

impl<T, E> Clone for FallbackFn<T, E> {
    fn clone(&self) -> Self {
        FallbackFn(self.0.clone())
    }
}

impl<T, E> fmt::Debug for FallbackFn<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FallbackFn")
    }
}

impl<T, E> FallbackFn<T, E> {
    pub(crate) fn call(&self, trigger: Trigger<T, E>) -> Result<T, E> {
        (self.0)(trigger)
    }
}

/// Answers with a fallback when the wrapped call ends in a handled cause.
#[derive(Debug)]
pub struct FallbackLayer<T, E, C = DefaultClassifier> {
    pub(crate) fallback: FallbackFn<T, E>,
    pub(crate) causes: Causes,
    pub(crate) classifier: C,
    pub(crate) telemetry: Telemetry,
}

impl<T, E, C: Clone> Clone for FallbackLayer<T, E, C> {
    fn clone(&self) -> Self {
        FallbackLayer {
            fallback: self.fallback.clone(),
            causes: self.causes,
            classifier: self.classifier.clone(),
            telemetry: self.telemetry.clone(),
        }
    }
}

impl<T, E> FallbackLayer<T, E, DefaultClassifier> {
    /// A fallback that runs `f` for every cause.
    pub fn new<F>(f: F) -> Self
    where
        F: Fn(Trigger<T, E>) -> Result<T, E> + Send + Sync + 'static,
    {
        FallbackLayer {
            fallback: FallbackFn(Arc::new(f)),
            causes: Causes::ALL,
            classifier: DefaultClassifier,
            telemetry: Telemetry::new("fallback"),
        }
    }

    /// A fallback that answers `value` for every cause.
    pub fn value(value: T) -> Self
    where
        T: Clone + Send + Sync + 'static,
    {
        Self::new(move |_| Ok(value.clone()))
    }
}

impl<T, E, C> FallbackLayer<T, E, C> {
    /// Run only for these causes; others pass the original result through.
    pub fn on(mut self, causes: Causes) -> Self {
        self.causes = causes;
        self
    }

    /// Decide which responses are failures with `classifier` (errors are
    /// always considered).
    pub fn classifier<C2>(self, classifier: C2) -> FallbackLayer<T, E, C2> {
        FallbackLayer {
            fallback: self.fallback,
            causes: self.causes,
            classifier,
            telemetry: self.telemetry,
        }
    }

    /// Where to report events and metrics.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }
}

impl<S, T, E, C: Clone> Layer<S> for FallbackLayer<T, E, C> {
    type Service = FallbackService<S, T, E, C>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService::new(inner, self.clone())
    }
}

//! Instrument: count every call by how it ended, and time it.
//!
//! Records `ordo_calls_total{policy, outcome}` and
//! `ordo_call_duration_seconds{policy}` (see [`crate::metrics`]) for the
//! calls passing through. A [`PolicyStack`](crate::stack::PolicyStack) puts
//! it outermost, so it sees each call once, however many attempts, hedges
//! or rejections happened inside. Without metrics in its
//! [`Telemetry`], it reads no clock and does nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::classify::{Classify, DefaultClassifier, Outcome};
use crate::error::{ErrorKind, ResilienceError};
use crate::telemetry::Telemetry;

/// Counts and times calls; see the module docs.
#[derive(Debug, Clone)]
pub struct InstrumentLayer<C = DefaultClassifier> {
    telemetry: Telemetry,
    classifier: C,
}

impl InstrumentLayer {
    /// Reports to `telemetry`, judging outcomes with the default classifier.
    pub fn new(telemetry: Telemetry) -> Self {
        InstrumentLayer {
            telemetry,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> InstrumentLayer<C> {
    /// Judge outcomes with `classifier`.
    pub fn classifier<C2>(self, classifier: C2) -> InstrumentLayer<C2> {
        InstrumentLayer {
            telemetry: self.telemetry,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for InstrumentLayer<C> {
    type Service = InstrumentService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        InstrumentService {
            inner,
            telemetry: self.telemetry.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A counted service; made by [`InstrumentLayer`].
#[derive(Debug, Clone)]
pub struct InstrumentService<S, C> {
    inner: S,
    telemetry: Telemetry,
    classifier: C,
}

impl<S, C, Req> Service<Req> for InstrumentService<S, C>
where
    S: Service<Req>,
    S::Error: ResilienceError,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let measured = self.telemetry.measures_calls().then(|| {
            (
                Instant::now(),
                self.telemetry.clone(),
                self.classifier.clone(),
            )
        });
        ResponseFuture {
            inner: self.inner.call(req),
            measured,
        }
    }
}

pin_project! {
    /// The future of an [`InstrumentService`] call.
    #[derive(Debug)]
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        measured: Option<(Instant, Telemetry, C)>,
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: ResilienceError,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some((start, telemetry, classifier)) = this.measured.take() {
            let outcome = match &result {
                Err(e) => Err(e.kind()),
                Ok(_) if classifier.classify(&result) == Outcome::Failure => Err(ErrorKind::Inner),
                Ok(_) => Ok(()),
            };
            telemetry.record_call(outcome, Some(start.elapsed()));
        }
        Poll::Ready(result)
    }
}

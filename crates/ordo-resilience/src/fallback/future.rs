//! The fallback's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{Cause, Causes, FallbackFn, FallbackLayer, Trigger};
use crate::classify::{Classify, Outcome};
use crate::error::ResilienceError;
use crate::events::EventKind;
use crate::telemetry::Telemetry;

pin_project! {
    /// The future of a [`FallbackService`](super::FallbackService) call.
    #[derive(Debug)]
    pub struct ResponseFuture<F, T, E, C> {
        #[pin]
        inner: F,
        fallback: FallbackFn<T, E>,
        causes: Causes,
        classifier: C,
        telemetry: Option<Telemetry>,
    }
}

impl<F, T, E, C: Clone> ResponseFuture<F, T, E, C> {
    pub(crate) fn new(inner: F, layer: &FallbackLayer<T, E, C>) -> Self {
        ResponseFuture {
            inner,
            fallback: layer.fallback.clone(),
            causes: layer.causes,
            classifier: layer.classifier.clone(),
            telemetry: layer.telemetry.for_future(),
        }
    }
}

impl<F, T, E, C> Future for ResponseFuture<F, T, E, C>
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
        let cause = match &result {
            Err(e) => Cause::from_kind(e.kind()),
            Ok(_) if this.classifier.classify(&result) == Outcome::Failure => Cause::Failure,
            Ok(_) => return Poll::Ready(result),
        };
        if !this.causes.contains(cause) {
            return Poll::Ready(result);
        }
        if let Some(t) = this.telemetry {
            t.emit(EventKind::Fallback { cause });
        }
        Poll::Ready(this.fallback.call(Trigger::new(cause, result)))
    }
}

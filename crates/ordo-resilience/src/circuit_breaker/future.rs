//! The circuit breaker's response future: records the outcome when the call
//! finishes, and gives a probe's permit back if it is dropped unfinished.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::circuit::Permit;
use super::{Circuit, CircuitOpen};
use crate::classify::{Classify, Outcome};
use crate::error::ResilienceError;

pin_project! {
    /// The future of a [`CircuitBreakerService`](super::CircuitBreakerService) call.
    #[derive(Debug)]
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = Proj]
    #[derive(Debug)]
    enum State<F, C> {
        Admitted {
            #[pin]
            inner: F,
            guard: Guard,
            classifier: C,
        },
        Rejected { open: Option<CircuitOpen> },
        Passthrough {
            #[pin]
            inner: F,
        },
    }
}

/// Ties an admitted call to its circuit; a guard dropped before the call
/// finished counts as a cancellation (only a probe has anything to give
/// back, and a finished call's permit is no longer a probe's).
#[derive(Debug)]
struct Guard {
    circuit: Arc<Circuit>,
    permit: Permit,
    /// When the call started, if slow calls are detected.
    start: Option<Instant>,
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.permit.is_probe() {
            self.circuit.on_cancel(&self.permit);
        }
    }
}

impl<F, C> ResponseFuture<F, C> {
    #[inline]
    pub(crate) fn admitted(
        inner: F,
        circuit: Arc<Circuit>,
        permit: Permit,
        classifier: C,
        start: Option<Instant>,
    ) -> Self {
        let state = State::Admitted {
            inner,
            guard: Guard {
                circuit,
                permit,
                start,
            },
            classifier,
        };
        ResponseFuture { state }
    }

    pub(crate) fn passthrough(inner: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { inner },
        }
    }

    pub(crate) fn rejected(open: CircuitOpen) -> Self {
        ResponseFuture {
            state: State::Rejected { open: Some(open) },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: From<CircuitOpen> + ResilienceError,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Proj::Passthrough { inner } => inner.poll(cx),
            Proj::Rejected { open } => Poll::Ready(Err(open
                .take()
                .expect("a rejected future is polled once")
                .into())),
            Proj::Admitted {
                inner,
                guard,
                classifier,
            } => {
                let result = ready!(inner.poll(cx));
                let circuit = &*guard.circuit;
                let mut outcome = classifier.classify(&result);
                if outcome == Outcome::Ignored
                    && circuit.config().count_rejections
                    && let Err(e) = &result
                    && e.kind().is_local_rejection()
                {
                    outcome = Outcome::Failure;
                }
                let (slow, now) = match (guard.start, &circuit.config().slow_calls) {
                    (Some(start), Some(s)) => {
                        let now = Instant::now();
                        let slow =
                            classifier.is_slow(&result, now.duration_since(start), s.duration);
                        (slow, Some(now))
                    }
                    _ => (false, None),
                };
                circuit.on_result(&guard.permit, outcome, slow, now);
                guard.permit.finish();
                Poll::Ready(result)
            }
        }
    }
}

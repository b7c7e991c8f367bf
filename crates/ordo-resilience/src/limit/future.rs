//! The concurrency limit's response future: samples the call when it ends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::limiter::Limiter;
use super::{LimitExceeded, Sample};
use crate::classify::{Classify, Outcome};

pin_project! {
    /// The future of a [`ConcurrencyLimitService`](super::ConcurrencyLimitService) call.
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
        Rejected { err: Option<LimitExceeded> },
        Passthrough {
            #[pin]
            inner: F,
        },
    }
}

/// Frees the slot; a guard dropped before the call ended is a cancellation.
#[derive(Debug)]
struct Guard {
    limiter: Arc<Limiter>,
    start: Instant,
    in_flight: u32,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.limiter.cancellation_is_drop {
            self.limiter.complete(Sample {
                rtt: self.start.elapsed(),
                in_flight: self.in_flight,
                dropped: true,
            });
        } else {
            self.limiter.release();
        }
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn admitted(inner: F, limiter: Arc<Limiter>, in_flight: u32, classifier: C) -> Self {
        ResponseFuture {
            state: State::Admitted {
                inner,
                guard: Guard {
                    limiter,
                    start: Instant::now(),
                    in_flight,
                    done: false,
                },
                classifier,
            },
        }
    }

    pub(crate) fn passthrough(inner: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { inner },
        }
    }

    pub(crate) fn rejected(err: LimitExceeded) -> Self {
        ResponseFuture {
            state: State::Rejected { err: Some(err) },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: From<LimitExceeded>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Proj::Passthrough { inner } => inner.poll(cx),
            Proj::Rejected { err } => Poll::Ready(Err(err
                .take()
                .expect("a rejected future is polled once")
                .into())),
            Proj::Admitted {
                inner,
                guard,
                classifier,
            } => {
                let result = ready!(inner.poll(cx));
                assert!(!guard.done, "polled after completion");
                guard.done = true;
                match classifier.classify(&result) {
                    Outcome::Ignored => guard.limiter.release(),
                    outcome => guard.limiter.complete(Sample {
                        rtt: guard.start.elapsed(),
                        in_flight: guard.in_flight,
                        dropped: outcome == Outcome::Failure,
                    }),
                }
                Poll::Ready(result)
            }
        }
    }
}

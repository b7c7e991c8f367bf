//! The retry's response future: a small state machine of attempts, waits
//! and readiness.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::layer::Shared;
use super::replay::Replay;
use crate::classify::{Classify, Outcome};
use crate::events::{EventKind, GiveUp};

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Calling { #[pin] fut: F },
        Waiting { #[pin] sleep: Sleep },
        Ready,
    }
}

pin_project! {
    /// The future of a [`RetryService`](super::RetryService) call.
    #[derive(Debug)]
    pub struct ResponseFuture<F, S, Req, C, P> {
        #[pin]
        state: State<F>,
        service: Option<S>,
        // The request for the next attempt, or why there is none.
        next: Result<Req, GiveUp>,
        attempt: u32,
        // None: the layer is off and passes the first result through.
        shared: Option<Arc<Shared<C, P>>>,
    }
}

impl<F, S, Req, C, P> ResponseFuture<F, S, Req, C, P> {
    pub(crate) fn new(
        fut: F,
        service: Option<S>,
        next: Result<Req, GiveUp>,
        shared: Option<Arc<Shared<C, P>>>,
    ) -> Self {
        ResponseFuture {
            state: State::Calling { fut },
            service,
            next,
            attempt: 1,
            shared,
        }
    }
}

enum Decision {
    Return,
    RetryAfter(Duration),
}

fn decide<T, E, C: Classify<T, E>, P>(
    shared: &Shared<C, P>,
    result: &Result<T, E>,
    attempt: u32,
    next: &Result<impl Sized, GiveUp>,
) -> Decision {
    let outcome = shared.classifier.classify(result);
    let asked = if shared.config.honor_retry_after {
        shared.classifier.retry_after(result)
    } else {
        None
    };
    if outcome != Outcome::Failure && asked.is_none() {
        return Decision::Return;
    }
    let give_up = |reason| {
        shared.telemetry.emit(EventKind::RetryGaveUp {
            attempts: attempt,
            reason,
        });
        Decision::Return
    };
    if attempt >= shared.config.max_attempts {
        return give_up(GiveUp::Attempts);
    }
    if let Err(reason) = next {
        return give_up(*reason);
    }
    if asked.is_some_and(|d| d > shared.config.max_retry_after) {
        return give_up(GiveUp::RetryAfterTooLong);
    }
    if let Some(budget) = &shared.budget
        && !budget.try_withdraw()
    {
        return give_up(GiveUp::Budget);
    }
    let backoff = shared.config.backoff.delay(attempt, &shared.rng);
    let delay = backoff.max(asked.unwrap_or(Duration::ZERO));
    shared.telemetry.emit(EventKind::Retry {
        attempt: attempt + 1,
        delay,
    });
    Decision::RetryAfter(delay)
}

impl<F, S, Req, C, P> Future for ResponseFuture<F, S, Req, C, P>
where
    F: Future<Output = Result<S::Response, S::Error>>,
    S: Service<Req, Future = F>,
    C: Classify<S::Response, S::Error>,
    P: Replay<Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut } => {
                    let result = ready!(fut.poll(cx));
                    let Some(shared) = this.shared.as_deref() else {
                        return Poll::Ready(result);
                    };
                    match decide(shared, &result, *this.attempt, this.next) {
                        Decision::Return => return Poll::Ready(result),
                        Decision::RetryAfter(delay) if delay.is_zero() => {
                            this.state.set(State::Ready);
                        }
                        Decision::RetryAfter(delay) => {
                            this.state.set(State::Waiting {
                                sleep: tokio::time::sleep(delay),
                            });
                        }
                    }
                }
                StateProj::Waiting { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Ready);
                }
                StateProj::Ready => {
                    let service = this
                        .service
                        .as_mut()
                        .expect("a retry is only planned with a service to call");
                    ready!(service.poll_ready(cx))?;
                    *this.attempt += 1;
                    let req = std::mem::replace(this.next, Err(GiveUp::Attempts))
                        .expect("a retry is only planned with a request to send");
                    let shared = this
                        .shared
                        .as_deref()
                        .expect("a retry is only planned by a layer that is on");
                    if *this.attempt < shared.config.max_attempts {
                        *this.next = shared
                            .replay
                            .clone_request(&req)
                            .ok_or(GiveUp::NotCloneable);
                    }
                    let fut = service.call(req);
                    this.state.set(State::Calling { fut });
                }
            }
        }
    }
}

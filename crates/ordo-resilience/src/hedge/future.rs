//! The hedge's response future: the first attempt inline, hedges boxed
//! (so a call that is never hedged allocates nothing), and a timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::layer::Shared;
use crate::classify::{Classify, Outcome};
use crate::events::EventKind;
use crate::retry::Replay;

pin_project! {
    /// The future of a [`HedgeService`](super::HedgeService) call.
    #[derive(Debug)]
    pub struct ResponseFuture<F, S, Req, C, P>
    where
        F: Future,
    {
        #[pin]
        first: Option<F>,
        hedges: Vec<Pin<Box<F>>>,
        #[pin]
        timer: Option<Sleep>,
        // Set once the timer fired and a hedge waits for the service.
        due: bool,
        service: Option<S>,
        request: Option<Req>,
        sent: u32,
        // When the first attempt started (None when the layer is off).
        start: Option<Instant>,
        last_failure: Option<F::Output>,
        // None: the layer is off and passes the first result through.
        shared: Option<Arc<Shared<C, P>>>,
    }
}

impl<F: Future, S, Req, C, P> ResponseFuture<F, S, Req, C, P> {
    pub(crate) fn new(
        fut: F,
        service: Option<S>,
        request: Option<Req>,
        start: Instant,
        shared: Option<Arc<Shared<C, P>>>,
    ) -> Self {
        ResponseFuture {
            first: Some(fut),
            hedges: Vec::new(),
            timer: None,
            due: false,
            service,
            request,
            sent: 0,
            start: Some(start),
            last_failure: None,
            shared,
        }
    }
}

impl<F: Future, S, Req, C, P> ResponseFuture<F, S, Req, C, P> {
    pub(crate) fn passthrough(fut: F) -> Self {
        ResponseFuture {
            first: Some(fut),
            hedges: Vec::new(),
            timer: None,
            due: false,
            service: None,
            request: None,
            sent: 0,
            start: None,
            last_failure: None,
            shared: None,
        }
    }
}

impl<F, S, Req, C, P, T, E> Future for ResponseFuture<F, S, Req, C, P>
where
    F: Future<Output = Result<T, E>>,
    S: Service<Req, Response = T, Error = E, Future = F>,
    C: Classify<T, E>,
    P: Replay<Req>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let (Some(shared), Some(start)) = (this.shared.as_deref(), *this.start) else {
            let first = this.first.as_pin_mut().expect("polled after completion");
            return first.poll(cx);
        };
        loop {
            // Any attempt that finished: a success wins at once.
            if let Some(first) = this.first.as_mut().as_pin_mut()
                && let Poll::Ready(result) = first.poll(cx)
            {
                this.first.set(None);
                if shared.classifier.classify(&result) == Outcome::Success {
                    if let Some(l) = &shared.latencies {
                        l.record(start.elapsed());
                    }
                    // The other attempts lost: cancel them now, not when
                    // this future is dropped.
                    this.hedges.clear();
                    return Poll::Ready(result);
                }
                *this.last_failure = Some(result);
            }
            let mut i = 0;
            while i < this.hedges.len() {
                if let Poll::Ready(result) = this.hedges[i].as_mut().poll(cx) {
                    drop(this.hedges.swap_remove(i));
                    if shared.classifier.classify(&result) == Outcome::Success {
                        if let Some(l) = &shared.latencies {
                            l.record(start.elapsed());
                        }
                        // The other attempts lost: cancel them now.
                        this.first.set(None);
                        this.hedges.clear();
                        return Poll::Ready(result);
                    }
                    *this.last_failure = Some(result);
                } else {
                    i += 1;
                }
            }
            let running = this.first.is_some() || !this.hedges.is_empty();
            if !running {
                let last = this.last_failure.take();
                return Poll::Ready(last.expect("an attempt finished without a result"));
            }
            let can_hedge = this.service.is_some()
                && this.request.is_some()
                && *this.sent < shared.config.max_hedged_attempts;
            if !can_hedge {
                return Poll::Pending;
            }
            if !*this.due {
                if this.timer.is_none() {
                    // A delay too long to add up means: never hedge.
                    let at = shared
                        .delay()
                        .checked_mul(*this.sent + 1)
                        .and_then(|d| start.checked_add(d));
                    let Some(at) = at else {
                        *this.service = None;
                        continue;
                    };
                    this.timer.set(Some(tokio::time::sleep_until(at)));
                }
                let timer = this.timer.as_mut().as_pin_mut().expect("armed above");
                if timer.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.timer.set(None);
                *this.due = true;
            }
            let service = this.service.as_mut().expect("checked above");
            match service.poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => {
                    // The service cannot take another attempt: stop hedging
                    // and wait for the ones running.
                    *this.service = None;
                    continue;
                }
                Poll::Ready(Ok(())) => {}
            }
            *this.due = false;
            if let Some(b) = &shared.budget
                && !b.try_withdraw()
            {
                shared.telemetry.emit(EventKind::HedgeBudgetExhausted);
                *this.service = None;
                continue;
            }
            *this.sent += 1;
            let req = if *this.sent < shared.config.max_hedged_attempts {
                let req = this.request.as_ref().expect("checked above");
                shared.replay.clone_request(req)
            } else {
                this.request.take()
            };
            let Some(req) = req else {
                *this.service = None;
                continue;
            };
            shared.telemetry.emit(EventKind::Hedge {
                attempt: *this.sent + 1,
                after: start.elapsed(),
            });
            let fut = service.call(req);
            this.hedges.push(Box::pin(fut));
        }
    }
}

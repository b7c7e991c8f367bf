//! The rate-limited service: takes a permit in `poll_ready`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::RateLimited;
use super::gcra::{Gcra, Reservation, Token};
use crate::error::ErrorKind;
use crate::events::EventKind;

/// A rate-limited service; made by [`RateLimitLayer`](super::RateLimitLayer).
#[derive(Debug)]
pub struct RateLimitService<S> {
    inner: S,
    gcra: Option<Arc<Gcra>>,
    state: Permit,
}

#[derive(Debug)]
enum Permit {
    None,
    Waiting(Pin<Box<Sleep>>, Token),
    Granted(Option<Token>),
    Denied(Duration),
}

impl<S: Clone> Clone for RateLimitService<S> {
    fn clone(&self) -> Self {
        // A permit belongs to the service that reserved it.
        RateLimitService {
            inner: self.inner.clone(),
            gcra: self.gcra.clone(),
            state: Permit::None,
        }
    }
}

impl<S> RateLimitService<S> {
    pub(crate) fn new(inner: S, gcra: Option<Arc<Gcra>>) -> Self {
        RateLimitService {
            inner,
            gcra,
            state: Permit::None,
        }
    }

    fn reserve(gcra: &Gcra) -> Permit {
        match gcra.reserve() {
            Reservation::Now(token) => Permit::Granted(Some(token)),
            Reservation::After(wait, token) => {
                Permit::Waiting(Box::pin(tokio::time::sleep(wait)), token)
            }
            Reservation::Denied(retry_in) => Permit::Denied(retry_in),
        }
    }
}

impl<S, Req> Service<Req> for RateLimitService<S>
where
    S: Service<Req>,
    S::Error: From<RateLimited>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let Some(gcra) = &self.gcra else {
            return self.inner.poll_ready(cx);
        };
        loop {
            match &mut self.state {
                Permit::None => self.state = Self::reserve(gcra),
                Permit::Waiting(sleep, token) => {
                    ready!(sleep.as_mut().poll(cx));
                    self.state = Permit::Granted(Some(*token));
                }
                Permit::Granted(_) => return self.inner.poll_ready(cx),
                Permit::Denied(_) => return Poll::Ready(Ok(())),
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let Some(gcra) = &self.gcra else {
            return ResponseFuture::admitted(self.inner.call(req));
        };
        let permit = match std::mem::replace(&mut self.state, Permit::None) {
            Permit::Granted(_) => Ok(()),
            Permit::Denied(retry_in) => Err(retry_in),
            // Called without (or before the end of) poll_ready: no waiting.
            waiting @ (Permit::None | Permit::Waiting(..)) => {
                if let Permit::Waiting(_, token) = waiting {
                    gcra.refund(token);
                }
                match gcra.reserve_now() {
                    Reservation::Now(_) => Ok(()),
                    Reservation::After(d, token) => {
                        gcra.refund(token);
                        Err(d)
                    }
                    Reservation::Denied(d) => Err(d),
                }
            }
        };
        match permit {
            Ok(()) => ResponseFuture::admitted(self.inner.call(req)),
            Err(retry_in) => {
                gcra.telemetry.emit(EventKind::Rejected {
                    reason: ErrorKind::RateLimited,
                });
                ResponseFuture::rejected(RateLimited::new(retry_in))
            }
        }
    }
}

impl<S> Drop for RateLimitService<S> {
    fn drop(&mut self) {
        // A permit reserved and never used goes back to the others.
        if let (Some(gcra), Permit::Waiting(_, token) | Permit::Granted(Some(token))) =
            (&self.gcra, &self.state)
        {
            gcra.refund(*token);
        }
    }
}

pin_project! {
    /// The future of a [`RateLimitService`] call.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        rejected: Option<RateLimited>,
    }
}

impl<F> ResponseFuture<F> {
    fn admitted(inner: F) -> Self {
        ResponseFuture {
            inner: Some(inner),
            rejected: None,
        }
    }

    fn rejected(err: RateLimited) -> Self {
        ResponseFuture {
            inner: None,
            rejected: Some(err),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<RateLimited>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            None => Poll::Ready(Err(this
                .rejected
                .take()
                .expect("a rejected future is polled once")
                .into())),
        }
    }
}

//! The concurrency limit service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::limiter::Limiter;
use super::{LimitExceeded, ResponseFuture};
use crate::classify::Classify;
use crate::error::ErrorKind;
use crate::events::EventKind;

/// A service under an adaptive concurrency limit; made by
/// [`ConcurrencyLimitLayer`](super::ConcurrencyLimitLayer).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitService<S, C> {
    inner: S,
    limiter: Option<Arc<Limiter>>,
    classifier: C,
}

impl<S, C> ConcurrencyLimitService<S, C> {
    pub(crate) fn new(inner: S, limiter: Option<Arc<Limiter>>, classifier: C) -> Self {
        ConcurrencyLimitService {
            inner,
            limiter,
            classifier,
        }
    }
}

impl<S, C, Req> Service<Req> for ConcurrencyLimitService<S, C>
where
    S: Service<Req>,
    S::Error: From<LimitExceeded>,
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
        let Some(limiter) = &self.limiter else {
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        match limiter.try_acquire() {
            Some(in_flight) => ResponseFuture::admitted(
                self.inner.call(req),
                limiter.clone(),
                in_flight,
                self.classifier.clone(),
            ),
            None => {
                limiter.telemetry.emit(EventKind::Rejected {
                    reason: ErrorKind::ConcurrencyLimited,
                });
                ResponseFuture::rejected(LimitExceeded::new(limiter.limit()))
            }
        }
    }
}

//! The retry service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::ResponseFuture;
use super::layer::Shared;
use super::replay::Replay;
use crate::classify::Classify;
use crate::events::GiveUp;

/// A service whose failed calls are retried; made by
/// [`RetryLayer`](super::RetryLayer).
#[derive(Debug)]
pub struct RetryService<S, C, P> {
    inner: S,
    shared: Option<Arc<Shared<C, P>>>,
}

impl<S: Clone, C, P> Clone for RetryService<S, C, P> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S, C, P> RetryService<S, C, P> {
    pub(crate) fn new(inner: S, shared: Option<Arc<Shared<C, P>>>) -> Self {
        RetryService { inner, shared }
    }
}

impl<S, C, P, Req> Service<Req> for RetryService<S, C, P>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error>,
    P: Replay<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S, Req, C, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Some(shared) = &self.shared else {
            return ResponseFuture::new(self.inner.call(req), None, Err(GiveUp::Attempts), None);
        };
        if let Some(budget) = &shared.budget {
            budget.deposit();
        }
        let (next, service) = if shared.config.max_attempts > 1 {
            let next = if !shared.config.retry_non_idempotent && !shared.replay.is_idempotent(&req)
            {
                Err(GiveUp::NotIdempotent)
            } else {
                shared
                    .replay
                    .clone_request(&req)
                    .ok_or(GiveUp::NotCloneable)
            };
            // The clone is for later attempts; this one is ready now.
            let service = next.is_ok().then(|| self.inner.clone());
            (next, service)
        } else {
            (Err(GiveUp::Attempts), None)
        };
        let fut = self.inner.call(req);
        ResponseFuture::new(fut, service, next, Some(shared.clone()))
    }
}

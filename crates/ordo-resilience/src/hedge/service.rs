//! The hedge service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use super::ResponseFuture;
use super::layer::Shared;
use crate::classify::Classify;
use crate::retry::Replay;

/// A service whose slow calls are hedged; made by
/// [`HedgeLayer`](super::HedgeLayer).
#[derive(Debug)]
pub struct HedgeService<S, C, P> {
    inner: S,
    shared: Option<Arc<Shared<C, P>>>,
}

impl<S: Clone, C, P> Clone for HedgeService<S, C, P> {
    fn clone(&self) -> Self {
        HedgeService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S, C, P> HedgeService<S, C, P> {
    pub(crate) fn new(inner: S, shared: Option<Arc<Shared<C, P>>>) -> Self {
        HedgeService { inner, shared }
    }
}

impl<S, C, P, Req> Service<Req> for HedgeService<S, C, P>
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

    fn call(&mut self, req: Req) -> Self::Future {
        let Some(shared) = &self.shared else {
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        if shared.deposits
            && let Some(b) = &shared.budget
        {
            b.deposit();
        }
        let copy = if shared.config.hedge_non_idempotent || shared.replay.is_idempotent(&req) {
            shared.replay.clone_request(&req)
        } else {
            None
        };
        let service = copy.as_ref().map(|_| self.inner.clone());
        let start = Instant::now();
        let fut = self.inner.call(req);
        ResponseFuture::new(fut, service, copy, start, Some(shared.clone()))
    }
}

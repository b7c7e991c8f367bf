//! The fallback service.

use std::task::{Context, Poll};

use tower_service::Service;

use super::{FallbackLayer, ResponseFuture};
use crate::classify::Classify;
use crate::error::ResilienceError;

/// A service with a fallback; made by [`FallbackLayer`](super::FallbackLayer).
#[derive(Debug)]
pub struct FallbackService<S, T, E, C> {
    inner: S,
    layer: FallbackLayer<T, E, C>,
}

impl<S: Clone, T, E, C: Clone> Clone for FallbackService<S, T, E, C> {
    fn clone(&self) -> Self {
        FallbackService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, T, E, C> FallbackService<S, T, E, C> {
    pub(crate) fn new(inner: S, layer: FallbackLayer<T, E, C>) -> Self {
        FallbackService { inner, layer }
    }
}

impl<S, Req, T, E, C> Service<Req> for FallbackService<S, T, E, C>
where
    S: Service<Req, Response = T, Error = E>,
    E: ResilienceError,
    C: Classify<T, E> + Clone,
{
    type Response = T;
    type Error = E;
    type Future = ResponseFuture<S::Future, T, E, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture::new(self.inner.call(req), &self.layer)
    }
}

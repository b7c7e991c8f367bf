//! The timeout service.

use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::{Elapsed, ResponseFuture};
use crate::telemetry::Telemetry;

/// A service whose calls time out; made by [`TimeoutLayer`](super::TimeoutLayer).
#[derive(Debug, Clone)]
pub struct TimeoutService<S> {
    inner: S,
    timeout: Option<Duration>,
    telemetry: Telemetry,
}

impl<S> TimeoutService<S> {
    pub(crate) fn new(inner: S, timeout: Option<Duration>, telemetry: Telemetry) -> Self {
        TimeoutService {
            inner,
            timeout,
            telemetry,
        }
    }
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
    S::Error: From<Elapsed>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture::new(self.inner.call(req), self.timeout, &self.telemetry)
    }
}

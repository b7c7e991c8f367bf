//! The throttle service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use super::{ResponseFuture, Throttle, Throttled};
use crate::classify::Classify;
use crate::error::ErrorKind;
use crate::events::EventKind;

/// A throttled service; made by [`ThrottleLayer`](super::ThrottleLayer).
#[derive(Debug, Clone)]
pub struct ThrottleService<S, C> {
    inner: S,
    throttle: Option<Arc<Throttle>>,
    classifier: C,
}

impl<S, C> ThrottleService<S, C> {
    pub(crate) fn new(inner: S, throttle: Option<Arc<Throttle>>, classifier: C) -> Self {
        ThrottleService {
            inner,
            throttle,
            classifier,
        }
    }
}

impl<S, C, Req> Service<Req> for ThrottleService<S, C>
where
    S: Service<Req>,
    S::Error: From<Throttled>,
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
        let Some(throttle) = &self.throttle else {
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        let now = Instant::now();
        match throttle.admit(now) {
            Ok(()) => ResponseFuture::admitted(
                self.inner.call(req),
                throttle.clone(),
                now,
                self.classifier.clone(),
            ),
            Err(p) => {
                throttle.telemetry.emit(EventKind::Rejected {
                    reason: ErrorKind::Throttled,
                });
                ResponseFuture::rejected(Throttled::new(p))
            }
        }
    }
}

//! The timeout's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::Elapsed;
use crate::events::EventKind;
use crate::telemetry::Telemetry;

pin_project! {
    /// The future of a [`TimeoutService`](super::TimeoutService) call.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // Armed on the first poll that has to wait.
        #[pin]
        timer: Option<Sleep>,
        timeout: Option<Duration>,
        telemetry: Option<Telemetry>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, timeout: Option<Duration>, telemetry: &Telemetry) -> Self {
        ResponseFuture {
            inner,
            timer: None,
            timeout,
            telemetry: telemetry.for_future(),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Elapsed>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        let Some(timeout) = *this.timeout else {
            return Poll::Pending;
        };
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(timeout)));
        }
        let timer = this.timer.as_pin_mut().expect("armed above");
        match timer.poll(cx) {
            Poll::Ready(()) => {
                if let Some(t) = this.telemetry {
                    t.emit(EventKind::TimedOut { after: timeout });
                }
                Poll::Ready(Err(Elapsed::new(timeout).into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

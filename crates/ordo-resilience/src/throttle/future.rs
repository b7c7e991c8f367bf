//! The throttle's response future: counts an accept when the call succeeds.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::{Throttle, Throttled};
use crate::classify::{Classify, Outcome};

pin_project! {
    /// The future of a [`ThrottleService`](super::ThrottleService) call.
    #[derive(Debug)]
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = Proj]
    #[derive(Debug)]
    enum State<F, C> {
        Admitted {
            #[pin]
            inner: F,
            throttle: Arc<Throttle>,
            start: Instant,
            classifier: C,
        },
        Rejected { err: Option<Throttled> },
        Passthrough {
            #[pin]
            inner: F,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn admitted(
        inner: F,
        throttle: Arc<Throttle>,
        start: Instant,
        classifier: C,
    ) -> Self {
        ResponseFuture {
            state: State::Admitted {
                inner,
                throttle,
                start,
                classifier,
            },
        }
    }

    pub(crate) fn passthrough(inner: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { inner },
        }
    }

    pub(crate) fn rejected(err: Throttled) -> Self {
        ResponseFuture {
            state: State::Rejected { err: Some(err) },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: From<Throttled>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Proj::Passthrough { inner } => inner.poll(cx),
            Proj::Rejected { err } => Poll::Ready(Err(err
                .take()
                .expect("a rejected future is polled once")
                .into())),
            Proj::Admitted {
                inner,
                throttle,
                start,
                classifier,
            } => {
                let result = ready!(inner.poll(cx));
                throttle.finished(*start, classifier.classify(&result) != Outcome::Failure);
                Poll::Ready(result)
            }
        }
    }
}

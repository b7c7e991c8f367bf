//! The bulkhead's response future: holds the slot until the call ends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::BulkheadFull;
use super::slots::Slot;

pin_project! {
    /// The future of a [`BulkheadService`](super::BulkheadService) call.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        slot: Option<Slot>,
        rejected: Option<BulkheadFull>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn admitted(inner: F, slot: Slot) -> Self {
        ResponseFuture {
            inner: Some(inner),
            slot: Some(slot),
            rejected: None,
        }
    }

    pub(crate) fn passthrough(inner: F) -> Self {
        ResponseFuture {
            inner: Some(inner),
            slot: None,
            rejected: None,
        }
    }

    pub(crate) fn rejected(full: BulkheadFull) -> Self {
        ResponseFuture {
            inner: None,
            slot: None,
            rejected: Some(full),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<BulkheadFull>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.as_pin_mut() {
            Some(inner) => {
                let result = ready!(inner.poll(cx));
                // Free the slot as soon as the call is over.
                this.slot.take();
                Poll::Ready(result)
            }
            None => Poll::Ready(Err(this
                .rejected
                .take()
                .expect("a rejected future is polled once")
                .into())),
        }
    }
}

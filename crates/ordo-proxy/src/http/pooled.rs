//! Request futures in boxes that are used again.
//!
//! A connection's task keeps room for one request future (ordo's HTTP/1
//! server and hyper's HTTP/2 server alike), idle connections too, so each
//! request's state (a few KiB: the route's policies, the attempt, the
//! upstream exchange) lives in a box of its own rather than inline, or
//! 1,000 idle connections would cost megabytes. A box of that
//! size is beyond the system allocator's per-thread cache and took its
//! slow path on every request (BENCHMARKS.md, "Where ordo's time goes").
//! Here a finished request leaves its box with the worker thread, and the
//! next request on that thread moves in: the boxes kept number at most the
//! requests that were in flight at once, and never more than
//! [`MAX_SPARE`].

use std::cell::RefCell;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use tokio_util::sync::ReusableBoxFuture;

use super::ResponseBody;

/// Boxes a worker thread keeps for its next requests.
const MAX_SPARE: usize = 64;

type Boxed = ReusableBoxFuture<'static, Response<ResponseBody>>;

thread_local! {
    static SPARE: RefCell<Vec<Boxed>> = const { RefCell::new(Vec::new()) };
}

/// A request's future, in a box taken from this thread's spares when one
/// is there; the box goes back when the request is answered. (A request
/// dropped before its answer drops its box with it, and so everything its
/// state still holds.)
pub(crate) struct Pooled {
    boxed: Option<Boxed>,
}

impl Pooled {
    /// Puts the future `make` makes in a spare box, or in a new one. (The
    /// future is made where it is put, not passed down: a request's state
    /// is a few KiB, and every move of it is a copy.)
    #[inline(always)]
    pub(crate) fn new<F>(make: impl FnOnce() -> F) -> Pooled
    where
        F: Future<Output = Response<ResponseBody>> + Send + 'static,
    {
        let boxed = match SPARE.with(|s| s.borrow_mut().pop()) {
            Some(mut b) => match b.try_set(make()) {
                Ok(()) => b,
                // A future of another size: a box of its own.
                Err(future) => ReusableBoxFuture::new(future),
            },
            None => ReusableBoxFuture::new(make()),
        };
        Pooled { boxed: Some(boxed) }
    }
}

impl Future for Pooled {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let boxed = self
            .boxed
            .as_mut()
            .expect("a request future is not polled after its answer");
        let resp = std::task::ready!(boxed.poll(cx));
        // The future inside has finished: it holds nothing any more.
        let boxed = self.boxed.take().expect("checked above");
        SPARE.with(|s| {
            let mut spare = s.borrow_mut();
            if spare.len() < MAX_SPARE {
                spare.push(boxed);
            }
        });
        Poll::Ready(Ok(resp))
    }
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::Waker;

    use super::*;

    fn spare() -> usize {
        SPARE.with(|s| s.borrow().len())
    }

    fn answer() -> Response<ResponseBody> {
        Response::new(ResponseBody::full(bytes::Bytes::from_static(b"ok")))
    }

    #[test]
    fn an_answered_requests_box_is_used_by_the_next() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut first = Pooled::new(|| async { answer() });
        assert!(Pin::new(&mut first).poll(&mut cx).is_ready());
        assert_eq!(spare(), 1, "the box was kept");
        let second = Pooled::new(|| async { answer() });
        assert_eq!(spare(), 0, "and taken again");
        drop(second);
    }

    #[test]
    fn a_request_dropped_unanswered_drops_its_state_and_box() {
        let held = Arc::new(());
        let inside = held.clone();
        let mut cx = Context::from_waker(Waker::noop());
        let mut pending = Pooled::new(|| async move {
            let _inside = inside;
            std::future::pending::<()>().await;
            answer()
        });
        assert!(Pin::new(&mut pending).poll(&mut cx).is_pending());
        assert_eq!(Arc::strong_count(&held), 2);
        drop(pending);
        assert_eq!(Arc::strong_count(&held), 1, "its state was dropped");
        assert_eq!(spare(), 0, "an unfinished box is not kept");
    }

    #[test]
    fn a_thread_keeps_at_most_max_spare_boxes() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut all: Vec<_> = (0..MAX_SPARE + 10)
            .map(|_| Pooled::new(|| async { answer() }))
            .collect();
        for p in &mut all {
            assert!(Pin::new(p).poll(&mut cx).is_ready());
        }
        assert_eq!(spare(), MAX_SPARE);
    }
}

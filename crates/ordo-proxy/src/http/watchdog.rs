//! A connection's watchdog, at no cost per request: the first byte must
//! come within the header timeout, each HTTP/1 request head must arrive
//! whole within it, and a connection that moves nothing for the idle
//! timeout is closed. It reads counters that the connection's I/O
//! ([`Watched`]) and its service ([`Counted`]) keep, a few times per
//! timeout, and is polled only when its own timer wakes it ([`OnWake`]),
//! not on every read and write of the connection it watches. (No timer is
//! armed per request head.)

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use hyper::service::Service;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{BodyError, ResponseBody};

pin_project! {
    /// Polls its future only once something woke *it* (and on the first
    /// poll), not each time the task it shares is woken: a connection's
    /// guard (stop signal, idle timer) sleeps through the connection's
    /// reads and writes.
    pub(super) struct OnWake<F> {
        #[pin]
        inner: F,
        flag: Arc<WakeFlag>,
    }
}

#[derive(Debug)]
struct WakeFlag {
    woken: AtomicBool,
    parent: AtomicWaker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.parent.wake();
    }
}

impl<F: Future> OnWake<F> {
    pub(super) fn new(inner: F) -> Self {
        OnWake {
            inner,
            flag: Arc::new(WakeFlag {
                woken: AtomicBool::new(true),
                parent: AtomicWaker::new(),
            }),
        }
    }
}

impl<F: Future> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.flag.parent.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(this.flag.clone());
        this.inner.poll(&mut Context::from_waker(&waker))
    }
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Watch {
    /// Nothing arrived within the header timeout, or a request head did
    /// not arrive whole within it: dropped at once.
    Silent,
    /// Nothing moved for the idle timeout.
    Idle,
}

/// What a connection has done, for its watchdog: polls that moved bytes
/// each way, and the requests handed to the service.
#[derive(Debug, Default)]
pub(super) struct Activity {
    reads: AtomicU64,
    writes: AtomicU64,
    /// The last write could not go out (the client's receive window is
    /// full): set on a pending write, cleared by one that moves bytes.
    write_waiting: AtomicBool,
    /// Requests handed to the service so far.
    started: AtomicU64,
    /// Requests handed to the service and not yet answered in full.
    in_flight: AtomicU32,
    /// `reads` when the last request was answered in full.
    reads_when_idle: AtomicU64,
}

impl Activity {
    /// Takes in what a write came to.
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Ready(Ok(1..)) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                if self.write_waiting.load(Ordering::Relaxed) {
                    self.write_waiting.store(false, Ordering::Relaxed);
                }
            }
            Poll::Pending => self.write_waiting.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {}
        }
    }

    /// Counts bytes read before the connection's I/O was [`Watched`].
    pub(super) fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes of the next HTTP/1 head arrived with the last request (read
    /// before it was answered): a head is pending from now.
    pub(super) fn head_buffered(&self) {
        let reads = self.reads.load(Ordering::Relaxed);
        self.reads_when_idle
            .store(reads.saturating_sub(1), Ordering::Release);
    }

    fn total(&self) -> u64 {
        self.reads.load(Ordering::Relaxed) + self.writes.load(Ordering::Relaxed)
    }

    /// An HTTP/1 client has sent bytes since its last request was answered,
    /// and no request has come of them yet: a head is on its way.
    fn head_pending(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && self.reads.load(Ordering::Relaxed) > self.reads_when_idle.load(Ordering::Acquire)
    }
}

/// Watches a connection: it must send its first byte within `head_within`,
/// each HTTP/1 request head must arrive whole within it (`time_heads`), and
/// a connection that moves nothing for `idle` is closed. Costs nothing per
/// request: it looks at the counters every half `head_within`, and a head
/// seen pending on three looks in a row (so for at least `head_within`,
/// at most half as long again) has taken too long.
pub(super) async fn watch_connection(
    activity: &Activity,
    head_within: Duration,
    idle: Duration,
    time_heads: bool,
) -> Watch {
    tokio::time::sleep(head_within).await;
    if activity.reads.load(Ordering::Relaxed) == 0 {
        return Watch::Silent;
    }
    let tick = (head_within / 2).max(Duration::from_millis(1));
    let mut seen = activity.total();
    let mut quiet = Duration::ZERO;
    // The request count when a pending head was first seen, and how many
    // looks since.
    let mut pending: Option<(u64, u32)> = None;
    loop {
        tokio::time::sleep(tick).await;
        let now = activity.total();
        if now == seen {
            quiet += tick;
            if quiet >= idle {
                return Watch::Idle;
            }
        } else {
            quiet = Duration::ZERO;
            seen = now;
        }
        if time_heads {
            let started = activity.started.load(Ordering::Relaxed);
            pending = match pending {
                _ if !activity.head_pending() => None,
                Some((at, looks)) if at == started => {
                    if looks >= 2 {
                        return Watch::Silent;
                    }
                    Some((at, looks + 1))
                }
                _ => Some((started, 0)),
            };
        }
    }
}

/// Returns once the connection has moved nothing for `idle` while a
/// response waited to be written: its client does not read (looked at
/// four times per `idle`). A connection waiting for its upstream's answer
/// is not stuck.
pub(super) async fn stuck_writing_for(activity: &Activity, idle: Duration) {
    let tick = (idle / 4).max(Duration::from_millis(1));
    let mut seen = activity.total();
    let mut stuck = Duration::ZERO;
    while stuck < idle {
        tokio::time::sleep(tick).await;
        let now = activity.total();
        if now == seen && activity.write_waiting.load(Ordering::Relaxed) {
            stuck += tick;
        } else {
            (seen, stuck) = (now, Duration::ZERO);
        }
    }
}

/// Marks a request in flight on its connection until dropped (with the
/// response body, once the server has written it).
#[derive(Debug)]
pub(super) struct InFlightRequest(Arc<Activity>);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        let a = &self.0;
        a.reads_when_idle
            .store(a.reads.load(Ordering::Relaxed), Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::Release);
    }
}

/// The service, counting requests for the watchdog.
#[derive(Debug, Clone)]
pub(super) struct Counted<S> {
    pub(super) inner: S,
    pub(super) activity: Arc<Activity>,
}

impl<S, B> Service<http::Request<B>> for Counted<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResponseBody>, Error = Infallible>,
{
    type Response = http::Response<ServedBody>;
    type Error = Infallible;
    type Future = CountedFuture<S::Future>;

    fn call(&self, req: http::Request<B>) -> Self::Future {
        self.activity.started.fetch_add(1, Ordering::Relaxed);
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        CountedFuture {
            inner: self.inner.call(req),
            request: Some(InFlightRequest(self.activity.clone())),
        }
    }
}

pin_project! {
    /// The service's future; its response body carries the request's mark.
    pub(super) struct CountedFuture<F> {
        #[pin]
        inner: F,
        request: Option<InFlightRequest>,
    }
}

impl<F> Future for CountedFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody>, Infallible>>,
{
    type Output = Result<http::Response<ServedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(resp) = std::task::ready!(this.inner.poll(cx));
        let request = this.request.take();
        Poll::Ready(Ok(resp.map(|inner| ServedBody {
            inner,
            _request: request,
        })))
    }
}

pin_project! {
    /// A response body as served: the body, and its request's mark.
    #[derive(Debug)]
    pub(crate) struct ServedBody {
        #[pin]
        inner: ResponseBody,
        _request: Option<InFlightRequest>,
    }
}

impl Body for ServedBody {
    type Data = Bytes;
    type Error = BodyError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Vectored writes up to this many bytes are copied into one plain write.
const COALESCE: usize = 2048;
/// The stack buffer for the common small write (zeroing 2 KiB for a
/// 150-byte response was a visible share of a request's work).
const COALESCE_SMALL: usize = 512;

/// Copies `bufs` (at most `flat.len()` bytes in all) into `flat`.
fn flatten<'a>(bufs: &[io::IoSlice<'_>], flat: &'a mut [u8]) -> &'a [u8] {
    let mut n = 0;
    for b in bufs {
        flat[n..n + b.len()].copy_from_slice(b);
        n += b.len();
    }
    &flat[..n]
}

pin_project! {
    /// Counts the polls that move bytes, for the watchdog.
    pub(super) struct Watched<I> {
        #[pin]
        pub(super) io: I,
        pub(super) activity: Arc<Activity>,
    }
}

impl<I: AsyncRead> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.io.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<I: AsyncWrite> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.io.poll_write(cx, buf);
        this.activity.wrote(&polled);
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        // A small vectored write (HTTP/2's frames) goes out as one plain
        // write: on Linux `writev` takes the file layer's path, measurably
        // slower per call than the socket's `send` that a plain write takes,
        // and copying a few hundred bytes costs less than the difference.
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let polled = if bufs.len() > 1 && total <= COALESCE_SMALL {
            // Most responses: a buffer this small costs little to zero.
            let mut flat = [0u8; COALESCE_SMALL];
            this.io.poll_write(cx, flatten(bufs, &mut flat))
        } else if bufs.len() > 1 && total <= COALESCE {
            let mut flat = [0u8; COALESCE];
            this.io.poll_write(cx, flatten(bufs, &mut flat))
        } else {
            this.io.poll_write_vectored(cx, bufs)
        };
        this.activity.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

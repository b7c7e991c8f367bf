//! ordo's HTTP/1.1 server: a client connection's requests, read one after
//! another (pipelined ones too), each handed to the proxy's service, and
//! its response written back.
//!
//! # Why not hyper's HTTP/1 server?
//!
//! hyper's server is built for any service: a dispatcher between the
//! connection and the service, a channel for every request body, and a read
//! buffer that cannot be used again while the last request's header map
//! still shares it, so each request allocates a fresh one. On the proxy's
//! bench it was about 9,900 of the 22,300 instructions the proxy spent per
//! request. Here the connection task reads the head into a buffer it keeps,
//! calls the service, and writes the response head and a small body in one
//! write; a request body is read from the connection by whoever polls it
//! (the upstream client), through the connection's state, which the task
//! and the body share under a lock that is never contended (both live in
//! the connection's task). HTTP/2 stays with hyper.
//!
//! What it answers itself: `400` (`x-ordo-reason: bad-request`) to a head
//! that is not HTTP/1.x, or frames its body ambiguously (`Content-Length`
//! with `Transfer-Encoding`, lengths that disagree); `431`
//! (`request-headers-too-large`) to a head over the listener's bytes or
//! header count; `100 Continue` when a body that was announced with
//! `Expect: 100-continue` is first read. A request body the proxy did not
//! read (a `413`, a route that answers itself) is read and dropped after
//! the response when it is small (64 KiB at most); otherwise, and when the
//! client asked for it, the request was a refused `CONNECT` or the listener
//! stops, the connection closes after the response (what the client still
//! sends is then read and dropped for a moment, so that a reset does not
//! take the answer with it). A client that closes its connection while its
//! request is in flight cancels the request (its upstream attempt
//! included), as with hyper.

mod body;
mod request;
mod response;
mod state;

pub(crate) use body::OnClientUpgrade;
pub use body::{ClientBody, ClientUpgraded, Http1Body};
pub(crate) use request::Limits;

use std::convert::Infallible;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_util::task::AtomicWaker;
use http::{Method, Request, Response};
use hyper::service::Service;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use self::body::{Source, Tunnel};
use self::request::{Framing, HeadError, RequestHead};
use self::response::After;
use self::state::{Continue, Inner, READ_CHUNK, Reading, Shared, Upgraded};
use super::watchdog::{Activity, ServedBody};
use crate::reason::Reason;
use crate::upstream::{ChunkedDecoder, Field};

/// A request body the proxy left unread is read and dropped after the
/// response, to keep the connection, up to this many bytes.
const DRAIN_MAX: u64 = 64 * 1024;

/// Most read and dropped after a close that left bytes unread (see
/// [`linger`]), and for how long at most.
const LINGER_MAX: usize = 64 * 1024;
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);

pin_project! {
    /// A client connection being served; ends when the connection does.
    pub(crate) struct Connection<F> {
        #[pin]
        run: F,
        stop: Arc<Stop>,
    }
}

impl<F: Future<Output = ()>> Future for Connection<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().run.poll(cx)
    }
}

impl<F> Connection<F> {
    /// Finishes the request in flight, if any, with `Connection: close`,
    /// and ends; a connection between requests ends at once.
    pub(crate) fn graceful_shutdown(self: Pin<&mut Self>) {
        let stop = self.project().stop;
        stop.set.store(true, Ordering::Release);
        stop.waker.wake();
    }
}

/// The stop signal of one connection.
#[derive(Debug, Default)]
struct Stop {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Stop {
    fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }
}

/// Serves HTTP/1 on `io`, whose first bytes may already be in `read`;
/// `activity` is the connection's, for its watchdog.
pub(super) fn serve<I, S>(
    io: I,
    read: BytesMut,
    service: S,
    limits: Limits,
    activity: Arc<Activity>,
) -> Connection<impl Future<Output = ()> + Send>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<ClientBody>, Response = Response<ServedBody>, Error = Infallible> + Send,
    S::Future: Send,
{
    let stop = Arc::new(Stop::default());
    let mut buf = read;
    buf.reserve(READ_CHUNK);
    let shared = Arc::new(Shared::new(io, buf));
    Connection {
        run: run(shared, service, limits, activity, stop.clone()),
        stop,
    }
}

async fn run<I, S>(
    shared: Arc<Shared<I>>,
    service: S,
    limits: Limits,
    activity: Arc<Activity>,
    stop: Arc<Stop>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<ClientBody>, Response = Response<ServedBody>, Error = Infallible>,
{
    let mut fields = Vec::new();
    let mut out = Vec::with_capacity(512);
    // Whether the client may still be sending when the connection closes.
    let mut unread = false;
    loop {
        let head = match next_head(&shared, limits, &stop, &mut fields).await {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                let reason = match e {
                    HeadError::Malformed(why) => {
                        tracing::debug!(error = why, "malformed request head");
                        Reason::BadRequest
                    }
                    HeadError::TooLarge => Reason::HeadersTooLarge,
                };
                response::refuse(&mut out, reason);
                let _ = response::write_all(&shared, &out).await;
                unread = true;
                break;
            }
        };
        let RequestHead {
            mut parts,
            framing,
            close,
            expect_continue,
            upgrade,
        } = head;
        let head_only = parts.method == Method::HEAD;
        // What follows a `CONNECT` was meant for a tunnel, not read as the
        // next request: it is refused, and the connection closed after.
        let connect = parts.method == Method::CONNECT;
        let close = close || connect;
        unread |= connect;
        let body = {
            let mut inner = shared.lock();
            inner.body = match framing {
                Framing::None => Reading::Done,
                Framing::Length(n) => Reading::Length(n),
                Framing::Chunked => Reading::Chunked(ChunkedDecoder::default()),
            };
            inner.continue_ = if expect_continue && framing != Framing::None {
                Continue::NOT_BEGUN
            } else {
                Continue::None
            };
            match framing {
                Framing::None => ClientBody::Empty,
                Framing::Length(n) => ClientBody::http1(shared.clone(), Some(n)),
                Framing::Chunked => ClientBody::http1(shared.clone(), None),
            }
        };
        let upgraded = upgrade.then(|| {
            let (tx, rx) = oneshot::channel();
            parts.extensions.insert(OnClientUpgrade::new(rx));
            tx
        });
        let version = parts.version;
        let call = service.call(Request::from_parts(parts, body));
        let Some(Ok(resp)) = unless_client_leaves(&shared, call).await else {
            // Gone: the request (and its upstream attempt) is dropped.
            return;
        };
        let (keep_alive, owed) = {
            let inner = shared.lock();
            let owed = inner.continue_ != Continue::None;
            (!close && !stop.is_set() && can_drain(&inner), owed)
        };
        if owed && shared.settle_continue().await.is_err() {
            break;
        }
        let after = response::write(
            &shared,
            &mut out,
            resp,
            head_only,
            version,
            keep_alive,
            upgraded.is_some(),
        )
        .await;
        match after {
            After::KeepAlive => {}
            After::Close => {
                unread |= !matches!(shared.lock().body, Reading::Done);
                break;
            }
            After::Upgrade => {
                if let Some(tx) = upgraded {
                    let tunnel: Box<dyn Tunnel> = Box::new(Upgraded(shared.clone()));
                    let _ = tx.send(ClientUpgraded(tunnel));
                }
                return;
            }
        }
        let read_whole = matches!(shared.lock().body, Reading::Done);
        if !read_whole && !drain(&shared, &stop).await {
            unread = true;
            break;
        }
        if !shared.lock().buf.is_empty() {
            // Bytes of the next head came with this request: its time runs
            // from now, as for a head that starts arriving.
            activity.head_buffered();
        }
    }
    let _ = std::future::poll_fn(|cx| Pin::new(&mut shared.lock().io).poll_shutdown(cx)).await;
    if unread && !stop.is_set() {
        linger(&shared).await;
    }
}

/// Reads and drops what the client still sends after the answer that
/// closed its connection (a `400`, a `413`, a refused `CONNECT`), until it
/// closes its side, [`LINGER_MAX`] bytes or [`LINGER_TIME`]: closing a
/// socket with bytes unread sends a reset, and a reset can make the client
/// lose the answer before it has read it (nginx's `lingering_close`).
async fn linger<I: AsyncRead + Unpin>(shared: &Shared<I>) {
    let mut left = LINGER_MAX;
    let dropped = std::future::poll_fn(|cx| {
        let mut inner = shared.lock();
        loop {
            let n = inner.buf.len();
            inner.buf.clear();
            left = left.saturating_sub(n);
            if left == 0 || !std::task::ready!(inner.poll_fill(cx)) {
                return Poll::Ready(());
            }
        }
    });
    let _ = tokio::time::timeout(LINGER_TIME, dropped).await;
}

/// The next request head: `None` when the client closed, or the listener
/// stopped, before one arrived whole.
async fn next_head<I: AsyncRead + Unpin>(
    shared: &Shared<I>,
    limits: Limits,
    stop: &Stop,
    fields: &mut Vec<Field>,
) -> Result<Option<RequestHead>, HeadError> {
    std::future::poll_fn(|cx| {
        let mut inner = shared.lock();
        loop {
            if !inner.buf.is_empty()
                && let Some(head) = request::parse(&mut inner.buf, limits, fields)?
            {
                return Poll::Ready(Ok(Some(head)));
            }
            // Registered before the look, so a stop in between still wakes.
            stop.waker.register(cx.waker());
            if stop.is_set() {
                return Poll::Ready(Ok(None));
            }
            if !std::task::ready!(inner.poll_fill(cx)) {
                // Closed between requests, or part-way through a head.
                return Poll::Ready(Ok(None));
            }
        }
    })
    .await
}

/// Runs `fut` unless the client closes its connection first (`None`).
/// While nothing reads the request's body, the connection is read here:
/// bytes of a next request are kept for it (up to a head's limit), the
/// end of the client's side ends the wait.
pub(super) async fn unless_client_leaves<I: AsyncRead + Unpin, F: Future>(
    shared: &Shared<I>,
    fut: F,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        let mut inner = shared.lock();
        while matches!(inner.body, Reading::Done) && inner.buf.len() < READ_CHUNK {
            match inner.poll_fill(cx) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(None),
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await
}

/// Whether the connection can serve another request once the response is
/// written: the body was read to its end, or what is left of it is small
/// and the client was not left waiting for a `100 Continue` before sending
/// it.
fn can_drain<I>(inner: &Inner<I>) -> bool {
    match inner.body {
        Reading::Done => true,
        Reading::Broken => false,
        _ if inner.continue_ == Continue::NOT_BEGUN => false,
        Reading::Length(left) => left <= DRAIN_MAX,
        Reading::Chunked(_) => true,
    }
}

/// Reads and drops what is left of the request's body: `false` when it
/// is more than [`DRAIN_MAX`], broken, or still coming when the connection
/// is told to stop (a client that stalls half way through is closed when
/// its connection goes idle).
async fn drain<I: AsyncRead + AsyncWrite + Unpin + Send>(shared: &Shared<I>, stop: &Stop) -> bool {
    let mut left = DRAIN_MAX;
    std::future::poll_fn(|cx| {
        loop {
            stop.waker.register(cx.waker());
            if stop.is_set() {
                return Poll::Ready(false);
            }
            match std::task::ready!(shared.poll_frame(cx)) {
                None => return Poll::Ready(true),
                Some(Ok(frame)) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    if n > left {
                        return Poll::Ready(false);
                    }
                    left -= n;
                }
                Some(Err(_)) => return Poll::Ready(false),
            }
        }
    })
    .await
}

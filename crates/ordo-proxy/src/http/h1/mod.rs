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
//! `Expect: 100-continue` is first read. The connection closes after a
//! response when the client asked for it, when the request's body was not
//! read to its end, or when the listener stops.

mod body;
mod request;
mod response;

pub(crate) use body::OnClientUpgrade;
pub use body::{ClientBody, ClientUpgraded, Http1Body};
pub(crate) use request::Limits;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use http::{Method, Request, Response};
use hyper::service::Service;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use self::body::{Source, Tunnel};
use self::request::{Framing, HeadError, RequestHead};
use self::response::After;
use super::BodyError;
use super::watchdog::ServedBody;
use crate::reason::Reason;
use crate::upstream::{ChunkedDecoder, Decoded};

/// Bytes read from the connection at a time, at least.
const READ_CHUNK: usize = 8 * 1024;
/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

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
    /// and ends; a connection waiting for its next request ends at once.
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

/// Serves HTTP/1 on `io`, whose first bytes may already be in `read`.
pub(crate) fn serve<I, S>(
    io: I,
    read: BytesMut,
    service: S,
    limits: Limits,
) -> Connection<impl Future<Output = ()> + Send>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<ClientBody>, Response = Response<ServedBody>, Error = Infallible> + Send,
    S::Future: Send,
{
    let stop = Arc::new(Stop::default());
    let mut buf = read;
    buf.reserve(READ_CHUNK);
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            io,
            buf,
            body: Reading::Done,
            eof: false,
            continue_left: 0,
        }),
    });
    Connection {
        run: run(shared, service, limits, stop.clone()),
        stop,
    }
}

/// The connection's state, shared by its task and the request body it is
/// reading (which is polled from the same task: the lock is never
/// waited for).
pub(crate) struct Shared<I> {
    inner: Mutex<Inner<I>>,
}

struct Inner<I> {
    io: I,
    /// Bytes read and not yet taken: the next head, body bytes, or, after
    /// an upgrade, the client's first bytes of the new protocol.
    buf: BytesMut,
    body: Reading,
    /// The client closed its side.
    eof: bool,
    /// Bytes of `100 Continue` still to write before the body is read.
    continue_left: usize,
}

/// Where the current request's body stands.
enum Reading {
    /// No body, or read to its end.
    Done,
    /// This many bytes to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// The client broke the body off or framed it wrongly: the connection
    /// cannot be used again.
    Broken,
}

impl<I> Shared<I> {
    fn lock(&self) -> MutexGuard<'_, Inner<I>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<I: AsyncRead + Unpin> Inner<I> {
    /// Reads more of the connection into `buf`: `Ready(true)` when bytes
    /// came, `Ready(false)` at the end of the client's side or on an error.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.eof {
            return Poll::Ready(false);
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            // Takes back the buffer's memory when what shared it (the last
            // request's head) is gone.
            self.buf.reserve(READ_CHUNK);
        }
        match std::task::ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut self.buf
        )) {
            Ok(n) if n > 0 => Poll::Ready(true),
            _ => {
                self.eof = true;
                Poll::Ready(false)
            }
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send> Source for Shared<I> {
    fn poll_data(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        while inner.continue_left > 0 {
            let from = CONTINUE.len() - inner.continue_left;
            match std::task::ready!(Pin::new(&mut inner.io).poll_write(cx, &CONTINUE[from..])) {
                Ok(n) if n > 0 => inner.continue_left -= n,
                _ => {
                    inner.body = Reading::Broken;
                    inner.continue_left = 0;
                    return Poll::Ready(Some(Err("the client's connection broke".into())));
                }
            }
            if inner.continue_left == 0 {
                let _ = Pin::new(&mut inner.io).poll_flush(cx);
            }
        }
        loop {
            match &mut inner.body {
                Reading::Done => return Poll::Ready(None),
                Reading::Broken => {
                    return Poll::Ready(Some(Err("the request body was broken off".into())));
                }
                Reading::Length(left) => {
                    if !inner.buf.is_empty() {
                        let n = (*left).min(inner.buf.len() as u64);
                        *left -= n;
                        if *left == 0 {
                            inner.body = Reading::Done;
                        }
                        return Poll::Ready(Some(Ok(inner.buf.split_to(n as usize).freeze())));
                    }
                }
                Reading::Chunked(decoder) => match decoder.decode(&mut inner.buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(data))),
                    Ok(Decoded::End(_trailers)) => {
                        inner.body = Reading::Done;
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => {
                        inner.body = Reading::Broken;
                        return Poll::Ready(Some(Err(format!("request body: {e}").into())));
                    }
                },
            }
            if !std::task::ready!(inner.poll_fill(cx)) {
                inner.body = Reading::Broken;
                return Poll::Ready(Some(Err(
                    "the client closed its connection before the body's end".into(),
                )));
            }
        }
    }
}

/// The connection after `101`: its unread bytes first, then the socket.
struct Upgraded<I>(Arc<Shared<I>>);

impl<I: AsyncRead + Unpin> AsyncRead for Upgraded<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut inner = self.0.lock();
        if !inner.buf.is_empty() {
            let n = inner.buf.len().min(out.remaining());
            out.put_slice(&inner.buf.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut inner.io).poll_read(cx, out)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Upgraded<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0.lock().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0.lock().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0.lock().io).poll_shutdown(cx)
    }
}

async fn run<I, S>(shared: Arc<Shared<I>>, service: S, limits: Limits, stop: Arc<Stop>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<ClientBody>, Response = Response<ServedBody>, Error = Infallible>,
{
    let mut fields = Vec::new();
    let mut out = Vec::with_capacity(512);
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
        let body = {
            let mut inner = shared.lock();
            inner.body = match framing {
                Framing::None => Reading::Done,
                Framing::Length(n) => Reading::Length(n),
                Framing::Chunked => Reading::Chunked(ChunkedDecoder::default()),
            };
            inner.continue_left = if expect_continue && framing != Framing::None {
                CONTINUE.len()
            } else {
                0
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
        let Ok(resp) = service.call(Request::from_parts(parts, body)).await;
        let keep_alive = !close && !stop.is_set() && matches!(shared.lock().body, Reading::Done);
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
            After::Close => break,
            After::Upgrade => {
                if let Some(tx) = upgraded {
                    let tunnel: Box<dyn Tunnel> = Box::new(Upgraded(shared.clone()));
                    let _ = tx.send(ClientUpgraded(tunnel));
                }
                return;
            }
        }
    }
    let _ = std::future::poll_fn(|cx| Pin::new(&mut shared.lock().io).poll_shutdown(cx)).await;
}

/// The next request head: `None` when the client closed, or the listener
/// stopped, between requests.
async fn next_head<I: AsyncRead + Unpin>(
    shared: &Shared<I>,
    limits: Limits,
    stop: &Stop,
    fields: &mut Vec<(u32, u32, u32, u32)>,
) -> Result<Option<RequestHead>, HeadError> {
    std::future::poll_fn(|cx| {
        let mut inner = shared.lock();
        loop {
            if inner.buf.is_empty() {
                if stop.is_set() {
                    return Poll::Ready(Ok(None));
                }
                stop.waker.register(cx.waker());
            } else if let Some(head) = request::parse(&mut inner.buf, limits, fields)? {
                return Poll::Ready(Ok(Some(head)));
            }
            if !std::task::ready!(inner.poll_fill(cx)) {
                // Closed between requests, or part-way through a head.
                return Poll::Ready(Ok(None));
            }
        }
    })
    .await
}

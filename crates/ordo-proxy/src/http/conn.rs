//! Serving one accepted connection with the HTTP version it speaks:
//! ordo's HTTP/1 server ([`super::h1`]) or hyper's HTTP/2 server, chosen by
//! the listener's versions, TLS's ALPN, or (both allowed, nothing said) the
//! connection's first bytes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use ordo_config::proxy::{HttpVersion, ListenerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch};

use super::ResponseBody;
use super::h1::{self, ClientBody};
use super::watchdog::{
    Activity, Counted, OnWake, Watch, Watched, stuck_writing_for, watch_connection,
};

/// Which HTTP versions a connection may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versions {
    Http1,
    Http2,
    Both,
}

impl Versions {
    pub(crate) fn of(config: &ListenerConfig) -> Versions {
        let h1 = config.protocols.contains(&HttpVersion::Http1);
        let h2 = config.protocols.contains(&HttpVersion::Http2);
        match (h1, h2) {
            (true, false) => Versions::Http1,
            (false, true) => Versions::Http2,
            _ => Versions::Both,
        }
    }

    /// What TLS's ALPN settled on; without ALPN, what the listener allows.
    pub(crate) fn after_alpn(self, alpn: Option<&[u8]>) -> Versions {
        match alpn {
            Some(b"h2") => Versions::Http2,
            Some(b"http/1.1") => Versions::Http1,
            _ => self,
        }
    }
}

/// The listener's HTTP settings: ordo's HTTP/1 server's limits and
/// hyper's HTTP/2 builder.
#[derive(Debug)]
pub(crate) struct Builders {
    /// A connection must send its first byte within this, and an HTTP/1
    /// client each request's whole head.
    first_byte_within: Duration,
    /// A connection that moves nothing for this long is closed.
    idle: Duration,
    h1: h1::Limits,
    h2: http2::Builder<TokioExecutor>,
}

impl Builders {
    pub(crate) fn new(config: &ListenerConfig) -> Builders {
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(config.max_header_bytes)
            .max_concurrent_streams(1024);
        Builders {
            first_byte_within: config.header_read_timeout.get(),
            idle: config.idle_timeout.get(),
            h1: h1::Limits {
                max_bytes: config.max_header_bytes as usize,
                max_headers: config.max_headers as usize,
            },
            h2,
        }
    }

    /// Serves `io` until the connection ends. When `stop` turns true the
    /// connection finishes its requests in flight and closes. `_alive` is
    /// held until then, so the listener can wait for its connections.
    pub(crate) async fn serve<I, S>(
        &self,
        mut io: I,
        versions: Versions,
        service: S,
        stop: watch::Receiver<bool>,
        _alive: mpsc::Sender<()>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<
                http::Request<ClientBody>,
                Response = http::Response<ResponseBody>,
                Error = Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let (head_within, idle) = (self.first_byte_within, self.idle);
        // Both versions and nothing said which (cleartext, or TLS without
        // ALPN): the first bytes tell, HTTP/2's preface starting with `PRI `.
        // They start the HTTP/1 server's buffer, or HTTP/2's server reads
        // them again first (`Prefixed`).
        let mut first = BytesMut::new();
        let versions = match versions {
            Versions::Both => {
                match tokio::time::timeout(head_within, read_preface(&mut io, &mut first)).await {
                    Ok(Some(v)) => v,
                    _ => return,
                }
            }
            v => v,
        };
        let activity = Arc::new(Activity::default());
        if !first.is_empty() {
            activity.count_read();
        }
        let service = Counted {
            inner: service,
            activity: activity.clone(),
        };
        // Only where HTTP/1 is served: HTTP/2 has no request heads to time.
        let time_heads = versions == Versions::Http1;
        // Each connection type has its own `graceful_shutdown`; the same
        // steps for each.
        macro_rules! until_stopped {
            ($conn:expr) => {{
                let mut conn = std::pin::pin!($conn);
                let mut stop = stop;
                let watchdog = watch_connection(&activity, head_within, idle, time_heads);
                // Polled only when its own timers or the stop signal wake
                // it, not on every read and write of the connection.
                let guard = OnWake::new(async {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => true,
                        // Silent: dropped. Idle: closed after any response
                        // it still waits for.
                        w = watchdog => w == Watch::Idle,
                    }
                });
                let stopping = tokio::select! {
                    biased;
                    _ = conn.as_mut() => false,
                    stopping = guard => stopping,
                };
                if stopping {
                    conn.as_mut().graceful_shutdown();
                    // Bounded: one whose response then cannot be written for
                    // another idle timeout (a client that never reads it) is
                    // dropped; an answer still awaited upstream is not.
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stuck_writing_for(&activity, idle) => {}
                    }
                }
            }};
        }
        match versions {
            Versions::Http1 => {
                // The first bytes, if any were read, start the server's buffer.
                let io = Watched {
                    io,
                    activity: activity.clone(),
                };
                until_stopped!(h1::serve(io, first, service, self.h1, activity.clone()))
            }
            Versions::Http2 | Versions::Both => {
                let io = Watched {
                    io: Prefixed {
                        first: first.freeze(),
                        io,
                    },
                    activity: activity.clone(),
                };
                until_stopped!(
                    self.h2
                        .serve_connection(TokioIo::new(io), ForHttp2(service))
                )
            }
        }
    }
}

/// Reads a connection's first bytes into `first` until they tell HTTP/2's
/// preface from an HTTP/1 request: `None` when the client closes first.
async fn read_preface<I: AsyncRead + Unpin>(io: &mut I, first: &mut BytesMut) -> Option<Versions> {
    use tokio::io::AsyncReadExt;
    const PREFACE: &[u8] = b"PRI ";
    loop {
        let n = PREFACE.len().min(first.len());
        if first[..n] != PREFACE[..n] {
            return Some(Versions::Http1);
        }
        if first.len() >= PREFACE.len() {
            return Some(Versions::Http2);
        }
        first.reserve(1024);
        if io.read_buf(first).await.ok()? == 0 {
            return None;
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection whose first bytes were read already: they are read
    /// again first.
    struct Prefixed<I> {
        first: bytes::Bytes,
        #[pin]
        io: I,
    }
}

impl<I: AsyncRead> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        if !this.first.is_empty() {
            let n = this.first.len().min(buf.remaining());
            buf.put_slice(&this.first.split_to(n));
            return Poll::Ready(Ok(()));
        }
        this.io.poll_read(cx, buf)
    }
}

impl<I: AsyncWrite> AsyncWrite for Prefixed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The service as hyper's HTTP/2 server calls it: the stream's body as a
/// [`ClientBody`].
#[derive(Clone)]
struct ForHttp2<S>(S);

impl<S> Service<http::Request<Incoming>> for ForHttp2<S>
where
    S: Service<http::Request<ClientBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        self.0.call(req.map(ClientBody::Http2))
    }
}

/// The builders, shared by the connection tasks of a listener.
pub(crate) type SharedBuilders = std::sync::Arc<Builders>;

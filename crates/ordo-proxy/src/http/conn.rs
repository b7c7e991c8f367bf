//! Serving one accepted connection with the HTTP version it may speak:
//! hyper's HTTP/1 or HTTP/2 server when the listener (or TLS's ALPN) allows
//! only one, hyper-util's auto-detection when both are allowed in
//! cleartext.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ordo_config::proxy::{HttpVersion, ListenerConfig};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch};

use super::ResponseBody;

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

/// The listener's HTTP settings, as hyper's builders.
#[derive(Debug)]
pub(crate) struct Builders {
    /// A connection must send its first byte within this.
    first_byte_within: Duration,
    /// A connection that moves nothing for this long is closed.
    idle: Duration,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    auto: auto::Builder<TokioExecutor>,
}

impl Builders {
    pub(crate) fn new(config: &ListenerConfig) -> Builders {
        let header_timeout = config.header_read_timeout.get();
        let max_buf = config.max_header_bytes as usize;
        let max_headers = config.max_headers as usize;
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(max_buf)
            .max_headers(max_headers)
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(config.max_header_bytes)
            .max_concurrent_streams(1024);
        let mut auto = auto::Builder::new(TokioExecutor::new());
        auto.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(max_buf)
            .max_headers(max_headers)
            .keep_alive(true);
        auto.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(config.max_header_bytes)
            .max_concurrent_streams(1024);
        Builders {
            first_byte_within: header_timeout,
            idle: config.idle_timeout.get(),
            h1,
            h2,
            auto,
        }
    }

    /// Serves `io` until the connection ends. When `stop` turns true the
    /// connection finishes its requests in flight and closes. `_alive` is
    /// held until then, so the listener can wait for its connections.
    pub(crate) async fn serve<I, S>(
        &self,
        io: I,
        versions: Versions,
        service: S,
        stop: watch::Receiver<bool>,
        _alive: mpsc::Sender<()>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<
                http::Request<Incoming>,
                Response = http::Response<ResponseBody>,
                Error = Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let (first_byte_within, idle) = (self.first_byte_within, self.idle);
        let activity = Arc::new(Activity::default());
        // Each connection type has its own `graceful_shutdown`; the same
        // steps for each.
        macro_rules! until_stopped {
            ($conn:expr) => {{
                let mut conn = std::pin::pin!($conn);
                let mut stop = stop;
                // A client must send something within the header timeout
                // (hyper's own timer starts only once it reads a request),
                // and a connection that moves nothing for `idle` is closed.
                let watchdog = async {
                    tokio::time::sleep(first_byte_within).await;
                    if activity.reads.load(Ordering::Relaxed) == 0 {
                        return Watch::Silent;
                    }
                    let mut seen = activity.total();
                    loop {
                        tokio::time::sleep(idle).await;
                        let now = activity.total();
                        if now == seen {
                            return Watch::Idle;
                        }
                        seen = now;
                    }
                };
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
                    let _ = conn.await;
                }
            }};
        }
        let io = TokioIo::new(Watched {
            io,
            activity: activity.clone(),
        });
        match versions {
            Versions::Http1 => {
                until_stopped!(self.h1.serve_connection(io, service).with_upgrades())
            }
            Versions::Http2 => until_stopped!(self.h2.serve_connection(io, service)),
            Versions::Both => until_stopped!(self.auto.serve_connection_with_upgrades(io, service)),
        }
    }
}

pin_project! {
    /// Polls its future only once something woke *it* (and on the first
    /// poll), not each time the task it shares is woken: a connection's
    /// guard (stop signal, idle timer) sleeps through the connection's
    /// reads and writes.
    struct OnWake<F> {
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
    fn new(inner: F) -> Self {
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
enum Watch {
    /// Nothing arrived within the header timeout.
    Silent,
    /// Nothing moved for the idle timeout.
    Idle,
}

/// Polls that moved bytes, each way.
#[derive(Debug, Default)]
struct Activity {
    reads: AtomicU64,
    writes: AtomicU64,
}

impl Activity {
    fn total(&self) -> u64 {
        self.reads.load(Ordering::Relaxed) + self.writes.load(Ordering::Relaxed)
    }
}

pin_project! {
    /// Counts the polls that move bytes, for the watchdog.
    struct Watched<I> {
        #[pin]
        io: I,
        activity: Arc<Activity>,
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
        self.project().io.poll_write(cx, buf)
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
        let polled = this.io.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(1..)) = polled {
            this.activity.writes.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The builders, shared by the connection tasks of a listener.
pub(crate) type SharedBuilders = std::sync::Arc<Builders>;

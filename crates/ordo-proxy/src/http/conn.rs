//! Serving one accepted connection with the HTTP version it may speak:
//! hyper's HTTP/1 or HTTP/2 server when the listener (or TLS's ALPN) allows
//! only one, hyper-util's auto-detection when both are allowed in
//! cleartext.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ordo_config::proxy::{HttpVersion, ListenerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::ResponseBody;
use super::watchdog::{Activity, Counted, OnWake, Watch, Watched, watch_connection};

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
    /// A connection must send its first byte within this, and an HTTP/1
    /// client each request's whole head.
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
        // HTTP/1 request heads are timed by the connection's watchdog
        // (see `serve`), not by a timer hyper arms for every request.
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(None)
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
        let (head_within, idle) = (self.first_byte_within, self.idle);
        let activity = Arc::new(Activity::default());
        let service = Counted {
            inner: service,
            activity: activity.clone(),
        };
        // Only where hyper's HTTP/1 server serves alone: with both
        // versions in one builder, hyper times heads itself.
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

/// The builders, shared by the connection tasks of a listener.
pub(crate) type SharedBuilders = std::sync::Arc<Builders>;

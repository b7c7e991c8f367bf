//! The accept loop and the per-connection task.
//!
//! One task per connection, all in a `JoinSet` owned by the accept loop, so
//! shutting down (or dropping the [`Upstream`](super::Upstream)) aborts them
//! and closes their sockets. Each connection has a kill switch that the
//! `Reset` behaviours pull to drop the TCP connection without answering.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::sleep;

use super::body::UpstreamBody;
use super::respond::{ServeError, respond};
use super::state::Shared;

/// What hyper's connection futures fail with.
type BoxError = Box<dyn Error + Send + Sync>;

/// Which protocols the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocols {
    /// HTTP/1.1, and HTTP/2 with prior knowledge (detected by its preface).
    Auto,
    /// HTTP/1.1 only; an HTTP/2 preface is a malformed request.
    Http1Only,
    /// HTTP/2 with prior knowledge only.
    Http2Only,
}

/// hyper's connection builder for one of the [`Protocols`].
///
/// The auto builder's `http1_only`/`http2_only` are ignored when serving with
/// upgrades, so the single-protocol cases use hyper's own builders.
#[derive(Clone, Debug)]
pub(crate) enum Http {
    Auto(auto::Builder<TokioExecutor>),
    Http1(http1::Builder),
    Http2(http2::Builder<TokioExecutor>),
}

impl Http {
    pub(crate) fn new(protocols: Protocols) -> Self {
        match protocols {
            Protocols::Auto => Self::Auto(auto::Builder::new(TokioExecutor::new())),
            Protocols::Http1Only => Self::Http1(http1::Builder::new()),
            Protocols::Http2Only => Self::Http2(http2::Builder::new(TokioExecutor::new())),
        }
    }

    /// Serves `stream` until the client is done or the connection fails.
    async fn serve<S>(&self, stream: TcpStream, service: S) -> Result<(), BoxError>
    where
        S: Service<Request<Incoming>, Response = Response<UpstreamBody>, Error = ServeError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let io = TokioIo::new(stream);
        match self {
            Self::Auto(auto) => auto.serve_connection_with_upgrades(io, service).await,
            Self::Http1(http1) => Ok(http1.serve_connection(io, service).with_upgrades().await?),
            Self::Http2(http2) => Ok(http2.serve_connection(io, service).await?),
        }
    }
}

/// Accepts connections until `stop` turns `true` or its sender is dropped,
/// then closes the listener and every connection.
pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    http: Http,
    mut stop: watch::Receiver<bool>,
) {
    let http = Arc::new(http);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve(stream, Arc::clone(&shared), Arc::clone(&http)));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(upstream = %shared.name, error = %e, "accept failed");
                    sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Resolves once `stop` turns `true` or its sender is dropped.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Serves one connection until it ends or a behaviour resets it.
async fn serve(stream: TcpStream, shared: Arc<Shared>, http: Arc<Http>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    let kill = Arc::new(Notify::new());
    let service = {
        let (shared, kill) = (Arc::clone(&shared), Arc::clone(&kill));
        service_fn(move |req| respond(Arc::clone(&shared), Arc::clone(&kill), req))
    };
    tokio::select! {
        result = http.serve(stream, service) => {
            if let Err(e) = result {
                tracing::debug!(upstream = %shared.name, error = %e, "connection ended with an error");
            }
        }
        () = kill.notified() => {
            tracing::debug!(upstream = %shared.name, "connection reset on purpose");
        }
    }
}

//! Listeners: accept connections, do TLS, speak HTTP/1.1 and HTTP/2 with
//! hyper, hand each request to the forwarding steps. Hyper answers
//! malformed requests with 400 and oversized header blocks with 431, and
//! closes connections that do not finish their headers in time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use ordo_config::proxy::{HttpVersion, ListenerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::forward::{ConnInfo, Shared, handle};
use super::tls;
use crate::metrics::ListenerLabels;

/// A running listener: its socket's address, its settings, and how to stop
/// it.
#[derive(Debug)]
pub(crate) struct ListenerTask {
    pub(crate) config: ListenerConfig,
    pub(crate) local: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ListenerTask {
    /// Stops accepting, and lets open connections finish their requests
    /// (each closes after its current one).
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for every connection to end.
    pub(crate) async fn join(self) {
        let _ = self.task.await;
    }
}

/// Whether two listener configs need the same socket and protocol setup
/// (routes aside).
pub(crate) fn same_socket(a: &ListenerConfig, b: &ListenerConfig) -> bool {
    a.address == b.address
        && a.tls == b.tls
        && a.protocols == b.protocols
        && a.header_read_timeout == b.header_read_timeout
        && a.max_header_bytes == b.max_header_bytes
        && a.max_headers == b.max_headers
}

/// Binds a listener and starts accepting. Errors name the field.
pub(crate) async fn bind_listener(
    config: &ListenerConfig,
    base: &Path,
    shared: Arc<Shared>,
) -> Result<ListenerTask, (String, String)> {
    let tls = tls::acceptor(config, base)?;
    let addr: SocketAddr = config
        .address
        .parse()
        .map_err(|e| ("address".to_owned(), format!("{e}")))?;
    let socket = TcpListener::bind(addr).await.map_err(|e| {
        (
            "address".to_owned(),
            format!("cannot listen on {addr}: {e}"),
        )
    })?;
    let local = socket
        .local_addr()
        .map_err(|e| ("address".to_owned(), e.to_string()))?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(socket, config.clone(), tls, shared, stopped));
    Ok(ListenerTask {
        config: config.clone(),
        local,
        stop,
        task,
    })
}

fn builder(config: &ListenerConfig) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout.get())
        .max_buf_size(config.max_header_bytes as usize)
        .max_headers(config.max_headers as usize)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(config.max_header_bytes)
        .max_concurrent_streams(1024);
    let h1 = config.protocols.contains(&HttpVersion::Http1);
    let h2 = config.protocols.contains(&HttpVersion::Http2);
    match (h1, h2) {
        (true, false) => b.http1_only(),
        (false, true) => b.http2_only(),
        _ => b,
    }
}

async fn accept_loop(
    socket: TcpListener,
    config: ListenerConfig,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let builder = Arc::new(builder(&config));
    let graceful = GracefulShutdown::new();
    let name: Arc<str> = config.name.as_str().into();
    let connections = shared
        .metrics
        .connections
        .get_or_create(&ListenerLabels {
            listener: config.name.clone(),
        })
        .clone();
    let handshake_timeout = config.header_read_timeout.get();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little
                    // rather than spin.
                    tracing::warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(ConnInfo {
            listener: name.clone(),
            peer,
            tls: tls.is_some(),
        });
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            let conn = conn.clone();
            async move { Ok::<_, Infallible>(handle(&shared, &conn, req).await) }
        });
        let builder = builder.clone();
        let gauge = connections.clone();
        match &tls {
            None => {
                let watcher = graceful.watcher();
                let mut stop = stopped.clone();
                tokio::spawn(async move {
                    gauge.inc();
                    // hyper's header_read_timeout starts only once the auto
                    // builder has read enough to tell HTTP/1 from HTTP/2: a
                    // client that sends nothing would hold the connection
                    // forever. The first byte must come within the timeout.
                    let mut first = [0u8; 1];
                    let spoke = tokio::select! {
                        r = tokio::time::timeout(handshake_timeout, stream.peek(&mut first)) => {
                            matches!(r, Ok(Ok(1..)))
                        }
                        _ = stop.changed() => false,
                    };
                    if spoke {
                        let c =
                            builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        let _ = watcher.watch(c.into_owned()).await;
                    }
                    gauge.dec();
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    gauge.inc();
                    if let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                    {
                        let c = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                        let _ = watcher.watch(c.into_owned()).await;
                    }
                    gauge.dec();
                });
            }
        }
    }
    drop(socket);
    graceful.shutdown().await;
}

//! Listeners: accept connections, do TLS, speak HTTP/1.1 (ordo's server,
//! [`super::h1`]) and HTTP/2 (hyper's), hand each request to the forwarding
//! steps. The HTTP/1 server answers malformed requests with 400 and
//! oversized header blocks with 431; the connection's watchdog closes
//! connections that do not finish their headers in time.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper::service::service_fn;
use ordo_config::proxy::ListenerConfig;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::conn::{Builders, SharedBuilders, Versions};
use super::forward::{ConnInfo, Shared, handle};
use super::pooled::Pooled;
use super::tls;
use crate::metrics::ListenerLabels;

/// A running listener: its socket's address, its settings, and how to stop
/// it.
#[derive(Debug)]
pub(crate) struct ListenerTask {
    pub(crate) config: ListenerConfig,
    pub(crate) local: SocketAddr,
    stop: watch::Sender<bool>,
    /// Where the accept loop gives its socket back when stopped, if asked.
    handover: Handover,
    task: JoinHandle<()>,
}

type Handover = Arc<std::sync::Mutex<Option<oneshot::Sender<TcpListener>>>>;

impl ListenerTask {
    /// Stops accepting, and lets open connections finish their requests
    /// (each closes after its current one).
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops accepting and gives the listening socket back, for a new
    /// listener on the same address with other settings; the connections
    /// it has finish as with [`stop`](Self::stop).
    pub(crate) async fn hand_over(&self) -> Option<TcpListener> {
        let (tx, rx) = oneshot::channel();
        *self.handover.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        self.stop();
        rx.await.ok()
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
        && a.idle_timeout == b.idle_timeout
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
    start_listener(socket, config, tls, shared)
}

/// Starts accepting on a socket that is already bound (a new listener, or
/// one handed over by the listener it replaces).
pub(crate) fn start_listener(
    socket: TcpListener,
    config: &ListenerConfig,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) -> Result<ListenerTask, (String, String)> {
    let local = socket
        .local_addr()
        .map_err(|e| ("address".to_owned(), e.to_string()))?;
    let (stop, stopped) = watch::channel(false);
    let handover: Handover = Arc::default();
    let task = tokio::spawn(accept_loop(
        socket,
        config.clone(),
        tls,
        shared,
        stopped,
        handover.clone(),
    ));
    Ok(ListenerTask {
        config: config.clone(),
        local,
        stop,
        handover,
        task,
    })
}

async fn accept_loop(
    socket: TcpListener,
    config: ListenerConfig,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    handover: Handover,
) {
    let builders: SharedBuilders = Arc::new(Builders::new(&config));
    let versions = Versions::of(&config);
    // Each connection holds a sender; when all are gone, so are they.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
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
            peer_value: super::headers::client_value(peer.ip()),
            tls: tls.is_some(),
        });
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            let conn = conn.clone();
            // Boxed (a box used again: see `pooled`): every connection keeps
            // room for one request future, idle ones too.
            Pooled::new(|| async move { handle(&shared, &conn, req).await })
        });
        let builders = builders.clone();
        let gauge = connections.clone();
        match &tls {
            None => {
                let alive = alive.clone();
                let stop = stopped.clone();
                tokio::spawn(async move {
                    gauge.inc();
                    // Both versions in cleartext: `serve` tells them apart by
                    // the first bytes, as for TLS without ALPN.
                    builders.serve(stream, versions, service, stop, alive).await;
                    gauge.dec();
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let alive = alive.clone();
                let stop = stopped.clone();
                tokio::spawn(async move {
                    gauge.inc();
                    if let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                    {
                        let v = versions.after_alpn(tls_stream.get_ref().1.alpn_protocol());
                        builders.serve(tls_stream, v, service, stop, alive).await;
                    }
                    gauge.dec();
                });
            }
        }
    }
    match handover.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(tx) => {
            let _ = tx.send(socket);
        }
        None => drop(socket),
    }
    drop(alive);
    let _ = all_closed.recv().await;
}

//! The admin endpoint, on its own address: `/ready`, `/live`, `/metrics`,
//! `/config`, `/clusters`, `/circuits`, `/listeners`, the fault API under `/faults` (`faults.rs`)
//! with its halt lock at `/faults/halt` (`halt.rs`), and Toxiproxy's API over the TCP proxies
//! (`toxiproxy.rs`).

mod faults;
mod halt;
mod toxiproxy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ordo_resilience::CircuitState;
use tokio::sync::watch;

use crate::metrics::{CircuitLabels, EndpointLabels};
use crate::proxy::Proxy;

/// The running admin server.
#[derive(Debug)]
pub(crate) struct AdminTask {
    pub(crate) local: SocketAddr,
    stop: watch::Sender<bool>,
}

impl AdminTask {
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

pub(crate) async fn start(address: &str, proxy: Arc<Proxy>) -> Result<AdminTask, String> {
    let addr: SocketAddr = address.parse().map_err(|e| format!("{e}"))?;
    let socket = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new()
        .route("/ready", get(ready))
        .route("/live", get(|| async { "live\n" }))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/clusters", get(clusters))
        .route("/circuits", get(circuits))
        .route("/listeners", get(listeners))
        .merge(faults::routes())
        .merge(halt::routes())
        .merge(toxiproxy::routes())
        .with_state(Arc::downgrade(&proxy));
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        let _ = axum::serve(socket, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.changed().await;
            })
            .await;
    });
    Ok(AdminTask { local, stop })
}

pub(super) type Proxied = State<std::sync::Weak<Proxy>>;

pub(super) fn gone() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
}

async fn ready(State(p): Proxied) -> Response {
    match p.upgrade() {
        Some(p) if p.ready_flag().load(Ordering::Relaxed) => "ready\n".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response(),
    }
}

fn circuit_value(s: CircuitState) -> i64 {
    match s {
        CircuitState::Closed => 0,
        CircuitState::Open => 1,
        CircuitState::HalfOpen => 2,
        CircuitState::ForcedOpen => 3,
        CircuitState::Disabled => 4,
        CircuitState::MetricsOnly => 5,
    }
}

async fn metrics(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let rt = p.runtime();
    let m = p.metrics();
    // Gauges that describe state are read now, not kept up to date per
    // request.
    for l in &rt.listeners {
        for r in &l.routes {
            if let Some(b) = &r.policy.breaker {
                m.circuit
                    .get_or_create(&CircuitLabels {
                        scope: "route",
                        name: format!("{}/{}", l.name, r.name),
                    })
                    .set(circuit_value(b.state()));
            }
        }
    }
    for c in rt.clusters() {
        let now_ms = c.now().as_millis() as u64;
        for e in c.endpoints() {
            let labels = EndpointLabels {
                cluster: c.name().to_owned(),
                endpoint: e.address().to_owned(),
            };
            m.healthy
                .get_or_create(&labels)
                .set(i64::from(e.is_healthy()));
            m.ejected
                .get_or_create(&labels)
                .set(i64::from(e.ejected_until_ms() > now_ms));
            m.in_flight
                .get_or_create(&labels)
                .set(i64::from(e.in_flight()));
            if let Some(b) = e.breaker() {
                m.circuit
                    .get_or_create(&CircuitLabels {
                        scope: "endpoint",
                        name: format!("{}/{}", c.name(), e.address()),
                    })
                    .set(circuit_value(b.state()));
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

async fn config(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    Json(p.runtime().config().clone()).into_response()
}

/// A listener as `/listeners` shows it: where it is bound (port 0 in the
/// config is a port the kernel picked).
#[derive(Debug, serde::Serialize)]
struct ListenerView {
    name: String,
    address: Option<String>,
    routes: usize,
}

async fn listeners(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let rt = p.runtime();
    let mut out = Vec::new();
    for l in &rt.config().listeners {
        out.push(ListenerView {
            name: l.name.clone(),
            address: p.listener_addr(&l.name).await.map(|a| a.to_string()),
            routes: l.routes.len(),
        });
    }
    Json(out).into_response()
}

/// One circuit breaker as `/circuits` shows it.
#[derive(Debug, serde::Serialize)]
struct CircuitView {
    /// `route` (a route's breaker) or `endpoint` (a cluster's, per endpoint).
    scope: &'static str,
    /// `listener/route` or `cluster/address`.
    name: String,
    /// `closed`, `open`, `half_open`, `forced_open`, `disabled`, `metrics_only`.
    state: &'static str,
}

fn circuit_name(s: CircuitState) -> &'static str {
    match s {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
        CircuitState::ForcedOpen => "forced_open",
        CircuitState::Disabled => "disabled",
        CircuitState::MetricsOnly => "metrics_only",
    }
}

/// Every circuit breaker of the proxy and its state now: routes' first,
/// then endpoints' by cluster.
async fn circuits(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let rt = p.runtime();
    let mut out = Vec::new();
    for l in &rt.listeners {
        for r in &l.routes {
            if let Some(b) = &r.policy.breaker {
                out.push(CircuitView {
                    scope: "route",
                    name: format!("{}/{}", l.name, r.name),
                    state: circuit_name(b.state()),
                });
            }
        }
    }
    for c in rt.clusters() {
        for e in c.endpoints() {
            if let Some(b) = e.breaker() {
                out.push(CircuitView {
                    scope: "endpoint",
                    name: format!("{}/{}", c.name(), e.address()),
                    state: circuit_name(b.state()),
                });
            }
        }
    }
    Json(out).into_response()
}

async fn clusters(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let list: Vec<_> = p.runtime().clusters().iter().map(|c| c.status()).collect();
    Json(list).into_response()
}

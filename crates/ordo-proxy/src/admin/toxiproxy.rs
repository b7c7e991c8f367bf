//! Toxiproxy's REST API over ordo's TCP proxies, so Toxiproxy's client
//! libraries and test setups drive ordo unchanged: the same paths, JSON and
//! status codes.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /proxies` | every proxy, as an object keyed by name |
//! | `POST /proxies` | creates one (`name`, `listen`, `upstream`, `enabled`): `201`, `409` if the name is taken |
//! | `POST /populate` | creates or replaces a list of proxies: `201` with `{"proxies": [...]}` |
//! | `GET /proxies/{proxy}` | one proxy, with its toxics |
//! | `POST /proxies/{proxy}` | changes `listen`, `upstream` or `enabled` |
//! | `DELETE /proxies/{proxy}` | removes it, closing its connections: `204` |
//! | `GET /proxies/{proxy}/toxics` | its toxics |
//! | `POST /proxies/{proxy}/toxics` | adds a toxic (`name`, `type`, `stream`, `toxicity`, `attributes`); `423` while fault injection is halted (`PUT /faults/halt`) |
//! | `GET`, `POST`, `DELETE /proxies/{proxy}/toxics/{toxic}` | reads, changes (`toxicity`, `attributes`), removes one |
//! | `POST /reset` | enables every proxy and removes every toxic: `204` |
//! | `GET /version` | the server's version, as text |
//!
//! Errors are `{"error": "...", "status": N}`, as Toxiproxy's.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use ordo_config::proxy::{TcpProxyConfig, ToxicSpec};
use serde::Deserialize;
use serde_json::json;

use super::{Proxied, gone};
use crate::proxy::Proxy;
use crate::tcp::TcpError;

pub(super) fn routes() -> Router<std::sync::Weak<Proxy>> {
    Router::new()
        .route("/proxies", get(list).post(create))
        .route("/populate", post(populate))
        .route("/proxies/{proxy}", get(one).post(update).delete(delete))
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(toxic).post(update_toxic).delete(remove_toxic),
        )
        .route("/reset", post(reset))
        .route("/version", get(version))
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(json!({"error": message.to_string(), "status": status.as_u16()})),
    )
        .into_response()
}

fn failed(e: TcpError) -> Response {
    let status = match &e {
        TcpError::NotFound(_) => StatusCode::NOT_FOUND,
        TcpError::Conflict(_) => StatusCode::CONFLICT,
        TcpError::Invalid(_) => StatusCode::BAD_REQUEST,
        TcpError::Bind(_) => StatusCode::INTERNAL_SERVER_ERROR,
        TcpError::Locked(_) => StatusCode::LOCKED,
    };
    error(status, e)
}

/// Parses a JSON body, or answers `400` saying where it went wrong.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}"))))
}

/// A proxy to create (unknown fields are ignored, as Toxiproxy does).
#[derive(Debug, Deserialize)]
struct NewProxy {
    name: String,
    #[serde(default = "any_port")]
    listen: String,
    upstream: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn any_port() -> String {
    "127.0.0.1:0".to_owned()
}

fn yes() -> bool {
    true
}

impl NewProxy {
    fn config(self) -> TcpProxyConfig {
        TcpProxyConfig {
            name: self.name,
            listen: self.listen,
            upstream: self.upstream,
            enabled: self.enabled,
            toxics: Vec::new(),
        }
    }
}

/// Changes to a proxy.
#[derive(Debug, Deserialize)]
struct ProxyChange {
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
}

/// A toxic to add (Toxiproxy's fields; unknown ones ignored).
#[derive(Debug, Deserialize)]
struct NewToxic {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "downstream")]
    stream: String,
    #[serde(default = "full_toxicity")]
    toxicity: f64,
    #[serde(default)]
    attributes: BTreeMap<String, i64>,
}

fn downstream() -> String {
    "downstream".to_owned()
}

fn full_toxicity() -> f64 {
    1.0
}

/// Changes to a toxic.
#[derive(Debug, Deserialize)]
struct ToxicChange {
    toxicity: Option<f64>,
    attributes: Option<BTreeMap<String, i64>>,
}

async fn list(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    Json(p.tcp().list().await).into_response()
}

async fn create(State(p): Proxied, body: Bytes) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let new: NewProxy = match parse(&body) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    match p.tcp().create(new.config()).await {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => failed(e),
    }
}

async fn populate(State(p): Proxied, body: Bytes) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let list: Vec<NewProxy> = match parse(&body) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let mut made = Vec::new();
    for new in list {
        let config = new.config();
        // An existing proxy with other addresses is replaced.
        if let Ok(old) = p.tcp().get(&config.name).await {
            if old.upstream == config.upstream && old.listen == config.listen {
                made.push(old);
                continue;
            }
            let _ = p.tcp().delete(&config.name).await;
        }
        match p.tcp().create(config).await {
            Ok(v) => made.push(v),
            Err(e) => return failed(e),
        }
    }
    (StatusCode::CREATED, Json(json!({ "proxies": made }))).into_response()
}

async fn one(State(p): Proxied, Path(name): Path<String>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    match p.tcp().get(&name).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

async fn update(State(p): Proxied, Path(name): Path<String>, body: Bytes) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let change: ProxyChange = match parse(&body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match p
        .tcp()
        .update(&name, change.listen, change.upstream, change.enabled)
        .await
    {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

async fn delete(State(p): Proxied, Path(name): Path<String>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    match p.tcp().delete(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failed(e),
    }
}

async fn toxics(State(p): Proxied, Path(name): Path<String>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    match p.tcp().toxics(&name).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

async fn add_toxic(State(p): Proxied, Path(name): Path<String>, body: Bytes) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let new: NewToxic = match parse(&body) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let spec = ToxicSpec {
        name: new.name,
        kind: new.kind,
        stream: new.stream,
        toxicity: new.toxicity,
        attributes: new.attributes,
    };
    match p.tcp().add_toxic(&name, spec).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

async fn toxic(State(p): Proxied, Path((name, toxic)): Path<(String, String)>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    match p.tcp().toxic(&name, &toxic).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

async fn update_toxic(
    State(p): Proxied,
    Path((name, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let change: ToxicChange = match parse(&body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match p
        .tcp()
        .update_toxic(&name, &toxic, change.toxicity, change.attributes)
        .await
    {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

async fn remove_toxic(State(p): Proxied, Path((name, toxic)): Path<(String, String)>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    match p.tcp().remove_toxic(&name, &toxic).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failed(e),
    }
}

async fn reset(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    p.tcp().reset().await;
    StatusCode::NO_CONTENT.into_response()
}

async fn version() -> &'static str {
    concat!("ordo-", env!("CARGO_PKG_VERSION"))
}

//! The REST API: JSON under `/v1`, its OpenAPI 3.1 document at `/openapi.json`.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /v1/services` | every service with instances, counted by status (long-poll: `index`, `wait`) |
//! | `GET /v1/services/{name}/instances` | a service's instances (`status`, `index`, `wait`) |
//! | `GET /v1/instances` | all instances (`service`, `status`, `index`, `wait`) |
//! | `POST /v1/instances` | registers: `201` and the instance, `200` on re-registration |
//! | `GET /v1/instances/{id}` | one instance, or `404` |
//! | `DELETE /v1/instances/{id}` | deregisters: `204`, or `404` |
//! | `PUT /v1/instances/{id}/heartbeat` | renews the lease, optional body `{"status": ...}`; `404` tells the instance to register again |
//! | `PUT /v1/instances/{id}/override` | sets the status override `{"status": ...}` |
//! | `DELETE /v1/instances/{id}/override` | clears it |
//! | `GET /v1/audit` | audit records (`after`, `before`, `limit`, `actor`, `action`, `target`, `order`) |
//! | `POST /v1/audit` | appends a record: `201` and the record |
//! | `GET /health` | `200` when the store answers, `503` when it does not |
//! | `GET /v1/platform/instances` | with a platform ([`platform_routes`]): its instances, processes and phases |
//! | `POST /v1/platform/instances/{id}/kill` | kills one (audited first); the platform replaces it |
//! | `PUT /v1/platform/services/{name}/replicas` | sets a service's count `{"replicas": n}` (audited first) |
//! | `GET /v1/chaos` | with a Chaos Monkey ([`chaos_routes`]): its switches, slot and latest decisions |
//! | `GET /v1/chaos/plan` | the blast radius: each group, eligible or why not, how many it may lose |
//! | `POST /v1/chaos/pause`, `/resume`, `/halt` | the switches (audited first); halt also stops every fault |
//! | `POST /v1/chaos/kill/{service}` | kills one instance now, through the guardrails |
//! | `GET /openapi.json` | the OpenAPI document |
//!
//! Every route is registered through utoipa-axum's `OpenApiRouter`, so the document
//! lists every route by construction. Every error is JSON:
//! `{"error": "...", "problems": [{"field": "...", "message": "..."}]}`. Changes record
//! who made them from the `x-ordo-actor` header (`api` when absent). Long-polls answer
//! when the index moves away from `index`, after `wait` (default 30 s, at most 5 min),
//! or when the server shuts down; a client that hangs up cancels its wait.

mod audit;
mod chaos;
mod error;
mod extract;
mod instances;
mod platform;
mod services;

pub use chaos::{Halted, chaos_routes};
pub use platform::{Killed, Replicas, platform_routes};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use error::ApiError;
pub use error::ErrorBody;

use crate::ControlPlane;

/// The response header that carries the change index of a listing.
pub const INDEX_HEADER: &str = "x-ordo-index";
/// The request header that names who makes a change (recorded in the audit log).
pub const ACTOR_HEADER: &str = "x-ordo-actor";
/// The actor recorded when a request names none.
pub const DEFAULT_ACTOR: &str = "api";
/// The largest request body accepted, in bytes (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;
/// How long a long-poll waits when `wait` is not given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// The longest `wait` accepted.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ordo control plane",
        description = "The instance registry (register, heartbeat, leases, status overrides, \
                       long-poll watches) and the audit log. Errors are JSON: \
                       {\"error\": ..., \"problems\": [{\"field\", \"message\"}]}.",
    ),
    tags(
        (name = "registry", description = "Instances, their leases and statuses"),
        (name = "audit", description = "The append-only audit log"),
        (name = "chaos", description = "The Chaos Monkey: status, blast radius, switches, kill-now (with a Chaos Monkey only)"),
        (name = "platform", description = "Instances as the platform runs them, and actions on them (with a platform only)"),
        (name = "meta", description = "Health and this document"),
    )
)]
struct ApiDoc;

/// Released when the server that runs the request shuts down, so long-polls answer at
/// once instead of holding the shutdown back.
#[derive(Debug, Clone)]
pub(crate) struct Draining(watch::Receiver<bool>);

impl Draining {
    pub(crate) fn new(rx: watch::Receiver<bool>) -> Self {
        Draining(rx)
    }

    /// Returns once the server is shutting down (or gone).
    pub(crate) async fn released(mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// The OpenAPI document, serialized once.
#[derive(Debug, Clone)]
struct OpenApiJson(Arc<String>);

pub(crate) fn router(plane: ControlPlane, extra: OpenApiRouter) -> (Router, OpenApi) {
    let ours: OpenApiRouter = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(services::list))
        .routes(routes!(instances::by_service))
        .routes(routes!(instances::list, instances::register))
        .routes(routes!(instances::get, instances::deregister))
        .routes(routes!(instances::heartbeat))
        .routes(routes!(instances::set_override, instances::clear_override))
        .routes(routes!(audit::query, audit::append))
        .routes(routes!(services::health))
        .routes(routes!(openapi_json))
        .with_state(plane);
    let (router, mut doc) = ours.merge(extra).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let json = doc
        .to_pretty_json()
        .expect("an OpenAPI document built from types always serializes");
    let router = router
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(Extension(OpenApiJson(Arc::new(json))));
    (router, doc)
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {method} {}; the routes are listed at /openapi.json",
            uri.path()
        ),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}; see /openapi.json", uri.path()),
    )
}

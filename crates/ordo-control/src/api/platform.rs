//! `/v1/platform`: the instances as the platform runs them (processes,
//! phases, restarts) and the actions taken on them: kill one, change a
//! service's replica count. Served when the control plane runs beside a
//! platform (`ordo up`); every action is written to the audit log, with the
//! `x-ordo-actor` who asked, before it is taken.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_platform::{Platform, PlatformError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Actor, JsonBody, PathParam};
use super::{ApiError, ErrorBody};
use crate::{AuditEntry, ControlPlane};

/// What the platform routes share.
#[derive(Debug, Clone)]
struct Platformed {
    plane: ControlPlane,
    platform: Arc<dyn Platform>,
}

/// The `/v1/platform` routes for `platform`, to merge with
/// [`ControlPlane::router_with`].
pub fn platform_routes(plane: ControlPlane, platform: Arc<dyn Platform>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(kill))
        .routes(routes!(scale))
        .with_state(Platformed { plane, platform })
}

fn platform_error(e: PlatformError) -> ApiError {
    match e {
        PlatformError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        PlatformError::InvalidSpec { field, message } => ApiError::invalid(
            "the request is not valid",
            vec![crate::Problem::new(field, message)],
        ),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// Every instance the platform runs or is starting, with its process and
/// phase.
#[utoipa::path(
    get, path = "/v1/platform/instances", operation_id = "platform_instances", tag = "platform",
    responses(
        (status = 200, body = Vec<Object>, description = "Instances with id, service, address, pid, phase, health, restarts, started_at, last_exit and log"),
        (status = 500, body = ErrorBody, description = "The platform failed"),
    )
)]
async fn list(State(p): State<Platformed>) -> Result<Response, ApiError> {
    let list = p.platform.list().await.map_err(platform_error)?;
    Ok(Json(list).into_response())
}

/// What a kill answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Killed {
    /// The instance killed; the platform replaces it with a new one.
    pub killed: String,
}

/// Kills an instance at once (`SIGKILL`), as a crash would; the platform
/// replaces it to keep the service's count. Audited (`kill-requested`)
/// before it is done.
#[utoipa::path(
    post, path = "/v1/platform/instances/{id}/kill", operation_id = "kill_instance", tag = "platform",
    params(("id" = String, Path, description = "The instance, e.g. ratings-2")),
    responses(
        (status = 200, body = Killed, description = "Killed; a replacement is starting"),
        (status = 404, body = ErrorBody, description = "No such instance"),
        (status = 423, body = ErrorBody, description = "Kills are halted (`ordo chaos halt`); nothing was killed"),
        (status = 500, body = ErrorBody, description = "The audit log or the platform failed; nothing was killed if the audit failed"),
    )
)]
async fn kill(
    State(p): State<Platformed>,
    Actor(actor): Actor,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    // A halt stops every kill, an operator's through this route included.
    let switches = p
        .plane
        .store()
        .chaos_switches()
        .await
        .map_err(|e| ApiError::store(&e))?;
    if let Some(h) = switches.get("halted").filter(|h| h.on) {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            format!(
                "kills are halted (by {}); lift the halt with `ordo chaos resume` (POST /v1/chaos/resume)",
                h.actor
            ),
        ));
    }
    let known = p.platform.list().await.map_err(platform_error)?;
    if !known.iter().any(|i| i.id == id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the platform runs no instance `{id}`; see GET /v1/platform/instances"),
        ));
    }
    p.plane
        .audit()
        .append(AuditEntry::new(actor, "kill-requested", id.clone()))
        .await?;
    p.platform.kill(&id).await.map_err(platform_error)?;
    Ok(Json(Killed { killed: id }).into_response())
}

/// A service's desired replica count.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replicas {
    /// 0 to 1000.
    pub replicas: u32,
}

/// Changes how many instances a service runs; extra ones stop gracefully,
/// newest first. Audited (`scale-requested`) before it is done.
#[utoipa::path(
    put, path = "/v1/platform/services/{name}/replicas", operation_id = "scale_service", tag = "platform",
    params(("name" = String, Path, description = "The service")),
    request_body = Replicas,
    responses(
        (status = 200, body = Replicas, description = "The new desired count"),
        (status = 400, body = ErrorBody, description = "The body is not valid"),
        (status = 404, body = ErrorBody, description = "The platform runs no such service"),
    )
)]
async fn scale(
    State(p): State<Platformed>,
    Actor(actor): Actor,
    PathParam(name): PathParam,
    JsonBody(r): JsonBody<Replicas>,
) -> Result<Response, ApiError> {
    if r.replicas > ordo_platform::MAX_REPLICAS {
        return Err(ApiError::invalid(
            "the request is not valid",
            vec![crate::Problem::new(
                "replicas",
                format!(
                    "must be 0 to {}, got {}",
                    ordo_platform::MAX_REPLICAS,
                    r.replicas
                ),
            )],
        ));
    }
    p.plane
        .audit()
        .append(
            AuditEntry::new(actor, "scale-requested", name.clone())
                .with_detail(serde_json::json!({ "replicas": r.replicas })),
        )
        .await?;
    p.platform
        .scale(&name, r.replicas)
        .await
        .map_err(platform_error)?;
    Ok(Json(r).into_response())
}

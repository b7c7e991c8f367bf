//! `/v1/instances` and `/v1/services/{name}/instances`: register, heartbeat, override,
//! deregister, and listings that long-poll.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use utoipa::ToSchema;

use super::extract::{Actor, JsonBody, OptionalJson, Params, PathParam, Poll};
use super::{ApiError, Draining, ErrorBody, INDEX_HEADER};
use crate::ControlPlane;
use crate::registry::{Instance, InstanceQuery, Listing, Registration, Status};

/// The optional body of a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeartbeatBody {
    /// The status the instance reports now; unchanged when left out.
    #[serde(default)]
    pub(crate) status: Option<Status>,
}

/// The body of an override.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverrideBody {
    /// The status to hold the instance at, whatever it reports.
    pub(crate) status: Status,
}

/// Answers a listing, after waiting if the request long-polls.
pub(super) async fn listing(
    plane: &ControlPlane,
    query: InstanceQuery,
    poll: Poll,
    draining: Option<Extension<Draining>>,
) -> Response {
    let registry = plane.registry();
    let listing = match poll.index {
        None => registry.instances(&query),
        Some(after) => {
            let watch = registry.watch(&query, after, Instant::now() + poll.wait);
            match draining {
                Some(Extension(d)) => tokio::select! {
                    l = watch => l,
                    () = d.released() => registry.instances(&query),
                },
                None => watch.await,
            }
        }
    };
    with_index(listing.index, Json(listing))
}

pub(super) fn with_index(index: u64, body: impl IntoResponse) -> Response {
    ([(INDEX_HEADER, index.to_string())], body).into_response()
}

fn status_param(params: &mut Params) -> Option<Status> {
    params.parsed("status", |s| s.parse())
}

/// A service's instances.
#[utoipa::path(
    get, path = "/v1/services/{name}/instances", operation_id = "list_service_instances", tag = "registry",
    params(
        ("name" = String, Path, description = "The service"),
        ("status" = Option<Status>, Query, description = "Only instances with this effective status"),
        ("index" = Option<u64>, Query, description = "Long-poll: answer once the service's index differs from this one"),
        ("wait" = Option<String>, Query, description = "Long-poll: the longest wait, such as 30s (default) or 2m (at most 5m)"),
    ),
    responses(
        (status = 200, body = Listing, description = "The instances and the service's index",
         headers(("x-ordo-index" = u64, description = "The same index as in the body"))),
        (status = 400, body = ErrorBody, description = "A query parameter is invalid"),
    )
)]
pub(super) async fn by_service(
    State(plane): State<ControlPlane>,
    PathParam(name): PathParam,
    mut params: Params,
    draining: Option<Extension<Draining>>,
) -> Result<Response, ApiError> {
    let status = status_param(&mut params);
    let poll = params.poll();
    params.finish("status, index, wait")?;
    let query = InstanceQuery {
        service: Some(name),
        status,
    };
    Ok(listing(&plane, query, poll, draining).await)
}

/// All instances, or one service's.
#[utoipa::path(
    get, path = "/v1/instances", operation_id = "list_instances", tag = "registry",
    params(
        ("service" = Option<String>, Query, description = "Only this service's instances (and its index)"),
        ("status" = Option<Status>, Query, description = "Only instances with this effective status"),
        ("index" = Option<u64>, Query, description = "Long-poll: answer once the index differs from this one"),
        ("wait" = Option<String>, Query, description = "Long-poll: the longest wait, such as 30s (default) or 2m (at most 5m)"),
    ),
    responses(
        (status = 200, body = Listing, description = "The instances and the index",
         headers(("x-ordo-index" = u64, description = "The same index as in the body"))),
        (status = 400, body = ErrorBody, description = "A query parameter is invalid"),
    )
)]
pub(super) async fn list(
    State(plane): State<ControlPlane>,
    mut params: Params,
    draining: Option<Extension<Draining>>,
) -> Result<Response, ApiError> {
    let service = params.string("service");
    let status = status_param(&mut params);
    let poll = params.poll();
    params.finish("service, status, index, wait")?;
    Ok(listing(&plane, InstanceQuery { service, status }, poll, draining).await)
}

/// Registers an instance, or updates the registration with the same id.
#[utoipa::path(
    post, path = "/v1/instances", operation_id = "register_instance", tag = "registry",
    request_body = Registration,
    params(("x-ordo-actor" = Option<String>, Header, description = "Who registers (audit log); `api` when absent")),
    responses(
        (status = 201, body = Instance, description = "Registered"),
        (status = 200, body = Instance, description = "Re-registered: the registration was updated"),
        (status = 400, body = ErrorBody, description = "The registration is invalid"),
        (status = 413, body = ErrorBody, description = "The body is over 1 MiB"),
        (status = 415, body = ErrorBody, description = "The body is not JSON"),
    )
)]
pub(super) async fn register(
    State(plane): State<ControlPlane>,
    Actor(actor): Actor,
    JsonBody(registration): JsonBody<Registration>,
) -> Result<Response, ApiError> {
    let registered = plane.registry().register(&actor, registration).await?;
    let location = format!("/v1/instances/{}", registered.instance.id);
    Ok(if registered.created {
        (
            StatusCode::CREATED,
            [(header::LOCATION, location)],
            Json(registered.instance),
        )
            .into_response()
    } else {
        Json(registered.instance).into_response()
    })
}

/// One instance.
#[utoipa::path(
    get, path = "/v1/instances/{id}", operation_id = "get_instance", tag = "registry",
    params(("id" = String, Path, description = "The instance")),
    responses(
        (status = 200, body = Instance, description = "The instance"),
        (status = 404, body = ErrorBody, description = "No instance has this id"),
    )
)]
pub(super) async fn get(
    State(plane): State<ControlPlane>,
    PathParam(id): PathParam,
) -> Result<Json<Instance>, ApiError> {
    plane
        .registry()
        .get(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found_instance(&id))
}

/// Deregisters an instance.
#[utoipa::path(
    delete, path = "/v1/instances/{id}", operation_id = "deregister_instance", tag = "registry",
    params(
        ("id" = String, Path, description = "The instance"),
        ("x-ordo-actor" = Option<String>, Header, description = "Who deregisters (audit log)"),
    ),
    responses(
        (status = 204, description = "Deregistered"),
        (status = 404, body = ErrorBody, description = "No instance has this id"),
    )
)]
pub(super) async fn deregister(
    State(plane): State<ControlPlane>,
    Actor(actor): Actor,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    plane.registry().deregister(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Renews an instance's lease, and records the status it reports if the body has one.
#[utoipa::path(
    put, path = "/v1/instances/{id}/heartbeat", operation_id = "heartbeat", tag = "registry",
    request_body(content = Option<HeartbeatBody>, description = "Optional: the status reported now"),
    params(
        ("id" = String, Path, description = "The instance"),
        ("x-ordo-actor" = Option<String>, Header, description = "Who reports (audit log, for status changes)"),
    ),
    responses(
        (status = 200, body = Instance, description = "The lease is renewed"),
        (status = 404, body = ErrorBody, description = "Unknown id: register again"),
        (status = 400, body = ErrorBody, description = "The body is invalid"),
    )
)]
pub(super) async fn heartbeat(
    State(plane): State<ControlPlane>,
    Actor(actor): Actor,
    PathParam(id): PathParam,
    OptionalJson(body): OptionalJson<HeartbeatBody>,
) -> Result<Json<Instance>, ApiError> {
    let status = body.and_then(|b| b.status);
    Ok(Json(plane.registry().heartbeat(&actor, &id, status).await?))
}

/// Holds an instance at a status, whatever its heartbeats report, until cleared.
#[utoipa::path(
    put, path = "/v1/instances/{id}/override", operation_id = "set_override", tag = "registry",
    request_body = OverrideBody,
    params(
        ("id" = String, Path, description = "The instance"),
        ("x-ordo-actor" = Option<String>, Header, description = "Who overrides (audit log)"),
    ),
    responses(
        (status = 200, body = Instance, description = "The override is set"),
        (status = 404, body = ErrorBody, description = "No instance has this id"),
        (status = 400, body = ErrorBody, description = "The body is invalid"),
    )
)]
pub(super) async fn set_override(
    State(plane): State<ControlPlane>,
    Actor(actor): Actor,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody<OverrideBody>,
) -> Result<Json<Instance>, ApiError> {
    Ok(Json(
        plane
            .registry()
            .set_override(&actor, &id, Some(body.status))
            .await?,
    ))
}

/// Clears an instance's status override: its reported status counts again.
#[utoipa::path(
    delete, path = "/v1/instances/{id}/override", operation_id = "clear_override", tag = "registry",
    params(
        ("id" = String, Path, description = "The instance"),
        ("x-ordo-actor" = Option<String>, Header, description = "Who clears it (audit log)"),
    ),
    responses(
        (status = 200, body = Instance, description = "The override is cleared"),
        (status = 404, body = ErrorBody, description = "No instance has this id"),
    )
)]
pub(super) async fn clear_override(
    State(plane): State<ControlPlane>,
    Actor(actor): Actor,
    PathParam(id): PathParam,
) -> Result<Json<Instance>, ApiError> {
    Ok(Json(
        plane.registry().set_override(&actor, &id, None).await?,
    ))
}

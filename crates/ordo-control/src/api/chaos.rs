//! `/v1/chaos`: the Chaos Monkey's status, its blast radius, its switches
//! and kill-now. Served when a Chaos Monkey runs beside the control plane
//! (`ordo up`); every switch and every kill is in the audit log, with the
//! `x-ordo-actor` who asked, before it takes effect.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Actor, PathParam};
use super::{ApiError, ErrorBody};
use crate::chaos::{ChaosError, ChaosMonkey, ChaosStatus, KillNow};

/// The `/v1/chaos` routes for `monkey`, to merge with
/// [`crate::ControlPlane::router_with`].
pub fn chaos_routes(monkey: ChaosMonkey) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(plan))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(halt))
        .routes(routes!(kill_now))
        .with_state(monkey)
}

impl From<ChaosError> for ApiError {
    fn from(e: ChaosError) -> Self {
        match e {
            ChaosError::Unknown(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            ChaosError::Audit(e) => e.into(),
            ChaosError::Store(e) => ApiError::store(&e),
            ChaosError::Stopped => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

/// The Chaos Monkey's switches, slot and latest decisions.
#[utoipa::path(
    get, path = "/v1/chaos", operation_id = "chaos_status", tag = "chaos",
    responses(
        (status = 200, body = ChaosStatus, description = "The status"),
        (status = 500, body = ErrorBody, description = "The store failed"),
    )
)]
async fn status(State(m): State<ChaosMonkey>) -> Result<Json<ChaosStatus>, ApiError> {
    Ok(Json(m.status().await?))
}

/// The blast radius now: each group of instances, whether it may lose one,
/// why not, and how many it could lose without going below its minimum
/// healthy count.
#[utoipa::path(
    get, path = "/v1/chaos/plan", operation_id = "chaos_plan", tag = "chaos",
    responses((status = 200, body = Object, description = "Groups with their eligibility, sizes and odds")),
)]
async fn plan(State(m): State<ChaosMonkey>) -> Json<ordo_chaos::BlastRadius> {
    Json(m.plan().await)
}

/// Pauses kills until resumed: each due one is skipped with the reason
/// `paused`, and kill-now is refused. Audited.
#[utoipa::path(
    post, path = "/v1/chaos/pause", operation_id = "chaos_pause", tag = "chaos",
    responses(
        (status = 200, body = ChaosStatus, description = "Paused"),
        (status = 500, body = ErrorBody, description = "The store failed; nothing changed"),
    )
)]
async fn pause(
    State(m): State<ChaosMonkey>,
    Actor(actor): Actor,
) -> Result<Json<ChaosStatus>, ApiError> {
    Ok(Json(m.pause(&actor).await?))
}

/// Lifts a pause and a halt. Audited.
#[utoipa::path(
    post, path = "/v1/chaos/resume", operation_id = "chaos_resume", tag = "chaos",
    responses(
        (status = 200, body = ChaosStatus, description = "Running again"),
        (status = 500, body = ErrorBody, description = "The store failed; nothing changed"),
    )
)]
async fn resume(
    State(m): State<ChaosMonkey>,
    Actor(actor): Actor,
) -> Result<Json<ChaosStatus>, ApiError> {
    Ok(Json(m.resume(&actor).await?))
}

/// What a halt answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Halted {
    /// The status after the halt.
    pub status: ChaosStatus,
    /// How many proxies dropped their faults and now refuse new ones;
    /// absent when some could not be reached.
    pub proxies: Option<usize>,
}

/// Stops every kill and every fault, and refuses new ones, until resumed.
/// Recorded before it takes effect.
#[utoipa::path(
    post, path = "/v1/chaos/halt", operation_id = "chaos_halt", tag = "chaos",
    responses(
        (status = 200, body = Halted, description = "Halted"),
        (status = 500, body = ErrorBody, description = "The store failed; nothing changed"),
    )
)]
async fn halt(State(m): State<ChaosMonkey>, Actor(actor): Actor) -> Result<Json<Halted>, ApiError> {
    let (status, proxies) = m.halt(&actor).await?;
    Ok(Json(Halted { status, proxies }))
}

/// Kills one instance of the service now, through every guardrail but the
/// schedule's (the window, the draw, the minimum interval). Leashed, it
/// only records the instance it would kill. The answer says what happened:
/// `killed`, `leashed`, `skipped` (with the guardrail's reason) or
/// `failed`.
#[utoipa::path(
    post, path = "/v1/chaos/kill/{service}", operation_id = "chaos_kill_now", tag = "chaos",
    params(("service" = String, Path, description = "The service, e.g. ratings")),
    responses(
        (status = 200, body = KillNow, description = "What was done"),
        (status = 404, body = ErrorBody, description = "No instance of the service is registered"),
        (status = 500, body = ErrorBody, description = "The audit log failed; nothing was killed"),
    )
)]
async fn kill_now(
    State(m): State<ChaosMonkey>,
    Actor(actor): Actor,
    PathParam(service): PathParam,
) -> Result<Json<KillNow>, ApiError> {
    Ok(Json(m.kill_now(&actor, &service).await?))
}

//! `/v1/services` (summaries, long-poll) and `/health`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use utoipa::ToSchema;

use super::extract::Params;
use super::instances::with_index;
use super::{ApiError, Draining, ErrorBody};
use crate::ControlPlane;
use crate::registry::Services;

/// Every service with instances, counted by effective status.
#[utoipa::path(
    get, path = "/v1/services", operation_id = "list_services", tag = "registry",
    params(
        ("index" = Option<u64>, Query, description = "Long-poll: answer once the index differs from this one"),
        ("wait" = Option<String>, Query, description = "Long-poll: the longest wait, such as 30s (default) or 2m (at most 5m)"),
    ),
    responses(
        (status = 200, body = Services, description = "The services and the index",
         headers(("x-ordo-index" = u64, description = "The same index as in the body"))),
        (status = 400, body = ErrorBody, description = "A query parameter is invalid"),
    )
)]
pub(super) async fn list(
    State(plane): State<ControlPlane>,
    mut params: Params,
    draining: Option<Extension<Draining>>,
) -> Result<Response, ApiError> {
    let poll = params.poll();
    params.finish("index, wait")?;
    let registry = plane.registry();
    let services = match poll.index {
        None => registry.services(),
        Some(after) => {
            let watch = registry.watch_services(after, Instant::now() + poll.wait);
            match draining {
                Some(Extension(d)) => tokio::select! {
                    s = watch => s,
                    () = d.released() => registry.services(),
                },
                None => watch.await,
            }
        }
    };
    Ok(with_index(services.index, Json(services)))
}

/// The answer of `/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    pub(crate) status: String,
    /// The registry's change index.
    pub(crate) index: u64,
    /// Instances registered.
    pub(crate) instances: usize,
}

/// `200` when the store answers; `503` when it does not.
#[utoipa::path(
    get, path = "/health", operation_id = "health", tag = "meta",
    responses(
        (status = 200, body = Health, description = "The control plane and its store answer"),
        (status = 503, body = ErrorBody, description = "The store does not answer"),
    )
)]
pub(super) async fn health(State(plane): State<ControlPlane>) -> Response {
    match plane.check_store().await {
        Ok(()) => {
            let registry = plane.registry();
            Json(Health {
                status: "ok".into(),
                index: registry.index(),
                instances: registry.instances(&Default::default()).instances.len(),
            })
            .into_response()
        }
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the control plane's store does not answer: {e}"),
        )
        .into_response(),
    }
}

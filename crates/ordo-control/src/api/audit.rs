//! `/v1/audit`: append and query the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{JsonBody, Params};
use super::{ApiError, ErrorBody};
use crate::ControlPlane;
use crate::audit::{AuditEntry, AuditPage, AuditQuery, AuditRecord, Order};

/// Audit records, newest first unless `order=asc`.
#[utoipa::path(
    get, path = "/v1/audit", operation_id = "query_audit", tag = "audit",
    params(
        ("after" = Option<u64>, Query, description = "Only records with a higher id (read on with order=asc)"),
        ("before" = Option<u64>, Query, description = "Only records with a lower id (page back with the default order)"),
        ("limit" = Option<u32>, Query, description = "At most this many records: 1 to 1000, default 100"),
        ("actor" = Option<String>, Query, description = "Only this actor's records"),
        ("action" = Option<String>, Query, description = "Only this action's records"),
        ("target" = Option<String>, Query, description = "Only records about this target"),
        ("order" = Option<Order>, Query, description = "desc (newest first, the default) or asc"),
    ),
    responses(
        (status = 200, body = AuditPage, description = "The records"),
        (status = 400, body = ErrorBody, description = "A query parameter is invalid"),
    )
)]
pub(super) async fn query(
    State(plane): State<ControlPlane>,
    mut params: Params,
) -> Result<Json<AuditPage>, ApiError> {
    let query = AuditQuery {
        after: params.number("after"),
        before: params.number("before"),
        limit: params.number("limit"),
        actor: params.string("actor"),
        action: params.string("action"),
        target: params.string("target"),
        order: params.parsed("order", |s| s.parse()).unwrap_or_default(),
    };
    params.add(query.problems());
    params.finish("after, before, limit, actor, action, target, order")?;
    Ok(Json(plane.audit().query(&query).await?))
}

/// Appends a record. It is committed before the answer is sent.
#[utoipa::path(
    post, path = "/v1/audit", operation_id = "append_audit", tag = "audit",
    request_body = AuditEntry,
    responses(
        (status = 201, body = AuditRecord, description = "Recorded"),
        (status = 400, body = ErrorBody, description = "The entry is invalid"),
        (status = 413, body = ErrorBody, description = "The body is over 1 MiB"),
    )
)]
pub(super) async fn append(
    State(plane): State<ControlPlane>,
    JsonBody(entry): JsonBody<AuditEntry>,
) -> Result<(StatusCode, Json<AuditRecord>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(plane.audit().append(entry).await?),
    ))
}

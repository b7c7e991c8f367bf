//! The fault API, on the admin listener:
//!
//! | method and path | does |
//! |---|---|
//! | `GET /faults` | every active fault, with its spec, expiry, lease and counts |
//! | `POST /faults` | adds the fault in the JSON body: `201` and the fault; `400`, `409`, `413`, `423`, `429` (`docs/fault-injection.md`) |
//! | `GET /faults/{id}` | one fault |
//! | `DELETE /faults/{id}` | removes it: `204`, or `404` |
//! | `POST /faults/{id}/renew` | renews its lease: `200`, `404`, or `409` when it has none |
//! | `DELETE /faults` | removes every fault, and every toxic of the TCP proxies: `200` and how many (new ones may be added at once) |
//! | `PUT /faults/halt` | the same, and refuses new faults and toxics (`423`) until lifted (`halt.rs`) |
//! | `GET /faults/halt` | whether halted, by whom, why and since when (`halt.rs`) |
//! | `DELETE /faults/halt` | lifts the halt (`halt.rs`) |
//!
//! Errors are JSON too: `{"error": "...", "problems": [{"field", "message"}]}`.
//! The id `halt` is reserved.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use ordo_config::fault::FaultSpec;
use ordo_fault::{AddError, Lease};
use serde::Serialize;
use tokio::time::Instant;

use super::{Proxied, gone};
use crate::fault::{AddFaultError, Fault};
use crate::proxy::Proxy;

/// Largest fault spec accepted, in bytes.
const MAX_BODY: usize = 256 * 1024;

pub(super) fn routes() -> Router<std::sync::Weak<Proxy>> {
    Router::new()
        .route("/faults", get(list).post(add).delete(remove_all))
        .route("/faults/{id}", get(one).delete(remove))
        .route("/faults/{id}/renew", post(renew))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// A fault as the API shows it.
#[derive(Debug, Serialize)]
struct FaultView {
    id: String,
    spec: FaultSpec,
    declared: bool,
    age_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_left_ms: Option<u64>,
    active: u32,
    injected: u64,
}

#[derive(Debug, Serialize)]
struct Problem {
    field: String,
    message: String,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<Problem>,
}

/// An error answer: `{"error": message, "problems": [{"field", "message"}]}`.
pub(super) fn error(
    status: StatusCode,
    message: impl Into<String>,
    problems: Vec<(String, String)>,
) -> Response {
    let body = ErrorBody {
        error: message.into(),
        problems: problems
            .into_iter()
            .map(|(field, message)| Problem { field, message })
            .collect(),
    };
    (status, Json(body)).into_response()
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// `lease` as the API shows it at `now`.
fn view(lease: &Lease<Fault>, now: Instant) -> FaultView {
    let info = lease.info(now);
    let mut spec = lease.value().spec.clone();
    spec.id = Some(info.id.clone());
    FaultView {
        id: info.id,
        spec,
        declared: info.declared,
        age_ms: ms(info.age),
        expires_in_ms: info.expires_in.map(ms),
        lease_ms: info.lease.map(ms),
        lease_left_ms: info.lease_left.map(ms),
        active: info.active,
        injected: info.injected,
    }
}

async fn list(axum::extract::State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let now = Instant::now();
    let all: Vec<FaultView> = p
        .faults()
        .leases
        .current()
        .iter()
        .filter(|l| l.is_live(now))
        .map(|l| view(l, now))
        .collect();
    Json(all).into_response()
}

/// The live fault `id` as the API shows it.
fn show(p: &Proxy, id: &str) -> Option<FaultView> {
    let now = Instant::now();
    p.faults().leases.get(id, now).map(|l| view(&l, now))
}

async fn one(axum::extract::State(p): Proxied, Path(id): Path<String>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    match show(&p, &id) {
        Some(v) => Json(v).into_response(),
        None => not_found(&id),
    }
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no active fault is named `{id}`"),
        Vec::new(),
    )
}

/// The answer to an add whose fault no longer applies by the time it is
/// answered: a halt (most likely), a `DELETE` or a remove-all came in
/// between, or its `ttl` or `lease` was shorter than the time to answer.
/// Not `201`, since the fault is not active, and not `404`, which would say
/// the client asked about a fault that never was.
fn gone_at_once(p: &Proxy, lease: &Lease<Fault>) -> Response {
    let id = lease.id();
    if !lease.is_removed() {
        return error(
            StatusCode::CONFLICT,
            format!(
                "fault `{id}` was added and expired before this answer: its ttl or lease is \
                 shorter than the time to answer"
            ),
            Vec::new(),
        );
    }
    match p.faults().halted() {
        Some(h) => error(
            StatusCode::LOCKED,
            format!(
                "fault `{id}` was added, then removed at once by a halt: {}",
                h.refusal("fault")
            ),
            Vec::new(),
        ),
        None => error(
            StatusCode::CONFLICT,
            format!(
                "fault `{id}` was added, then removed at once (a `DELETE`, a remove-all, or \
                 a halt since lifted, came in between); it is not active"
            ),
            Vec::new(),
        ),
    }
}

async fn add(axum::extract::State(p): Proxied, body: Bytes) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let spec = match FaultSpec::from_json(&body) {
        Ok(s) => s,
        Err((field, message)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body is not a fault spec",
                vec![(field, message)],
            );
        }
    };
    let problems = p.runtime().config().fault_problems(&spec);
    match p.faults().add(spec, problems) {
        Ok(lease) => {
            // Shown from the lease added, not looked up by id: another
            // client may have removed it and added one of the same id since.
            let now = Instant::now();
            if !lease.is_live(now) {
                return gone_at_once(&p, &lease);
            }
            (
                StatusCode::CREATED,
                [(header::LOCATION, format!("/faults/{}", lease.id()))],
                Json(view(&lease, now)),
            )
                .into_response()
        }
        Err(AddFaultError::Invalid(problems)) => error(
            StatusCode::BAD_REQUEST,
            "the fault spec is not valid",
            problems,
        ),
        Err(AddFaultError::Refused(e @ AddError::Duplicate(_))) => {
            error(StatusCode::CONFLICT, e.to_string(), Vec::new())
        }
        Err(AddFaultError::Refused(e @ AddError::TooMany(_))) => error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{e} (faults.max_faults)"),
            Vec::new(),
        ),
        Err(AddFaultError::Halted(h)) => error(StatusCode::LOCKED, h.refusal("fault"), Vec::new()),
    }
}

async fn remove(axum::extract::State(p): Proxied, Path(id): Path<String>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    if p.faults().remove(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found(&id)
    }
}

async fn renew(axum::extract::State(p): Proxied, Path(id): Path<String>) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    match p.faults().leases.renew(&id, Instant::now()) {
        Some(true) => match show(&p, &id) {
            Some(v) => Json(v).into_response(),
            None => not_found(&id),
        },
        Some(false) => error(
            StatusCode::CONFLICT,
            format!("fault `{id}` has no lease to renew (it ends at its ttl)"),
            Vec::new(),
        ),
        None => not_found(&id),
    }
}

#[derive(Debug, Serialize)]
struct Removed {
    removed: usize,
}

async fn remove_all(axum::extract::State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let faults = p.faults().remove_all();
    let toxics = p.tcp().clear_toxics().await;
    Json(Removed {
        removed: faults + toxics,
    })
    .into_response()
}

//! The request handler: routes `/health`, the control endpoint and upgrades,
//! then answers as the active [`Behaviour`] says.
//!
//! The Ok path allocates nothing of its own: the body and the `x-upstream`
//! value are built once per server and cloned by reference count.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::Notify;
use tokio::time::sleep;

use super::behaviour::{Behaviour, Profile};
use super::body::UpstreamBody;
use super::control;
use super::echo::Echoed;
use super::recorded::Recorded;
use super::state::{Active, Shared};
use super::upgrade;

/// Name of the header every response carries: the upstream's name.
pub const X_UPSTREAM: &str = "x-upstream";

const X_UPSTREAM_NAME: HeaderName = HeaderName::from_static(X_UPSTREAM);

/// Path of the health check; not counted in `hits`, not affected by behaviours.
pub(crate) const HEALTH_PATH: &str = "/health";

/// Path that opens an echo tunnel when asked with an HTTP/1.1 upgrade.
pub(crate) const WS_PATH: &str = "/ws";

/// Content-length a [`Behaviour::ResetMidBody`] response announces.
const MID_BODY_LEN: u64 = 1_000_000;
/// The part of it actually sent before the abort.
static MID_BODY_SENT: [u8; 16 * 1024] = [b'x'; 16 * 1024];
/// Pause between those bytes and the abort, so they reach the client first.
const MID_BODY_PAUSE: Duration = Duration::from_millis(10);

/// Why the upstream gave up on a connection instead of answering.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// A behaviour asked for the connection to be dropped.
    #[error("upstream resets the connection on purpose")]
    Reset,
    /// The client's request body broke off.
    #[error("reading the request body: {0}")]
    RequestBody(#[source] hyper::Error),
}

/// Answers one request. `kill` closes the whole connection when notified.
pub(crate) async fn respond(
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<UpstreamBody>, ServeError> {
    let path = req.uri().path();
    if path == HEALTH_PATH {
        return Ok(health(&shared));
    }
    if shared.control && path.starts_with(control::CONTROL_PREFIX) {
        return Ok(control::handle(&shared, req).await);
    }
    let _in_flight = shared.begin_request();
    if upgrade::is_upgrade(&req) {
        return Ok(upgrade::accept(&shared, req));
    }
    if path == WS_PATH {
        return Ok(reply(
            &shared,
            StatusCode::UPGRADE_REQUIRED,
            UpstreamBody::full(
                "/ws opens an echo tunnel: send `Connection: upgrade` and \
                 `Upgrade: websocket` over HTTP/1.1\n",
            ),
        ));
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(ServeError::RequestBody)?
        .to_bytes();
    let body_len = body.len();
    if shared.record {
        shared.record(Recorded {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
            body,
        });
    }
    let active = shared.active();
    apply(&shared, &active, &parts, body_len, &kill).await
}

/// Answers as `active.behaviour` says.
async fn apply(
    shared: &Shared,
    active: &Active,
    parts: &Parts,
    body_len: usize,
    kill: &Notify,
) -> Result<Response<UpstreamBody>, ServeError> {
    let response = match &active.behaviour {
        Behaviour::Ok => ok(shared),
        Behaviour::Status(code) => status(shared, *code),
        Behaviour::Delay(delay) => {
            sleep(*delay).await;
            ok(shared)
        }
        Behaviour::Reset => return Err(reset(kill)),
        Behaviour::ResetMidBody => reply(
            shared,
            StatusCode::OK,
            UpstreamBody::breaking(
                MID_BODY_LEN,
                Bytes::from_static(&MID_BODY_SENT),
                MID_BODY_PAUSE,
            ),
        ),
        Behaviour::FailRatio { status: code, .. } => {
            if active.fail.pick() {
                status(shared, *code)
            } else {
                ok(shared)
            }
        }
        Behaviour::ResetRatio(_) => {
            if active.reset.pick() {
                return Err(reset(kill));
            }
            ok(shared)
        }
        Behaviour::Echo => echo(shared, parts, body_len),
        Behaviour::Stream {
            chunks,
            chunk_bytes,
            every,
        } => reply(
            shared,
            StatusCode::OK,
            UpstreamBody::stream(Bytes::from(vec![b'x'; *chunk_bytes]), *chunks, *every),
        ),
        Behaviour::Capacity { service_time, .. } => {
            serve_in_slot(active, *service_time).await;
            ok(shared)
        }
        Behaviour::Profile(profile) => return apply_profile(shared, active, profile, kill).await,
        Behaviour::Forward(base) => forward(shared, base, parts).await,
    };
    Ok(response)
}

/// Calls the dependency at `base` with the request's path, inside the
/// request's FIT context, and answers with what it answered.
async fn forward(shared: &Shared, base: &str, parts: &Parts) -> Response<UpstreamBody> {
    use ordo_resilience::fit::{self, PropagateFitLayer};
    use tower::{Layer, ServiceExt};

    let target = format!(
        "{}{}",
        base.trim_end_matches('/'),
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let context = parts.headers.get(ordo_fault::fit::HEADER).cloned();
    let client = PropagateFitLayer.layer(shared.client.clone());
    let call = async move {
        let req = Request::get(&target)
            .body(http_body_util::Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = client.oneshot(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    // The context is the incoming request's: what the handler calls while
    // serving it carries the same scenarios.
    match fit::scope(context, call).await {
        Ok((status, body)) => reply(shared, status, UpstreamBody::full(body)),
        Err(e) => reply(
            shared,
            StatusCode::BAD_GATEWAY,
            UpstreamBody::full(format!("dependency failed: {e}\n")),
        ),
    }
}

/// The steps of a [`Profile`], in its documented order.
async fn apply_profile(
    shared: &Shared,
    active: &Active,
    profile: &Profile,
    kill: &Notify,
) -> Result<Response<UpstreamBody>, ServeError> {
    if let Some((_, service_time)) = profile.capacity {
        serve_in_slot(active, service_time).await;
    }
    if !profile.delay.is_zero() {
        sleep(profile.delay).await;
    }
    if active.reset.pick() {
        return Err(reset(kill));
    }
    if active.fail.pick() {
        return Ok(status(shared, profile.fail_status));
    }
    Ok(ok(shared))
}

/// Waits for a capacity slot (FIFO) and holds it for `service_time`.
async fn serve_in_slot(active: &Active, service_time: Duration) {
    let slots = active
        .slots
        .as_ref()
        .expect("Active::new creates slots for every behaviour with a capacity");
    let _slot = slots
        .acquire()
        .await
        .expect("the capacity semaphore is never closed");
    sleep(service_time).await;
}

/// Closes the connection: wakes the connection task, and fails the request so
/// hyper gives up on it too.
fn reset(kill: &Notify) -> ServeError {
    kill.notify_one();
    ServeError::Reset
}

/// `GET /health`: 200 "ok" or 503 "unhealthy".
fn health(shared: &Shared) -> Response<UpstreamBody> {
    if shared.health_check() {
        reply(shared, StatusCode::OK, UpstreamBody::full("ok"))
    } else {
        reply(
            shared,
            StatusCode::SERVICE_UNAVAILABLE,
            UpstreamBody::full("unhealthy"),
        )
    }
}

fn ok(shared: &Shared) -> Response<UpstreamBody> {
    reply(
        shared,
        StatusCode::OK,
        UpstreamBody::full(shared.ok_body.clone()),
    )
}

fn status(shared: &Shared, code: u16) -> Response<UpstreamBody> {
    match StatusCode::from_u16(code) {
        Ok(code) => reply(shared, code, UpstreamBody::full(shared.ok_body.clone())),
        Err(_) => reply(
            shared,
            StatusCode::INTERNAL_SERVER_ERROR,
            UpstreamBody::full(format!(
                "the test asked for status {code}, which is not a status code (100..=999)\n"
            )),
        ),
    }
}

fn echo(shared: &Shared, parts: &Parts, body_len: usize) -> Response<UpstreamBody> {
    let echoed = Echoed::new(&shared.name, parts, body_len);
    let json = serde_json::to_vec(&echoed).expect("Echoed holds only strings and numbers");
    let mut response = reply(shared, StatusCode::OK, UpstreamBody::full(json));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A response with `x-upstream` set.
pub(crate) fn reply(
    shared: &Shared,
    status: StatusCode,
    body: UpstreamBody,
) -> Response<UpstreamBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(X_UPSTREAM_NAME, shared.name_header.clone());
    response
}

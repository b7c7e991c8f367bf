//! The life of a request, in named steps:
//!
//! `route` → `admit` (bulkhead, adaptive limit, route circuit) →
//! `prepare` (hygiene, body kept for retries) → `attempts` (pick an
//! endpoint, its circuit, send under the per-try timeout, classify, retry
//! on another endpoint within the budget) under the route's timeout →
//! `respond` (the upstream's response streamed back, or a generated one
//! with `x-ordo-reason`, or the route's fallback).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::{PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use ordo_resilience::Rng;
use ordo_resilience::classify::Outcome;
use prometheus_client::metrics::counter::Counter;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::body::{Hold, Received, RequestBody, ResponseBody};
use super::h1::{ClientBody, OnClientUpgrade};
use super::headers::{self, Added, REQUEST_ID, RequestId, Scan};
use crate::cluster::{
    AttemptResult, Cluster, Endpoint, InFlight, Tried, UpstreamClient, hash_bytes,
};
use crate::fault::{Abort, FAULT_HEADER, Faults, Injection, Kind, RequestFaults};
use crate::metrics::{ProxyMetrics, ReasonLabels};
use crate::policy::{Fallback, RetryOn};
use crate::reason::{FALLBACK_HEADER, REASON_HEADER, Reason};
use crate::route::Route;
use crate::runtime::Runtime;
use crate::upstream::{RequestHead, SendError, Upgraded};

const X_FORWARDED_HOST: http::HeaderName = http::HeaderName::from_static("x-forwarded-host");
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");

/// State shared by every connection of every listener.
#[derive(Debug)]
pub struct Shared {
    pub(crate) runtime: ArcSwap<Runtime>,
    pub(crate) metrics: Arc<ProxyMetrics>,
    pub(crate) faults: Arc<Faults>,
    generated: [Counter; Reason::ALL.len()],
    rng: Rng,
}

impl Shared {
    pub(crate) fn new(runtime: Runtime, metrics: Arc<ProxyMetrics>, faults: Arc<Faults>) -> Self {
        Shared {
            faults,
            runtime: ArcSwap::from_pointee(runtime),
            generated: Reason::ALL.map(|r| {
                metrics
                    .generated
                    .get_or_create(&ReasonLabels { reason: r.as_str() })
                    .clone()
            }),
            metrics,
            rng: Rng::new(),
        }
    }

    /// A response ordo makes itself, counted by reason.
    fn generated(&self, reason: Reason) -> Response<ResponseBody> {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == reason) {
            self.generated[i].inc();
        }
        let mut resp = Response::new(ResponseBody::full(Bytes::from_static(
            reason.message().as_bytes(),
        )));
        *resp.status_mut() = reason.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(REASON_HEADER, reason.header_value());
        resp
    }
}

/// What a connection knows about itself.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    pub(crate) listener: Arc<str>,
    pub(crate) peer: SocketAddr,
    /// `peer`'s address as a header value, for `X-Forwarded-For`.
    pub(crate) peer_value: HeaderValue,
    pub(crate) tls: bool,
}

/// Serves one request.
pub(crate) async fn handle(
    shared: &Shared,
    conn: &ConnInfo,
    req: Request<ClientBody>,
) -> Response<ResponseBody> {
    let start = Instant::now();
    let runtime = shared.runtime.load_full();
    let (mut parts, body) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let listener = runtime.listener(&conn.listener);
    let scan = Scan::of(&parts.headers);
    let request_id = listener
        .is_none_or(|l| l.generate_request_id)
        .then(|| headers::request_id(&mut parts.headers, scan, &shared.rng));
    // A tunnel is not a request to forward: refused before any route.
    let route = if parts.method == Method::CONNECT {
        Err(Reason::ConnectNotSupported)
    } else {
        listener
            .and_then(|l| l.route(&parts).map(|r| (l, r)))
            .ok_or(Reason::NoRoute)
    };
    let (listener, route) = match route {
        Ok(found) => found,
        Err(reason) => {
            // Not forwarded: the client's header map serves the next head.
            crate::spare_maps::give(std::mem::take(&mut parts.headers));
            return outgoing(shared.generated(reason), request_id, head);
        }
    };
    let method = listener.access_log.then(|| parts.method.clone());
    // Without ids of its own, the access log names the client's.
    let parts_id = (listener.access_log && request_id.is_none())
        .then(|| parts.headers.get(REQUEST_ID).cloned())
        .flatten();
    let path = listener.access_log.then(|| parts.uri.path().to_owned());
    let (resp, info) = forward(
        start,
        shared,
        route,
        conn,
        scan,
        request_id.as_ref(),
        listener.forwarded_headers,
        parts,
        body,
        listener.max_request_body,
        listener.envoy_faults,
    )
    .await;
    let status = resp.status();
    route.by_class[usize::from((status.as_u16() / 100).clamp(1, 5)) - 1].inc();
    // The last attempt's end is the response's time when it came from one
    // (one clock read fewer per request).
    let elapsed = info
        .answered
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(start);
    route.duration.observe(elapsed);
    if let (Some(method), Some(path)) = (method, path) {
        tracing::info!(
            target: "ordo::access",
            listener = &*conn.listener,
            route = route.name(),
            client = %conn.peer.ip(),
            method = %method,
            path = %path,
            status = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1e3,
            attempts = info.attempts,
            upstream = info.endpoint.as_deref().unwrap_or("-"),
            reason = info.reason.map_or("-", Reason::as_str),
            request_id = request_id
                .as_ref()
                .map(RequestId::value)
                .or(parts_id.as_ref())
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-"),
        );
    }
    outgoing(resp, request_id, head)
}

/// What every answer gets on its way out: the request's id, and for a
/// `HEAD`, the shape of one ([`without_body`]).
fn outgoing(
    mut resp: Response<ResponseBody>,
    request_id: Option<RequestId>,
    head: bool,
) -> Response<ResponseBody> {
    if let Some(id) = request_id {
        resp.headers_mut().insert(REQUEST_ID, id.into_value());
    }
    if head {
        without_body(&mut resp);
    }
    resp
}

/// Makes a response ordo wrote whole (its own answer, a fallback, a
/// fault's) fit a `HEAD`: the body goes, and `content-length` says how long
/// it would have been, as an upstream's answer does. Both protocols' writers
/// then send the head alone. A streamed body (an upstream's) is left as it
/// is: its framing is the upstream's.
fn without_body(resp: &mut Response<ResponseBody>) {
    let Some(n) = resp.body().whole_length() else {
        return;
    };
    let status = resp.status();
    // No length belongs to these (nor a body, whatever was configured).
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    *resp.body_mut() = ResponseBody::full(Bytes::new());
}

/// What the access log says about a forwarded request.
#[derive(Debug, Default)]
struct Info {
    attempts: u32,
    endpoint: Option<Arc<str>>,
    reason: Option<Reason>,
    /// When the upstream's response head arrived, if one is passed on.
    answered: Option<Instant>,
    /// The fault that held the attempt whose result stands.
    fault: Option<Injection>,
}

/// Why the attempts ended without a response to pass on.
enum Failed {
    Local(Reason),
    Attempt(AttemptResult),
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    start: Instant,
    shared: &Shared,
    route: &Route,
    conn: &ConnInfo,
    scan: Scan,
    request_id: Option<&RequestId>,
    forwarded_headers: bool,
    mut parts: Parts,
    body: ClientBody,
    max_body: Option<u64>,
    envoy_faults: bool,
) -> (Response<ResponseBody>, Info) {
    let policy = &route.policy;
    let mut info = Info::default();
    // A timeout too long for the clock means no deadline worth keeping.
    let deadline = start
        .checked_add(policy.timeout)
        .unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 86_400));
    // Too large by its own account: refused before it takes any slot. (Not
    // a failure of the upstream, so never the route's fallback.)
    let length = body.size_hint().exact();
    if let (Some(max), Some(len)) = (max_body, length)
        && len > max
    {
        info.reason = Some(Reason::BodyTooLarge);
        return (shared.generated(Reason::BodyTooLarge), info);
    }
    let tripped = match (max_body, length) {
        (Some(_), None) if !body.is_end_stream() => Some(Arc::new(AtomicBool::new(false))),
        _ => None,
    };

    // admit
    let bulkhead = match &policy.bulkhead {
        Some(b) => match tokio::time::timeout_at(deadline, b.acquire()).await {
            Ok(Ok(p)) => Some(p),
            _ => return reject(shared, route, Reason::BulkheadFull, info),
        },
        None => None,
    };
    let limit = match &policy.limiter {
        Some(l) => match l.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => return reject(shared, route, Reason::ConcurrencyLimited, info),
        },
        None => None,
    };
    let circuit = match &policy.breaker {
        Some(b) => match b.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => return reject(shared, route, Reason::CircuitOpen, info),
        },
        None => None,
    };

    // prepare
    // The HTTP/1 server decided whether this is an upgrade (HTTP/1.1,
    // `Upgrade` named in `Connection`) and left the connection's hand-over
    // in the extensions.
    let on_client_upgrade = scan
        .upgrade
        .then(|| parts.extensions.remove::<OnClientUpgrade>())
        .flatten();
    let upgrade = on_client_upgrade.is_some();
    // A `Connection` header may name any header, even `Host`: what the
    // scan saw may be gone after the strip.
    let mut host = scan.host;
    if scan.connection_level {
        headers::strip_hop_by_hop(&mut parts.headers, upgrade);
        host = parts.headers.contains_key(header::HOST);
    }
    let client = forwarded_headers.then_some(&conn.peer_value);
    if !host
        && let Some(a) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        parts.headers.insert(header::HOST, v);
        host = true;
    }
    let added =
        headers::forwarding(&mut parts.headers, scan, request_id, client, conn.tls).with_host(host);
    let retry = &policy.retry;
    let may_retry = retry.max_attempts > 1 && !upgrade;
    let body = match prepare_body(
        body,
        &parts,
        may_retry,
        retry.max_buffered_body,
        tripped.as_ref(),
        max_body.unwrap_or(u64::MAX),
        deadline,
    )
    .await
    {
        Ok(b) => b,
        Err(reason) => return reject(shared, route, reason, info),
    };
    let idempotent = retry.non_idempotent || is_idempotent(&parts.method);
    let cluster = route.target.pick();
    let mut faults = RequestFaults::for_request(
        &shared.faults,
        route.name(),
        cluster.name(),
        &parts.headers,
        envoy_faults,
        start,
    );
    let hash = cluster
        .hash_header()
        .and_then(|h| parts.headers.get(h).or_else(|| added.get(h)))
        .map(|v| hash_bytes(v.as_bytes()));
    if let Some(b) = &retry.budget {
        b.deposit_at(start);
    }
    // Nothing waited since `start` (no bulkhead queue, no body read): the
    // first attempt leaves now, as far as the clock can tell.
    let unwaited = policy.bulkhead.is_none() && matches!(body, RequestBody::Empty);

    // attempts, under the route's timeout
    let attempts = attempts(
        route,
        cluster,
        &mut parts,
        &added,
        body,
        idempotent,
        upgrade,
        hash,
        &mut info,
        bulkhead,
        tripped.as_deref(),
        deadline,
        unwaited.then_some(start),
        faults.as_mut().map(|f| (&*shared.faults, f)),
    );
    // Every wait inside ends by the route's deadline: each attempt's own
    // timeout is at most it, and backoff stops at it.
    let result = attempts.await;
    // The request's head has gone out: its map serves the next request.
    crate::spare_maps::give(std::mem::take(&mut parts.headers));

    // respond
    // A fault that must not touch shared state leaves the route's circuit
    // and concurrency limit as they were.
    let unrecorded = info.fault.as_ref().is_some_and(|f| !f.record());
    let (circuit, limit) = if unrecorded {
        if let Some(p) = circuit {
            p.record(Outcome::Ignored);
        }
        if let Some(p) = limit {
            p.ignore();
        }
        (None, None)
    } else {
        (circuit, limit)
    };
    let (resp, info) = respond(
        shared,
        route,
        result,
        circuit,
        limit,
        tripped,
        upgrade,
        on_client_upgrade,
        info,
    );
    match &info.fault {
        Some(f) => (with_fault(resp, f), info),
        None => (resp, info),
    }
}

/// The answer: the upstream's response (or the fault's), ordo's own, or
/// the route's fallback; the route's circuit and limit told the outcome.
#[allow(clippy::too_many_arguments)]
fn respond(
    shared: &Shared,
    route: &Route,
    result: Result<Response<ResponseBody>, Failed>,
    circuit: Option<ordo_resilience::circuit_breaker::CallPermit<'_>>,
    limit: Option<ordo_resilience::limit::LimitPermit>,
    tripped: Option<Arc<AtomicBool>>,
    upgrade: bool,
    on_client_upgrade: Option<OnClientUpgrade>,
    mut info: Info,
) -> (Response<ResponseBody>, Info) {
    let policy = &route.policy;
    match result {
        Ok(resp) => {
            let status = resp.status();
            let failed = status.is_server_error();
            if let Some(p) = circuit {
                p.record(if failed {
                    Outcome::Failure
                } else {
                    Outcome::Success
                });
            }
            if let Some(p) = limit {
                if matches!(status.as_u16(), 429 | 503) {
                    p.dropped();
                } else {
                    p.success();
                }
            }
            if failed && let Some(f) = policy.fallback.as_ref().filter(|f| f.on_upstream_5xx) {
                return (fallback(f, None), info);
            }
            if upgrade && status == StatusCode::SWITCHING_PROTOCOLS {
                return (splice_upgrade(resp, on_client_upgrade), info);
            }
            (resp, info)
        }
        Err(_) if tripped.as_ref().is_some_and(|t| t.load(Ordering::Relaxed)) => {
            if let Some(p) = circuit {
                p.record(Outcome::Ignored);
            }
            if let Some(p) = limit {
                p.ignore();
            }
            info.reason = Some(Reason::BodyTooLarge);
            (shared.generated(Reason::BodyTooLarge), info)
        }
        Err(failed) => {
            let reason = match failed {
                Failed::Local(r) => {
                    // Nothing was sent: say nothing to the circuit.
                    if let Some(p) = circuit {
                        p.record(Outcome::Ignored);
                    }
                    if let Some(p) = limit {
                        p.ignore();
                    }
                    r
                }
                Failed::Attempt(a) => {
                    if let Some(p) = circuit {
                        p.record(Outcome::Failure);
                    }
                    if let Some(p) = limit {
                        if a == AttemptResult::Timeout {
                            p.dropped();
                        } else {
                            p.ignore();
                        }
                    }
                    match (a, info.reason) {
                        (_, Some(Reason::RetryBudgetExhausted)) => Reason::RetryBudgetExhausted,
                        (AttemptResult::Timeout, _) => Reason::UpstreamTimeout,
                        (AttemptResult::ConnectFailure, _) => Reason::ConnectFailure,
                        (AttemptResult::Malformed, _) => Reason::UpstreamProtocolError,
                        // The client's body broke off: its request, not the
                        // upstream, is at fault.
                        (AttemptResult::Cancelled, _) => Reason::BadRequest,
                        _ => Reason::UpstreamReset,
                    }
                }
            };
            reject(shared, route, reason, info)
        }
    }
}

/// The route's fallback if it has one, else ordo's own response.
fn reject(
    shared: &Shared,
    route: &Route,
    reason: Reason,
    mut info: Info,
) -> (Response<ResponseBody>, Info) {
    info.reason = Some(reason);
    match &route.policy.fallback {
        Some(f) if !reason.is_client_side() => (fallback(f, Some(reason)), info),
        _ => (shared.generated(reason), info),
    }
}

fn fallback(f: &Fallback, reason: Option<Reason>) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(f.body.clone()));
    *resp.status_mut() = f.status;
    *resp.headers_mut() = f.headers.clone();
    let h = resp.headers_mut();
    h.insert(FALLBACK_HEADER, HeaderValue::from_static("true"));
    h.insert(
        REASON_HEADER,
        reason.map_or(
            HeaderValue::from_static("upstream-5xx"),
            Reason::header_value,
        ),
    );
    resp
}

pub(crate) fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Keeps a small body whole so it can be sent again; streams the rest.
async fn prepare_body(
    body: ClientBody,
    parts: &Parts,
    may_retry: bool,
    max: u64,
    limit: Option<&Arc<AtomicBool>>,
    max_body: u64,
    deadline: Instant,
) -> Result<RequestBody, Reason> {
    if body.is_end_stream() {
        return Ok(RequestBody::Empty);
    }
    let len = body.size_hint().exact();
    match len {
        Some(0) => Ok(RequestBody::Empty),
        Some(n) if n > max_body => Err(Reason::BodyTooLarge),
        Some(n) if may_retry && n <= max && parts.headers.contains_key(header::CONTENT_LENGTH) => {
            let limited = http_body_util::Limited::new(body, n as usize);
            match tokio::time::timeout_at(deadline, limited.collect()).await {
                Ok(Ok(c)) => Ok(RequestBody::Full {
                    data: Some(c.to_bytes()),
                }),
                Ok(Err(_)) => Err(Reason::BadRequest),
                Err(_) => Err(Reason::RequestTimeout),
            }
        }
        None if limit.is_some() => Ok(RequestBody::Limited {
            inner: body,
            left: max_body,
            tripped: Arc::clone(limit.expect("checked")),
        }),
        _ => Ok(RequestBody::Stream { inner: body }),
    }
}

/// What the last attempt left, kept while the next one looks for an
/// endpoint: if none is left, this is the answer.
struct Previous {
    resp: Option<Response<Received>>,
    result: AttemptResult,
    in_flight: InFlight,
}

/// Tries endpoints until one answers acceptably or the retries run out.
/// Every attempt ends by the earlier of its per-try timeout and the route's
/// deadline, and is recorded against its endpoint either way.
#[allow(clippy::too_many_arguments)]
async fn attempts(
    route: &Route,
    cluster: &Arc<Cluster>,
    parts: &mut Parts,
    added: &Added<'_>,
    body: RequestBody,
    idempotent: bool,
    upgrade: bool,
    hash: Option<u64>,
    info: &mut Info,
    bulkhead: Option<ordo_resilience::bulkhead::BulkheadPermit>,
    body_tripped: Option<&AtomicBool>,
    deadline: Instant,
    mut first_sent: Option<Instant>,
    mut faults: Option<(&Faults, &mut RequestFaults)>,
) -> Result<Response<ResponseBody>, Failed> {
    let policy = &route.policy;
    let retry = &policy.retry;
    let mut tried = Tried::default();
    let mut body = Some(body);
    let mut bulkhead = bulkhead;
    let mut previous: Option<Previous> = None;
    let mut skips = 0u32;
    loop {
        info.attempts += 1;
        let last = info.attempts >= retry.max_attempts;
        let sent = first_sent.take().unwrap_or_else(Instant::now);
        let (endpoint, index) = match cluster.pick(tried, hash, sent) {
            Ok(e) => e,
            // Nowhere left to go: the last attempt's result stands.
            Err(reason) => {
                return match previous.take() {
                    Some(p) => finish(p.resp, p.result, p.in_flight, &mut bulkhead),
                    None => Err(Failed::Local(reason)),
                };
            }
        };
        let permit = match endpoint.breaker() {
            Some(b) => match b.try_acquire() {
                Ok(p) => Some(p),
                // Its probes are taken: another endpoint, if any.
                Err(_) => {
                    // Picked again although tried: nothing untried is left.
                    let exhausted = tried.has(index);
                    tried.add(index);
                    info.attempts -= 1;
                    skips += 1;
                    if exhausted || skips > 64 || tried_all(cluster, tried) {
                        return match previous.take() {
                            Some(p) => finish(p.resp, p.result, p.in_flight, &mut bulkhead),
                            None => Err(Failed::Local(Reason::CircuitOpen)),
                        };
                    }
                    continue;
                }
            },
            None => None,
        };
        // Another attempt goes out: the previous one's connection is let go.
        drop(previous.take());
        tried.add(index);
        info.endpoint = Some(endpoint.address_arc());
        // The body for this attempt; a copy stays behind for the next. When
        // no copy can be made this is the final attempt (for HTTP/2, the
        // headers then move instead of being copied too).
        let copy = body
            .as_ref()
            .and_then(|b| if last { None } else { b.try_clone() });
        let final_attempt = copy.is_none();
        let this_body = match copy {
            Some(copy) => copy,
            None => body.take().expect("a body remains while attempts remain"),
        };
        let in_flight = endpoint.start();
        let injection = faults
            .as_mut()
            .and_then(|(all, f)| f.for_attempt(all, endpoint.address(), sent));
        let all_faults = faults.as_ref().map(|(all, _)| *all);
        let injected = injection.as_ref();
        let (endpoint_ref, parts_ref) = (&endpoint, &mut *parts);
        // The fault's part runs before the send is even made, so the two
        // never share the request's state (it stays small).
        let call = async move {
            if let (Some(inj), Some(all)) = (injected, all_faults)
                && let Some(answer) = inject(inj, all).await
            {
                return answer;
            }
            send(
                cluster,
                endpoint_ref,
                parts_ref,
                added,
                this_body,
                final_attempt,
                idempotent,
                upgrade,
                sent,
            )
            .await
        };
        let attempt_deadline = match policy.per_try_timeout {
            Some(t) => sent.checked_add(t).map_or(deadline, |d| d.min(deadline)),
            None => deadline,
        };
        // Pinned where it is made: the timeout holds a reference, so the
        // attempt's state (a few KiB) is not copied into it.
        let outcome = {
            let call = std::pin::pin!(call);
            tokio::time::timeout_at(attempt_deadline, call)
                .await
                .unwrap_or(Err(AttemptResult::Timeout))
        };
        let done = Instant::now();
        let rtt = done.saturating_duration_since(sent);
        let (result, resp) = match outcome {
            Ok(resp) => (AttemptResult::Status(resp.status().as_u16()), Some(resp)),
            Err(r) => (r, None),
        };
        info.answered = resp.as_ref().map(|_| done);
        // A client that sent too much broke the attempt, not the endpoint.
        let result = match (result, body_tripped) {
            (AttemptResult::Reset, Some(t)) if t.load(Ordering::Relaxed) => {
                AttemptResult::Cancelled
            }
            (r, _) => r,
        };
        // A fault that must not touch shared state: the endpoint's
        // counters, balancer, outlier detection and circuit never see it.
        let recorded = injection.as_ref().is_none_or(Injection::record);
        if recorded {
            cluster.record(&endpoint, result, rtt, done);
        }
        if let Some(p) = permit {
            let outcome = match result {
                _ if !recorded => Outcome::Ignored,
                AttemptResult::Cancelled => Outcome::Ignored,
                r if r.is_failure() => Outcome::Failure,
                _ => Outcome::Success,
            };
            p.record_with_duration(outcome, rtt);
        }
        info.fault = injection;

        let retry_wanted = match result {
            AttemptResult::ConnectFailure => retry.on.has(RetryOn::CONNECT),
            AttemptResult::Reset | AttemptResult::Malformed => {
                retry.on.has(RetryOn::RESET) && idempotent
            }
            AttemptResult::Timeout => retry.on.has(RetryOn::PER_TRY_TIMEOUT) && idempotent,
            AttemptResult::Status(s) => idempotent && retry.retries_status(s),
            AttemptResult::Cancelled => false,
        };
        // No retry once the route's deadline has passed: there is no time
        // left for it.
        if retry_wanted && !last && body.is_some() && done < deadline {
            // A retry of a failure that shared state must not see is held
            // to the budget but does not spend it: other requests share it.
            let allowed = match &retry.budget {
                None => true,
                Some(b) if !recorded => b.balance() >= 1.0,
                Some(b) => b.try_withdraw(),
            };
            if allowed {
                route.retries.inc();
                previous = Some(Previous {
                    resp,
                    result,
                    in_flight,
                });
                let delay = retry.backoff.delay(info.attempts - 1, &retry.rng);
                if delay > Duration::ZERO {
                    let until = done
                        .checked_add(delay)
                        .map_or(deadline, |t| t.min(deadline));
                    tokio::time::sleep_until(until).await;
                    if until >= deadline {
                        return Err(Failed::Attempt(AttemptResult::Timeout));
                    }
                }
                continue;
            }
            route.budget_exhausted.inc();
            info.reason = Some(Reason::RetryBudgetExhausted);
        }
        return finish(resp, result, in_flight, &mut bulkhead);
    }
}

/// Whether every endpoint of the cluster was tried (or there are more than
/// the tried set can tell: then not).
fn tried_all(cluster: &Cluster, tried: Tried) -> bool {
    let n = cluster.endpoint_count();
    n <= 64 && (0..n).all(|i| tried.has(i))
}

/// The upstream's response, streamed back holding the endpoint's in-flight
/// count and the bulkhead slot; or the attempt's failure.
fn finish(
    resp: Option<Response<Received>>,
    result: AttemptResult,
    in_flight: InFlight,
    bulkhead: &mut Option<ordo_resilience::bulkhead::BulkheadPermit>,
) -> Result<Response<ResponseBody>, Failed> {
    match resp {
        Some(resp) => {
            let (mut head, incoming) = resp.into_parts();
            let upgrade = head.status == StatusCode::SWITCHING_PROTOCOLS;
            headers::strip_hop_by_hop(&mut head.headers, upgrade);
            let hold = Hold {
                _in_flight: Some(in_flight),
                _bulkhead: bulkhead.take(),
            };
            Ok(Response::from_parts(
                head,
                ResponseBody::upstream(incoming, hold),
            ))
        }
        None => Err(Failed::Attempt(result)),
    }
}

/// The fault's part of an attempt: its delay, then its answer in the
/// upstream's place; `None` when the attempt goes on to the upstream (no
/// abort, or a hang that ended because the fault was removed).
async fn inject(
    inj: &Injection,
    faults: &Faults,
) -> Option<Result<Response<Received>, AttemptResult>> {
    inj.delay(faults).await;
    match &inj.action().abort {
        None => None,
        Some(Abort::Hang) => {
            inj.hang().await;
            None
        }
        Some(Abort::Reset) => {
            inj.counters().count(Kind::Reset);
            Some(Err(AttemptResult::Reset))
        }
        Some(Abort::Status {
            status,
            headers,
            body,
        }) => {
            inj.counters().count(Kind::Abort);
            let mut resp = Response::new(Received::Full(body.clone()));
            *resp.status_mut() = *status;
            *resp.headers_mut() = headers.clone();
            Some(Ok(resp))
        }
        Some(Abort::Grpc { code, message }) => {
            inj.counters().count(Kind::Grpc);
            // Trailers-only: the status in the headers, no body.
            let mut resp = Response::new(Received::Full(Bytes::new()));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            h.insert(GRPC_STATUS, HeaderValue::from(*code));
            if let Some(m) = message {
                h.insert(GRPC_MESSAGE, m.clone());
            }
            Some(Ok(resp))
        }
    }
}

/// Marks a response a fault shaped, and slows its body down if the fault
/// limits bandwidth.
fn with_fault(mut resp: Response<ResponseBody>, f: &Injection) -> Response<ResponseBody> {
    resp.headers_mut().insert(FAULT_HEADER, f.header_value());
    match f.action().bandwidth {
        Some(rate) => {
            f.counters().count(Kind::Bandwidth);
            resp.map(|b| ResponseBody::throttled(b, rate))
        }
        None => resp,
    }
}

/// Joins the client's and the upstream's upgraded connections and copies
/// bytes both ways until either side closes.
fn splice_upgrade(
    mut resp: Response<ResponseBody>,
    client: Option<OnClientUpgrade>,
) -> Response<ResponseBody> {
    let (Some(client), Some(upstream)) = (client, resp.extensions_mut().remove::<Upgraded>())
    else {
        return resp;
    };
    tokio::spawn(async move {
        let (Some(mut client), Some((mut upstream, early, _open))) =
            (client.upgraded().await, upstream.take())
        else {
            return;
        };
        // What the upstream sent right after its 101 goes first.
        if !early.is_empty() && client.write_all(&early).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    resp
}

/// One attempt through the cluster's client: the response head, or what
/// the attempt came to. HTTP/1 borrows the client's parts; HTTP/2 needs a
/// request of its own (the headers move into the final attempt's).
#[allow(clippy::too_many_arguments)]
async fn send(
    cluster: &Cluster,
    endpoint: &Arc<Endpoint>,
    parts: &mut Parts,
    added: &Added<'_>,
    body: RequestBody,
    final_attempt: bool,
    idempotent: bool,
    upgrade: bool,
    sent: Instant,
) -> Result<Response<Received>, AttemptResult> {
    match &cluster.client {
        UpstreamClient::Http1(client) => {
            let head = RequestHead {
                method: &parts.method,
                target: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                headers: &parts.headers,
                added,
                upgrade,
                idempotent,
            };
            match client.send(endpoint, head, body, sent).await {
                Ok(resp) => Ok(resp.map(Received::Http1)),
                Err(SendError::Connect(_)) => Err(AttemptResult::ConnectFailure),
                Err(SendError::Reset(_)) => Err(AttemptResult::Reset),
                Err(SendError::Protocol(e)) => {
                    tracing::debug!(endpoint = endpoint.address(), error = %e, "malformed upstream response");
                    Err(AttemptResult::Malformed)
                }
                Err(SendError::RequestBody(_)) => Err(AttemptResult::Cancelled),
            }
        }
        UpstreamClient::Http2(client) => {
            let uri = Uri::builder()
                .scheme(Scheme::HTTP)
                .authority(endpoint.authority().clone())
                .path_and_query(
                    parts
                        .uri
                        .path_and_query()
                        .cloned()
                        .unwrap_or_else(|| PathAndQuery::from_static("/")),
                )
                .build()
                .map_err(|_| AttemptResult::Cancelled)?;
            let mut req = Request::new(body);
            *req.method_mut() = parts.method.clone();
            *req.uri_mut() = uri;
            *req.version_mut() = Version::HTTP_2;
            *req.headers_mut() = if final_attempt {
                std::mem::take(&mut parts.headers)
            } else {
                parts.headers.clone()
            };
            added.insert_into(req.headers_mut());
            // HTTP/2 carries the endpoint's address as `:authority`; the
            // name the client asked for goes along beside it.
            if let Some(host) = req.headers_mut().remove(header::HOST) {
                req.headers_mut().insert(X_FORWARDED_HOST, host);
            }
            match client.request(req).await {
                Ok(resp) => Ok(resp.map(Received::Http2)),
                Err(e) if e.is_connect() => Err(AttemptResult::ConnectFailure),
                Err(_) => Err(AttemptResult::Reset),
            }
        }
    }
}

//! [`ControlClient`]: the REST API from another process (sidecars, the CLI).
//!
//! One client keeps its connections alive between calls (hyper-util's pooled client) and
//! bounds every call by a timeout (10 s by default); a long-poll's timeout is its wait
//! plus [`LONG_POLL_MARGIN`]. Errors say what failed and how to fix it:
//!
//! ```text
//! cannot reach the control plane at http://127.0.0.1:7070: connection refused; is it running, and is this its address?
//! control plane answered 400: address: `nowhere` has no port; expected host:port, ...
//! ```
//!
//! A sidecar's loop, Eureka-style:
//!
//! ```no_run
//! # async fn demo() -> Result<(), ordo_control::ClientError> {
//! use std::time::Duration;
//! use ordo_control::{ControlClient, Registration};
//!
//! let client = ControlClient::new("http://127.0.0.1:7070")?.with_actor("sidecar/ratings-1");
//! let me = Registration::new("ratings-1", "ratings", "127.0.0.1:8081");
//! client.register(&me).await?;
//! loop {
//!     tokio::time::sleep(Duration::from_secs(10)).await;
//!     match client.heartbeat("ratings-1", None).await {
//!         Err(e) if e.is_not_found() => { client.register(&me).await?; } // forgotten: register again
//!         Err(e) => eprintln!("{e}"),
//!         Ok(_) => {}
//!     }
//! }
//! # }
//! ```
//!
//! And a watcher, which learns of each change to a service without polling:
//!
//! ```no_run
//! # async fn demo(client: ordo_control::ControlClient) -> Result<(), ordo_control::ClientError> {
//! # use std::time::Duration;
//! let mut index = 0;
//! loop {
//!     let listing = client.watch("ratings", index, Duration::from_secs(30)).await?;
//!     if listing.index != index {
//!         index = listing.index;
//!         // ... use listing.instances ...
//!     }
//! }
//! # }
//! ```

mod error;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::ClientError;

use crate::api::{ACTOR_HEADER, ErrorBody, Halted, MAX_WAIT};
use crate::audit::{AuditEntry, AuditPage, AuditQuery, AuditRecord, Order};
use crate::chaos::{ChaosStatus, KillNow};
use crate::registry::{Instance, Listing, Registered, Registration, Services, Status};

/// The default timeout of a call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much longer than its `wait` a long-poll may take before it times out.
pub const LONG_POLL_MARGIN: Duration = Duration::from_secs(5);
/// The largest answer the client reads (64 MiB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// A client of the control plane's REST API; cheap to clone (clones share connections).
#[derive(Debug, Clone)]
pub struct ControlClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    actor: Option<String>,
}

impl ControlClient {
    /// A client of the control plane at `base_url` (`http://127.0.0.1:7070`). Nothing
    /// is sent yet.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = base_url.trim_end_matches('/');
        let uri: http::Uri = base
            .parse()
            .map_err(|_| invalid("it does not parse as a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return Err(invalid(&format!("the scheme `{other}` is not supported"))),
            None => return Err(invalid("it has no scheme")),
        }
        if uri.host().is_none() {
            return Err(invalid("it has no host"));
        }
        if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
            return Err(invalid("it must not have a path or query"));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(DEFAULT_TIMEOUT));
        connector.set_nodelay(true);
        Ok(ControlClient {
            base: base.to_owned(),
            http: Client::builder(TokioExecutor::new()).build(connector),
            timeout: DEFAULT_TIMEOUT,
            actor: None,
        })
    }

    /// The same client with another per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client, naming `actor` as who makes its changes (the audit log's actor).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The control plane's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /health`: `Ok` when the control plane and its store answer.
    pub async fn health(&self) -> Result<(), ClientError> {
        self.call::<serde_json::Value>(Method::GET, "/health".into(), None, self.timeout)
            .await
            .map(drop)
    }

    /// `GET /v1/services`.
    pub async fn services(&self) -> Result<Services, ClientError> {
        self.json(Method::GET, "/v1/services".into(), None).await
    }

    /// `GET /v1/services?index=..&wait=..`: waits up to `wait` (at most 5 min) for the
    /// registry's index to differ from `after_index`.
    pub async fn watch_services(
        &self,
        after_index: u64,
        wait: Duration,
    ) -> Result<Services, ClientError> {
        let wait = wait.min(MAX_WAIT);
        let path = format!(
            "/v1/services?index={after_index}&wait={}ms",
            wait.as_millis()
        );
        self.call(Method::GET, path, None, wait + LONG_POLL_MARGIN)
            .await
    }

    /// `GET /v1/instances`, optionally one service's and only those with `status`.
    pub async fn instances(
        &self,
        service: Option<&str>,
        status: Option<Status>,
    ) -> Result<Listing, ClientError> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode(s)));
        }
        if let Some(s) = status {
            query.push(format!("status={s}"));
        }
        self.json(
            Method::GET,
            with_query("/v1/instances".into(), &query),
            None,
        )
        .await
    }

    /// `GET /v1/services/{service}/instances?index=..&wait=..`: waits up to `wait` (at
    /// most 5 min) for the service's index to differ from `after_index`, then returns
    /// its instances and index. Pass the index of the last answer to wait for the next
    /// change; 0 answers at once.
    pub async fn watch(
        &self,
        service: &str,
        after_index: u64,
        wait: Duration,
    ) -> Result<Listing, ClientError> {
        let wait = wait.min(MAX_WAIT);
        let path = format!(
            "/v1/services/{}/instances?index={after_index}&wait={}ms",
            encode(service),
            wait.as_millis()
        );
        self.call(Method::GET, path, None, wait + LONG_POLL_MARGIN)
            .await
    }

    /// `GET /v1/instances/{id}`; a `404` is an error with [`ClientError::is_not_found`].
    pub async fn instance(&self, id: &str) -> Result<Instance, ClientError> {
        self.json(Method::GET, format!("/v1/instances/{}", encode(id)), None)
            .await
    }

    /// `POST /v1/instances`: registers, or updates an existing registration.
    pub async fn register(&self, registration: &Registration) -> Result<Registered, ClientError> {
        let body = to_body(registration)?;
        let (status, instance) = self
            .exchange(
                Method::POST,
                "/v1/instances".into(),
                Some(body),
                self.timeout,
            )
            .await?;
        Ok(Registered {
            instance,
            created: status == StatusCode::CREATED,
        })
    }

    /// `PUT /v1/instances/{id}/heartbeat`, reporting `status` if given. A `404`
    /// ([`ClientError::is_not_found`]) means: register again.
    pub async fn heartbeat(
        &self,
        id: &str,
        status: Option<Status>,
    ) -> Result<Instance, ClientError> {
        let body = status
            .map(|s| to_body(&serde_json::json!({ "status": s })))
            .transpose()?;
        self.json(
            Method::PUT,
            format!("/v1/instances/{}/heartbeat", encode(id)),
            body,
        )
        .await
    }

    /// `PUT /v1/instances/{id}/override` with `Some(status)`, or
    /// `DELETE /v1/instances/{id}/override` with `None`.
    pub async fn set_override(
        &self,
        id: &str,
        status: Option<Status>,
    ) -> Result<Instance, ClientError> {
        let path = format!("/v1/instances/{}/override", encode(id));
        match status {
            Some(s) => {
                let body = to_body(&serde_json::json!({ "status": s }))?;
                self.json(Method::PUT, path, Some(body)).await
            }
            None => self.json(Method::DELETE, path, None).await,
        }
    }

    /// `DELETE /v1/instances/{id}`.
    pub async fn deregister(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/instances/{}", encode(id));
        self.exchange::<serde_json::Value>(Method::DELETE, path, None, self.timeout)
            .await
            .map(drop)
    }

    /// `POST /v1/audit`: returns once the record is committed.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord, ClientError> {
        let body = to_body(entry)?;
        self.json(Method::POST, "/v1/audit".into(), Some(body))
            .await
    }

    /// `GET /v1/audit` with `query`'s filters.
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, ClientError> {
        let mut q = Vec::new();
        for (name, value) in [("after", query.after), ("before", query.before)] {
            if let Some(v) = value {
                q.push(format!("{name}={v}"));
            }
        }
        if let Some(limit) = query.limit {
            q.push(format!("limit={limit}"));
        }
        for (name, value) in [
            ("actor", &query.actor),
            ("action", &query.action),
            ("target", &query.target),
        ] {
            if let Some(v) = value {
                q.push(format!("{name}={}", encode(v)));
            }
        }
        if query.order == Order::Asc {
            q.push("order=asc".into());
        }
        self.json(Method::GET, with_query("/v1/audit".into(), &q), None)
            .await
    }

    /// `GET /v1/chaos`: the Chaos Monkey's status.
    pub async fn chaos_status(&self) -> Result<ChaosStatus, ClientError> {
        self.json(Method::GET, "/v1/chaos".into(), None).await
    }

    /// `GET /v1/chaos/plan`: the blast radius, as JSON.
    pub async fn chaos_plan(&self) -> Result<serde_json::Value, ClientError> {
        self.json(Method::GET, "/v1/chaos/plan".into(), None).await
    }

    /// `POST /v1/chaos/pause`, `/resume`: sets the switch; the new status.
    pub async fn chaos_switch(&self, resume: bool) -> Result<ChaosStatus, ClientError> {
        let path = if resume {
            "/v1/chaos/resume"
        } else {
            "/v1/chaos/pause"
        };
        self.json(Method::POST, path.into(), None).await
    }

    /// `POST /v1/chaos/halt`: stops every kill and every fault.
    pub async fn chaos_halt(&self) -> Result<Halted, ClientError> {
        self.json(Method::POST, "/v1/chaos/halt".into(), None).await
    }

    /// `POST /v1/chaos/kill/{service}`: a kill now, through the guardrails.
    pub async fn chaos_kill_now(&self, service: &str) -> Result<KillNow, ClientError> {
        self.json(
            Method::POST,
            format!("/v1/chaos/kill/{}", encode(service)),
            None,
        )
        .await
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<Bytes>,
    ) -> Result<T, ClientError> {
        self.call(method, path, body, self.timeout).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        self.exchange(method, path, body, timeout)
            .await
            .map(|(_, v)| v)
    }

    /// Sends one request and reads its answer within `timeout`.
    async fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<(StatusCode, T), ClientError> {
        let request_name = format!("{method} {}", path.split('?').next().unwrap_or(&path));
        let protocol = |reason: String| ClientError::Protocol {
            base: self.base.clone(),
            request: request_name.clone(),
            reason,
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(actor) = &self.actor {
            builder = builder.header(ACTOR_HEADER, actor.as_str());
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| protocol(format!("cannot build the request: {e}")))?;
        let exchange = async {
            let response =
                self.http
                    .request(request)
                    .await
                    .map_err(|e| ClientError::Unreachable {
                        base: self.base.clone(),
                        reason: error::reason(&e),
                    })?;
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| ClientError::Unreachable {
                    base: self.base.clone(),
                    reason: format!("the answer broke off: {}", error::reason(&*e)),
                })?
                .to_bytes();
            Ok::<_, ClientError>((parts.status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                base: self.base.clone(),
                request: request_name.clone(),
                after: timeout,
            })??;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => ClientError::Api {
                    status: status.as_u16(),
                    error: e.error,
                    problems: e.problems,
                },
                Err(_) => ClientError::Api {
                    status: status.as_u16(),
                    error: String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
                        .trim()
                        .to_owned(),
                    problems: Vec::new(),
                },
            });
        }
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"null")
        } else {
            bytes
        };
        let value = serde_json::from_slice(&bytes).map_err(|e| protocol(e.to_string()))?;
        Ok((status, value))
    }
}

fn to_body<T: Serialize>(value: &T) -> Result<Bytes, ClientError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ClientError::Protocol {
            base: String::new(),
            request: "encoding a request".into(),
            reason: e.to_string(),
        })
}

fn with_query(path: String, query: &[String]) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_http_host_and_port() {
        assert!(ControlClient::new("http://127.0.0.1:7070/").is_ok());
        for bad in [
            "127.0.0.1:7070",
            "https://a:1",
            "http://a:1/v1",
            "not a url",
            "http://",
        ] {
            let e = ControlClient::new(bad).expect_err(bad);
            assert!(e.to_string().contains("use http://host:port"), "{e}");
        }
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("ratings-1.v2_x"), "ratings-1.v2_x");
        assert_eq!(encode("a b/c:d"), "a%20b%2Fc%3Ad");
    }
}

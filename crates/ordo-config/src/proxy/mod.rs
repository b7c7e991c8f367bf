//! The proxy's configuration: listeners with their routes, clusters of
//! endpoints, the admin listener.
//!
//! Every field has a default unless it says it is required, and every
//! struct refuses unknown fields, so a typo is an error rather than a
//! silently ignored setting.

mod cluster;
mod policy;
mod route;
mod tcp;

pub use cluster::{
    ClusterConfig, EndpointConfig, HealthCheckConfig, LoadBalancer, OutlierConfig, PoolConfig,
    SuccessRateConfig, UpstreamProtocol,
};
pub use policy::{
    BackoffConfig, BudgetConfig, BulkheadConfig, CircuitBreakerConfig, FallbackConfig,
    LimitAlgorithm, LimitConfig, PolicyConfig, RetryConfig, RetryOn, SlowCallConfig, WindowConfig,
};
pub(crate) use policy::{check_canned_body, check_canned_header, http_token};
pub use route::{HeaderMatch, PathMatch, RouteConfig, RouteMatch, WeightedCluster};
pub use tcp::{TOXIC_TYPES, TcpProxyConfig, ToxicSpec};

use std::collections::HashSet;
use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::fault::FaultsConfig;
use crate::validate::Problems;

/// The most a listener's `max_header_bytes` may be (8 MiB).
const MAX_HEADER_BYTES: u32 = 8 << 20;

/// The most a listener's `max_headers` may be: parsing a head reserves a
/// slot for each header allowed.
const MAX_HEADERS: u32 = 10_000;

/// A whole proxy: what it listens on, where it sends requests, how it
/// reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// The admin listener (`/ready`, `/live`, `/metrics`, `/config`,
    /// `/clusters`); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminConfig>,
    /// Where the proxy accepts requests. Required: at least one.
    pub listeners: Vec<ListenerConfig>,
    /// Groups of upstream endpoints that routes send requests to.
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// Log one JSON line per request (through tracing, target
    /// `ordo::access`). Off by default.
    #[serde(default)]
    pub access_log: bool,
    /// On SIGTERM, how long in-flight requests get to finish before the
    /// proxy exits anyway.
    #[serde(default = "defaults::drain_timeout")]
    pub drain_timeout: Duration,
    /// Failure injection: limits for faults added at runtime (admin API,
    /// `ordo fault add`) and faults declared here for test environments.
    #[serde(default)]
    pub faults: FaultsConfig,
    /// TCP proxies with toxics (databases, caches): more can be added at
    /// runtime through the admin API, which speaks Toxiproxy's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_proxies: Vec<TcpProxyConfig>,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address and port, e.g. `127.0.0.1:9901`. Required.
    pub address: String,
}

/// HTTP versions a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/1.1 (and 1.0).
    Http1,
    /// HTTP/2: with TLS through ALPN, in cleartext by prior knowledge.
    Http2,
}

/// One listening socket and the routes of the requests it accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// A name for metrics and logs. Required, unique.
    pub name: String,
    /// Address and port, e.g. `0.0.0.0:8080` or `"[::1]:8080"` (quoted:
    /// YAML reads an unquoted `[` as a list). Required.
    pub address: String,
    /// HTTP versions accepted. Default both.
    #[serde(default = "defaults::protocols")]
    pub protocols: Vec<HttpVersion>,
    /// Serve TLS with these certificates; cleartext when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// A client must send its first byte, and each request's whole header
    /// block, within this, or the connection is closed (slow-loris
    /// defence; checked every half of it, so a late head is cut off after
    /// at most 1.5 times it). Default `10s`.
    #[serde(default = "defaults::header_read_timeout")]
    pub header_read_timeout: Duration,
    /// A client connection that moves no bytes either way for this long is
    /// closed (after the response it may be waiting for; checked every
    /// half `header_read_timeout`). Default `90s`.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: Duration,
    /// Largest request header block in bytes; larger ones get `431`.
    /// Default 65536, at least 8192, at most 8388608 (8 MiB: a connection
    /// may buffer this much before its head is whole).
    #[serde(default = "defaults::max_header_bytes")]
    pub max_header_bytes: u32,
    /// Most request headers; more get `431`. Default 100, at most 10000.
    #[serde(default = "defaults::max_headers")]
    pub max_headers: u32,
    /// Largest request body in bytes; none when absent. A request whose
    /// `content-length` is larger gets `413` with `x-ordo-reason:
    /// request-body-too-large` before anything is sent upstream; a body
    /// without a length is cut off when it passes the limit, and the
    /// client gets the same `413` unless a response was already on its
    /// way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body: Option<u64>,
    /// Give every request an `x-request-id`: a client's own (visible ASCII,
    /// at most 128 bytes) is kept, any other is replaced by a new random
    /// one; the id goes upstream, into the access log, and back to the
    /// client on the response. When false, a client's `x-request-id`
    /// passes through untouched and none is made or added to the
    /// response. Default true.
    #[serde(default = "defaults::yes")]
    pub generate_request_id: bool,
    /// Append the client's address to `X-Forwarded-For` and set
    /// `X-Forwarded-Proto` (`http` or `https`) on every request sent
    /// upstream. When false, both pass through as the client sent them
    /// (for a listener behind another proxy that sets them, or to compare
    /// with a proxy configured without them). Default true.
    #[serde(default = "defaults::yes")]
    pub forwarded_headers: bool,
    /// Let clients ask for faults in request headers: `envoy` honours
    /// Envoy's `x-envoy-fault-*` headers (delay, abort, gRPC abort,
    /// percentages, response throughput), so tooling written for Envoy's
    /// fault filter works unchanged. None when absent: such headers are
    /// passed on untouched. For test environments only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_headers: Option<FaultHeaders>,
    /// Routes, tried in order; the first that matches takes the request.
    /// A request no route matches gets `404` with `x-ordo-reason:
    /// no-route`.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// Request headers a listener takes fault requests from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultHeaders {
    /// Envoy's fault filter headers.
    Envoy,
}

/// TLS certificates for a listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first. Required. A
    /// relative path is taken from the config file's folder.
    pub cert: String,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1). Required.
    pub key: String,
}

pub(crate) mod defaults {
    use super::HttpVersion;
    use crate::Duration;

    pub(crate) fn drain_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub(crate) fn protocols() -> Vec<HttpVersion> {
        vec![HttpVersion::Http1, HttpVersion::Http2]
    }
    pub(crate) fn idle_timeout() -> Duration {
        Duration::from_secs(90)
    }
    pub(crate) fn yes() -> bool {
        true
    }
    pub(crate) fn header_read_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub(crate) fn max_header_bytes() -> u32 {
        65536
    }
    pub(crate) fn max_headers() -> u32 {
        100
    }
}

impl ProxyConfig {
    /// Every problem with the settings, each with the path of its field
    /// (`listeners[0].routes[2].cluster`). Empty when the config is good.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Problems::default();
        self.check(&mut p);
        p.into_list()
    }

    fn check(&self, p: &mut Problems) {
        let admin = self.admin.as_ref().and_then(|admin| {
            let mut addr = None;
            p.at("admin", |p| {
                addr = check_socket_addr(p, "address", &admin.address)
            });
            addr
        });
        if self.listeners.is_empty() && self.tcp_proxies.is_empty() && self.admin.is_none() {
            p.push(
                "listeners",
                "at least one listener is required (or a TCP proxy, or an admin listener to add TCP proxies on)",
            );
        }
        let clusters: HashSet<&str> = self.clusters.iter().map(|c| c.name.as_str()).collect();
        let mut names = HashSet::new();
        let mut bound: Vec<(usize, SocketAddr)> = Vec::new();
        for (i, l) in self.listeners.iter().enumerate() {
            p.at(&format!("listeners[{i}]"), |p| {
                if !names.insert(l.name.as_str()) {
                    p.push("name", format!("`{}` names two listeners", l.name));
                }
                check_name(p, "name", &l.name);
                if let Some(addr) = check_socket_addr(p, "address", &l.address) {
                    if let Some((j, other)) = bound.iter().find(|(_, b)| overlap(*b, addr)) {
                        p.push(
                            "address",
                            format!("{addr} overlaps listeners[{j}]'s address {other}"),
                        );
                    }
                    if let Some(a) = admin.filter(|a| overlap(*a, addr)) {
                        p.push(
                            "address",
                            format!("{addr} overlaps the admin listener's address {a}"),
                        );
                    }
                    bound.push((i, addr));
                }
                if l.protocols.is_empty() {
                    p.push("protocols", "at least one of http1, http2");
                }
                if l.max_header_bytes < 8192 {
                    p.push(
                        "max_header_bytes",
                        format!("{} is below the minimum 8192", l.max_header_bytes),
                    );
                } else if l.max_header_bytes > MAX_HEADER_BYTES {
                    p.push(
                        "max_header_bytes",
                        format!(
                            "{} is above the maximum {MAX_HEADER_BYTES} (8 MiB)",
                            l.max_header_bytes
                        ),
                    );
                }
                if l.max_request_body == Some(0) {
                    p.push(
                        "max_request_body",
                        "must be at least 1 (leave it out for no limit)",
                    );
                }
                if l.max_headers == 0 {
                    p.push("max_headers", "must be at least 1");
                } else if l.max_headers > MAX_HEADERS {
                    p.push(
                        "max_headers",
                        format!("{} is above the maximum {MAX_HEADERS}", l.max_headers),
                    );
                }
                if l.idle_timeout.is_zero() {
                    p.push("idle_timeout", "must be more than zero");
                }
                if l.header_read_timeout.is_zero() {
                    p.push("header_read_timeout", "must be more than zero");
                }
                if let Some(tls) = &l.tls {
                    p.at("tls", |p| {
                        if tls.cert.is_empty() {
                            p.push("cert", "a PEM file path is required");
                        }
                        if tls.key.is_empty() {
                            p.push("key", "a PEM file path is required");
                        }
                    });
                }
                let mut route_names = HashSet::new();
                for (j, r) in l.routes.iter().enumerate() {
                    p.at(&format!("routes[{j}]"), |p| {
                        if !route_names.insert(r.name.as_str()) {
                            p.push(
                                "name",
                                format!("`{}` names two routes of this listener", r.name),
                            );
                        }
                        r.check(p, &clusters);
                    });
                }
            });
        }
        let mut seen = HashSet::new();
        for (i, c) in self.clusters.iter().enumerate() {
            p.at(&format!("clusters[{i}]"), |p| {
                if !seen.insert(c.name.as_str()) {
                    p.push("name", format!("`{}` names two clusters", c.name));
                }
                c.check(p);
            });
        }
        if self.drain_timeout.is_zero() {
            p.push("drain_timeout", "must be more than zero");
        }
        p.at("faults", |p| self.faults.check(p));
        let mut tcp_names = HashSet::new();
        for (i, t) in self.tcp_proxies.iter().enumerate() {
            p.at(&format!("tcp_proxies[{i}]"), |p| {
                t.check(p);
                if !tcp_names.insert(t.name.as_str()) {
                    p.push("name", format!("`{}` names two TCP proxies", t.name));
                }
                if let Ok(addr) = t.listen.parse::<SocketAddr>() {
                    if let Some((j, other)) = bound.iter().find(|(_, b)| overlap(*b, addr)) {
                        p.push(
                            "listen",
                            format!("{addr} overlaps listeners[{j}]'s address {other}"),
                        );
                    }
                    if let Some(a) = admin.filter(|a| overlap(*a, addr)) {
                        p.push(
                            "listen",
                            format!("{addr} overlaps the admin listener's address {a}"),
                        );
                    }
                }
            });
        }
        for (i, f) in self.faults.declared.iter().enumerate() {
            p.at(&format!("faults.declared[{i}].match"), |p| {
                self.check_fault_targets(p, &f.matches)
            });
        }
    }

    /// Every problem of `spec`, a fault to add at runtime: its own, and
    /// routes or clusters it names that this config does not have.
    pub fn fault_problems(&self, spec: &crate::fault::FaultSpec) -> Vec<(String, String)> {
        let mut p = Problems::default();
        spec.check(&mut p, Some(&self.faults));
        p.at("match", |p| self.check_fault_targets(p, &spec.matches));
        p.into_list()
    }

    fn check_fault_targets(&self, p: &mut Problems, m: &crate::fault::FaultMatch) {
        if let Some(r) = &m.route {
            p.check(
                self.listeners
                    .iter()
                    .any(|l| l.routes.iter().any(|x| &x.name == r)),
                "route",
                || format!("no route is named `{r}`"),
            );
        }
        if let Some(c) = &m.cluster {
            match self.clusters.iter().find(|x| &x.name == c) {
                None => p.push("cluster", format!("no cluster is named `{c}`")),
                Some(cluster) => {
                    if let Some(e) = &m.endpoint {
                        p.check(
                            cluster.endpoints.is_empty()
                                || cluster.endpoints.iter().any(|x| &x.address == e),
                            "endpoint",
                            || format!("cluster `{c}` has no endpoint `{e}`"),
                        );
                    }
                }
            }
        }
    }
}

/// Two listening addresses that cannot both be bound: the same port
/// (other than 0, which picks a free one) on the same address, or on any
/// address when either is unspecified (`0.0.0.0`, `[::]`).
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Checks a name used in metric labels and URLs.
pub(crate) fn check_name(p: &mut Problems, field: &str, name: &str) {
    if name.is_empty() {
        p.push(field, "must not be empty");
    } else if name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        p.push(
            field,
            format!("`{name}`: use at most 128 letters, digits, `-`, `_` or `.`"),
        );
    }
}

/// Checks an `ip:port` address and returns it.
pub(crate) fn check_socket_addr(p: &mut Problems, field: &str, addr: &str) -> Option<SocketAddr> {
    if addr.trim().is_empty() {
        p.push(
            field,
            "is empty; give an address and port such as `127.0.0.1:8080`",
        );
        return None;
    }
    match addr.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            p.push(
                field,
                format!(
                    "`{addr}` is not an address and port such as `127.0.0.1:8080` or `[::1]:8080`"
                ),
            );
            None
        }
    }
}

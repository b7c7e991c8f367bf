//! Fault specs: what failure to inject into which requests, and for how
//! long. The same type is a proxy config's `faults.declared[]` entry, the
//! body of `POST /faults` on the proxy's admin API, and what
//! `ordo fault add` sends.
//!
//! A fault is *scoped* (a route, a cluster or one endpoint of it, a FIT
//! scenario carried by the `x-ordo-fit` request header, header matchers,
//! a share of the matching requests), *bounded* (an expiry it cannot
//! outlive, a lease its owner must renew, a cap on requests faulted at
//! once), and says what happens: a delay, an abort (an HTTP status, a
//! connection reset, a gRPC status, or no answer at all), a response
//! bandwidth limit, or a delay followed by one of the others.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::proxy::HeaderMatch;
use crate::proxy::{check_canned_body, check_canned_header, check_name, http_token};
use crate::validate::Problems;

/// Longest id, scenario name and header value a fault spec may hold.
pub const MAX_NAME: usize = 64;
/// Largest abort body, in bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest delay a fault may inject (also the cap of a sampled delay).
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// One fault: where it applies, what it does, how long it lives.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// A name for the API, logs and metrics: letters, digits, `.`, `_`,
    /// `-`, at most 64. Made up when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Which requests the fault may touch; all that are given must hold.
    #[serde(default, rename = "match")]
    pub matches: FaultMatch,
    /// The share of matching requests faulted, 0 to 100 (fractions
    /// allowed). Default 100.
    #[serde(default = "defaults::percent")]
    pub percent: f64,
    /// Wait this long before going on (to the upstream, or to the abort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<DelaySpec>,
    /// Answer in the upstream's place: an HTTP status, a reset, a gRPC
    /// status, or nothing at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortSpec>,
    /// Slow the response body down to this rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<BandwidthSpec>,
    /// Whether the fault is decided once per request (`request`: every
    /// attempt of a faulted request is faulted, so retries cannot route
    /// around it) or for each attempt on its own (`attempt`: a retry may
    /// find a healthy attempt, as with a flaky dependency). Default
    /// `request`.
    #[serde(default)]
    pub per: FaultPer,
    /// Whether an injected failure is recorded by the state requests share
    /// (circuit breakers, outlier detection, the balancer's latency) as a
    /// real one would be. The request's own timeout and retries always see
    /// it. Default: `true`, but `false` for a fault scoped to a FIT
    /// scenario, so a tagged test never ejects an endpoint or opens a
    /// circuit for anyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<bool>,
    /// Most requests faulted at the same time; further matching requests
    /// pass untouched. Default: the proxy's `faults.max_active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active: Option<u32>,
    /// The fault is removed this long after it was added. Default: the
    /// proxy's `faults.default_ttl`; never more than `faults.max_ttl`.
    /// (Declared in config without one, it lives as long as the config.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// A lease: the fault is removed unless renewed (`POST
    /// /faults/{id}/renew`) within this, so it dies with the process that
    /// added it. None: not renewable, only `ttl` ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Duration>,
}

/// Which requests a fault may touch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultMatch {
    /// Only requests taken by a route of this name (any listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Only requests sent to this cluster (a dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Only attempts sent to this endpoint (`host:port`) of the cluster: a
    /// retry may go around it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Only requests carrying this FIT scenario in `x-ordo-fit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Header conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
}

/// How long a delay lasts: fixed, or drawn anew for each request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DelaySpec {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly between `min` and `max`.
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
    /// Normally distributed (cut off at zero and at one hour).
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
    /// Log-normally distributed: a long tail, as real latencies have.
    Lognormal {
        /// The median delay.
        median: Duration,
        /// The standard deviation of the delay's natural logarithm (0.5 is
        /// a moderate tail, 1.0 a long one), 0 to 5.
        sigma: f64,
    },
}

/// What answers in the upstream's place. Give exactly one of `status`,
/// `reset`, `grpc_status` and `hang`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortSpec {
    /// Answer with this HTTP status, 200 to 599.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The answer's body (with `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The answer's headers (with `status`); not the framing and
    /// hop-by-hop ones (`content-length`, `transfer-encoding`,
    /// `connection`, ...), which the proxy writes for each answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The connection to the upstream breaks before an answer, as when the
    /// upstream dies (`true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// Answer as a gRPC server failing the call: trailers-only, with this
    /// `grpc-status` (1 to 16; 14 is UNAVAILABLE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<u16>,
    /// `grpc-message` of the gRPC answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_message: Option<String>,
    /// Never answer: the request waits until its timeout or the client
    /// gives up (`true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hang: bool,
}

/// A response bandwidth limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BandwidthSpec {
    /// Response body bytes per second, at least 1.
    pub bytes_per_second: u64,
}

/// When a fault is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultPer {
    /// Once per request: all its attempts share the outcome.
    #[default]
    Request,
    /// For each attempt on its own.
    Attempt,
}

/// A proxy's fault settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultsConfig {
    /// The expiry of a fault added without `ttl`. Default `10m`.
    #[serde(default = "defaults::default_ttl")]
    pub default_ttl: Duration,
    /// The longest `ttl` a fault added at runtime may have. Default `1h`.
    #[serde(default = "defaults::max_ttl")]
    pub max_ttl: Duration,
    /// Most requests one fault may hold at once unless it says otherwise.
    /// Default 1000.
    #[serde(default = "defaults::max_active")]
    pub max_active: u32,
    /// Most faults at once (declared and added). Default 100.
    #[serde(default = "defaults::max_faults")]
    pub max_faults: u32,
    /// Faults that apply while this config is loaded (test environments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declared: Vec<FaultSpec>,
}

impl Default for FaultsConfig {
    fn default() -> Self {
        FaultsConfig {
            default_ttl: defaults::default_ttl(),
            max_ttl: defaults::max_ttl(),
            max_active: defaults::max_active(),
            max_faults: defaults::max_faults(),
            declared: Vec::new(),
        }
    }
}

mod defaults {
    use crate::Duration;

    pub(super) fn percent() -> f64 {
        100.0
    }
    pub(super) fn default_ttl() -> Duration {
        Duration::from_secs(600)
    }
    pub(super) fn max_ttl() -> Duration {
        Duration::from_secs(3600)
    }
    pub(super) fn max_active() -> u32 {
        1000
    }
    pub(super) fn max_faults() -> u32 {
        100
    }
}

impl FaultSpec {
    /// Parses a spec from JSON (the admin API's body); an error names the
    /// field and position.
    pub fn from_json(bytes: &[u8]) -> Result<FaultSpec, (String, String)> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let spec: FaultSpec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let field = if path == "." { String::new() } else { path };
            (field, inner.to_string())
        })?;
        de.end().map_err(|e| (String::new(), e.to_string()))?;
        Ok(spec)
    }

    /// Every problem of a fault added at runtime under `settings`, each
    /// with its field's path. Empty when the spec is good.
    pub fn problems(&self, settings: &FaultsConfig) -> Vec<(String, String)> {
        let mut p = Problems::default();
        self.check(&mut p, Some(settings));
        p.into_list()
    }

    /// Whether the fault records its failures in shared state (see
    /// [`FaultSpec::record`]).
    pub fn records(&self) -> bool {
        self.record.unwrap_or(self.matches.scenario.is_none())
    }

    /// Checks the spec; `runtime` holds the limits of a fault added at
    /// runtime (a declared one may go without a `ttl`).
    pub(crate) fn check(&self, p: &mut Problems, runtime: Option<&FaultsConfig>) {
        if let Some(id) = &self.id {
            check_token(p, "id", id);
        }
        p.at("match", |p| self.matches.check(p));
        p.check(
            self.percent.is_finite() && (0.0..=100.0).contains(&self.percent),
            "percent",
            || format!("must be 0 to 100, got {}", self.percent),
        );
        if self.delay.is_none() && self.abort.is_none() && self.bandwidth.is_none() {
            p.push(
                "",
                "a fault needs at least one of `delay`, `abort`, `bandwidth`",
            );
        }
        if let Some(d) = &self.delay {
            p.at("delay", |p| d.check(p));
        }
        if let Some(a) = &self.abort {
            p.at("abort", |p| a.check(p));
            if self.bandwidth.is_some() && !a.is_status() {
                p.push(
                    "bandwidth",
                    "only an abort with `status` has a body to slow down",
                );
            }
        }
        if let Some(b) = &self.bandwidth {
            p.check(
                b.bytes_per_second >= 1,
                "bandwidth.bytes_per_second",
                || "must be at least 1".to_owned(),
            );
        }
        if self.max_active == Some(0) {
            p.push(
                "max_active",
                "must be at least 1 (remove the fault to stop it)",
            );
        }
        if let Some(ttl) = self.ttl {
            p.check(!ttl.is_zero(), "ttl", || {
                "must be more than zero".to_owned()
            });
        }
        if let (Some(ttl), Some(limits)) = (self.ttl, runtime) {
            p.check(ttl <= limits.max_ttl, "ttl", || {
                format!(
                    "{ttl} is over the proxy's faults.max_ttl ({})",
                    limits.max_ttl
                )
            });
        }
        if let Some(lease) = self.lease {
            p.check(lease >= Duration::from_millis(100), "lease", || {
                format!("must be at least 100ms, got {lease}")
            });
            let ttl = self.ttl.or(runtime.map(|l| l.default_ttl));
            if let Some(ttl) = ttl {
                p.check(lease <= ttl, "lease", || {
                    format!("{lease} is longer than the fault's ttl ({ttl})")
                });
            }
        }
    }
}

impl FaultMatch {
    fn check(&self, p: &mut Problems) {
        if let Some(r) = &self.route {
            check_name(p, "route", r);
        }
        if let Some(c) = &self.cluster {
            check_name(p, "cluster", c);
        }
        if let Some(s) = &self.scenario {
            check_token(p, "scenario", s);
        }
        if let Some(e) = &self.endpoint {
            if self.cluster.is_none() {
                p.push("endpoint", "give the endpoint's `cluster` too");
            }
            p.check(
                e.rsplit_once(':')
                    .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok()),
                "endpoint",
                || format!("`{e}` is not host:port"),
            );
        }
        for (i, h) in self.headers.iter().enumerate() {
            p.at(&format!("headers[{i}]"), |p| h.check(p));
        }
    }
}

impl DelaySpec {
    fn check(&self, p: &mut Problems) {
        let within = |p: &mut Problems, field: &str, d: Duration| {
            p.check(d <= MAX_DELAY, field, || {
                format!("{d} is over the longest delay, {MAX_DELAY}")
            });
        };
        match self {
            DelaySpec::Fixed(d) => within(p, "fixed", *d),
            DelaySpec::Uniform { min, max } => {
                within(p, "uniform.max", *max);
                p.check(min <= max, "uniform.min", || {
                    format!("{min} is more than max ({max})")
                });
            }
            DelaySpec::Normal { mean, stddev } => {
                within(p, "normal.mean", *mean);
                within(p, "normal.stddev", *stddev);
            }
            DelaySpec::Lognormal { median, sigma } => {
                within(p, "lognormal.median", *median);
                p.check(!median.is_zero(), "lognormal.median", || {
                    "must be more than zero".to_owned()
                });
                p.check(
                    sigma.is_finite() && (0.0..=5.0).contains(sigma),
                    "lognormal.sigma",
                    || format!("must be 0 to 5, got {sigma}"),
                );
            }
        }
    }
}

impl AbortSpec {
    /// Whether it answers with an HTTP status (and a body).
    pub fn is_status(&self) -> bool {
        self.status.is_some()
    }

    fn check(&self, p: &mut Problems) {
        let kinds = usize::from(self.status.is_some())
            + usize::from(self.reset)
            + usize::from(self.grpc_status.is_some())
            + usize::from(self.hang);
        if kinds != 1 {
            p.push(
                "",
                "give exactly one of `status`, `reset`, `grpc_status`, `hang`",
            );
        }
        if let Some(s) = self.status {
            p.check((200..=599).contains(&s), "status", || {
                format!("must be 200 to 599, got {s}")
            });
        }
        if self.status.is_none() && (self.body.is_some() || !self.headers.is_empty()) {
            p.push("body", "`body` and `headers` go with `status`");
        }
        if let Some(b) = &self.body {
            p.check(b.len() <= MAX_BODY, "body", || {
                format!("{} bytes is over the limit of {MAX_BODY}", b.len())
            });
            if let Some(s) = self.status {
                check_canned_body(p, s, b);
            }
        }
        for (name, value) in &self.headers {
            p.check(
                http_token(name) && name.len() <= MAX_NAME,
                &format!("headers.{name}"),
                || "not a valid header name".to_owned(),
            );
            check_canned_header(p, name);
            p.check(
                value.len() <= 4096
                    && value
                        .bytes()
                        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)),
                &format!("headers.{name}"),
                || "a header value is printable ASCII, at most 4096 bytes".to_owned(),
            );
        }
        if let Some(g) = self.grpc_status {
            p.check((1..=16).contains(&g), "grpc_status", || {
                format!("must be 1 to 16, got {g}")
            });
        }
        if self.grpc_message.is_some() && self.grpc_status.is_none() {
            p.push("grpc_message", "goes with `grpc_status`");
        }
        if let Some(m) = &self.grpc_message {
            p.check(
                m.len() <= 1024 && m.bytes().all(|b| (b' '..=b'~').contains(&b)),
                "grpc_message",
                || "printable ASCII, at most 1024 bytes".to_owned(),
            );
        }
    }
}

impl FaultsConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        p.check(!self.default_ttl.is_zero(), "default_ttl", || {
            "must be more than zero".to_owned()
        });
        p.check(self.default_ttl <= self.max_ttl, "default_ttl", || {
            format!("{} is over max_ttl ({})", self.default_ttl, self.max_ttl)
        });
        p.check(self.max_active >= 1, "max_active", || {
            "must be at least 1".to_owned()
        });
        p.check(self.max_faults >= 1, "max_faults", || {
            "must be at least 1".to_owned()
        });
        if self.declared.len() > self.max_faults as usize {
            p.push(
                "declared",
                format!(
                    "{} faults are more than max_faults ({})",
                    self.declared.len(),
                    self.max_faults
                ),
            );
        }
        let mut ids = std::collections::HashSet::new();
        for (i, f) in self.declared.iter().enumerate() {
            p.at(&format!("declared[{i}]"), |p| {
                f.check(p, None);
                if let Some(id) = &f.id
                    && !ids.insert(id.as_str())
                {
                    p.push("id", format!("`{id}` names two faults"));
                }
            });
        }
    }
}

/// A name made of letters, digits, `.`, `_` and `-`, at most
/// [`MAX_NAME`] long.
fn check_token(p: &mut Problems, field: &str, v: &str) {
    p.check(
        !v.is_empty()
            && v.len() <= MAX_NAME
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        field,
        || format!("`{v}` must be 1 to {MAX_NAME} letters, digits, `.`, `_` or `-`"),
    );
}

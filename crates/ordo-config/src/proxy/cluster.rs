//! Clusters: groups of endpoints, how requests are spread over them, and
//! how their health is watched.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CircuitBreakerConfig;
use super::check_name;
use crate::Duration;
use crate::validate::Problems;

/// A group of interchangeable upstream endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// A name that routes refer to. Required, unique.
    pub name: String,
    /// Static endpoints. May be empty when a registry supplies them.
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// The HTTP version spoken to the endpoints. Default `http1`.
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// How an endpoint is picked for each attempt. Default `p2c_ewma`.
    #[serde(default)]
    pub load_balancer: LoadBalancer,
    /// Connection pool settings.
    #[serde(default)]
    pub pool: PoolConfig,
    /// A circuit breaker per endpoint: an endpoint whose circuit is open
    /// gets no requests until it half-opens. None when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// Active health checks; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
    /// Passive outlier ejection, on by default; `null` turns it off.
    #[serde(default = "defaults::outlier")]
    pub outlier_detection: Option<OutlierConfig>,
}

/// One upstream endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `ip:port` or `host:port`; an IPv6 address in brackets and quotes,
    /// `"[::1]:9000"`. Required.
    pub address: String,
    /// Relative share of requests, 1 to 10000, for the `weighted` and
    /// `consistent_hash` balancers. Default 1.
    #[serde(default = "defaults::weight")]
    pub weight: u32,
}

/// The HTTP version spoken to upstream endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with keep-alive.
    #[default]
    Http1,
    /// HTTP/2 by prior knowledge (cleartext).
    Http2,
}

/// Load-balancing algorithms.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LoadBalancer {
    /// Power of two choices over a peak-EWMA latency × requests in flight
    /// (linkerd's and Finagle's default).
    #[default]
    P2cEwma,
    /// Each endpoint in turn.
    RoundRobin,
    /// Power of two choices over requests in flight (Envoy's
    /// LEAST_REQUEST).
    LeastRequest,
    /// Random, in proportion to the endpoints' weights.
    Weighted,
    /// A hash ring over the endpoints (weighted); requests with the same
    /// header value go to the same endpoint while it is available.
    ConsistentHash {
        /// The header whose value is hashed. Requests without it are
        /// spread at random.
        header: String,
    },
}

/// Upstream connection pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Idle keep-alive connections kept per endpoint. Default 256.
    #[serde(default = "defaults::max_idle")]
    pub max_idle_per_endpoint: u32,
    /// An idle connection is closed after this. Default `90s`.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: Duration,
    /// Connecting to an endpoint fails after this. Default `1s`.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_idle_per_endpoint: defaults::max_idle(),
            idle_timeout: defaults::idle_timeout(),
            connect_timeout: defaults::connect_timeout(),
        }
    }
}

/// Active HTTP health checks: a GET to each endpoint every `interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// The path requested. Default `/health`.
    #[serde(default = "defaults::health_path")]
    pub path: String,
    /// Time between checks. Default `5s`.
    #[serde(default = "defaults::health_interval")]
    pub interval: Duration,
    /// A check that takes longer fails. Default `1s`.
    #[serde(default = "defaults::health_timeout")]
    pub timeout: Duration,
    /// Passed checks in a row that make an unhealthy endpoint healthy.
    /// Default 2.
    #[serde(default = "defaults::healthy_threshold")]
    pub healthy_threshold: u32,
    /// Failed checks in a row that make a healthy endpoint unhealthy.
    /// Default 3.
    #[serde(default = "defaults::unhealthy_threshold")]
    pub unhealthy_threshold: u32,
    /// Up to this much random time is added to each interval, so checks of
    /// many proxies do not arrive together. Default `0s`.
    #[serde(default)]
    pub jitter: Duration,
}

/// Passive outlier ejection, as Envoy's: endpoints that fail are taken out
/// of the balancer for a time that grows with each ejection, then return
/// by themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlierConfig {
    /// Eject after this many 5xx answers in a row (0 = off). Default 5.
    #[serde(default = "defaults::consecutive")]
    pub consecutive_5xx: u32,
    /// Eject after this many connect failures, resets or attempt timeouts
    /// in a row (0 = off).
    /// Default 5.
    #[serde(default = "defaults::consecutive")]
    pub consecutive_connect_failures: u32,
    /// How often success rates are compared and ejections expire. Default
    /// `10s`.
    #[serde(default = "defaults::outlier_interval")]
    pub interval: Duration,
    /// The first ejection lasts this; the n-th lasts n times as long.
    /// Default `30s`.
    #[serde(default = "defaults::base_ejection_time")]
    pub base_ejection_time: Duration,
    /// No ejection lasts longer. Default `300s`.
    #[serde(default = "defaults::max_ejection_time")]
    pub max_ejection_time: Duration,
    /// At most this percentage of the cluster is ejected at once (but one
    /// endpoint may always be). Default 10.
    #[serde(default = "defaults::max_ejection_percent")]
    pub max_ejection_percent: u32,
    /// Success-rate ejection; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<SuccessRateConfig>,
}

/// Eject endpoints whose success rate is far below the cluster's mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuccessRateConfig {
    /// Endpoints with enough requests needed to compare. Default 5.
    #[serde(default = "defaults::sr_minimum_hosts")]
    pub minimum_hosts: u32,
    /// Requests an endpoint needs in an interval to be judged. Default 100.
    #[serde(default = "defaults::sr_request_volume")]
    pub request_volume: u32,
    /// An endpoint below mean − factor × standard deviation is ejected.
    /// Default 1.9.
    #[serde(default = "defaults::sr_stdev_factor")]
    pub stdev_factor: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_5xx: defaults::consecutive(),
            consecutive_connect_failures: defaults::consecutive(),
            interval: defaults::outlier_interval(),
            base_ejection_time: defaults::base_ejection_time(),
            max_ejection_time: defaults::max_ejection_time(),
            max_ejection_percent: defaults::max_ejection_percent(),
            success_rate: None,
        }
    }
}

mod defaults {
    use super::OutlierConfig;
    use crate::Duration;

    pub(super) fn outlier() -> Option<OutlierConfig> {
        Some(OutlierConfig::default())
    }
    pub(super) fn weight() -> u32 {
        1
    }
    pub(super) fn max_idle() -> u32 {
        256
    }
    pub(super) fn idle_timeout() -> Duration {
        Duration::from_secs(90)
    }
    pub(super) fn connect_timeout() -> Duration {
        Duration::from_secs(1)
    }
    pub(super) fn health_path() -> String {
        "/health".to_owned()
    }
    pub(super) fn health_interval() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn health_timeout() -> Duration {
        Duration::from_secs(1)
    }
    pub(super) fn healthy_threshold() -> u32 {
        2
    }
    pub(super) fn unhealthy_threshold() -> u32 {
        3
    }
    pub(super) fn consecutive() -> u32 {
        5
    }
    pub(super) fn outlier_interval() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn base_ejection_time() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn max_ejection_time() -> Duration {
        Duration::from_secs(300)
    }
    pub(super) fn max_ejection_percent() -> u32 {
        10
    }
    pub(super) fn sr_minimum_hosts() -> u32 {
        5
    }
    pub(super) fn sr_request_volume() -> u32 {
        100
    }
    pub(super) fn sr_stdev_factor() -> f64 {
        1.9
    }
}

impl ClusterConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        check_name(p, "name", &self.name);
        let mut seen = std::collections::HashSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            p.at(&format!("endpoints[{i}]"), |p| {
                if let Some(problem) = endpoint_address_problem(&e.address) {
                    p.push("address", problem);
                }
                p.check(seen.insert(e.address.as_str()), "address", || {
                    format!("`{}` is listed twice", e.address)
                });
                p.check((1..=10_000).contains(&e.weight), "weight", || {
                    format!("must be 1 to 10000, got {}", e.weight)
                });
            });
        }
        if let LoadBalancer::ConsistentHash { header } = &self.load_balancer {
            p.check(
                super::policy::http_token(header),
                "load_balancer.consistent_hash.header",
                || format!("`{header}` is not a header name"),
            );
        }
        p.at("pool", |p| {
            p.check(
                !self.pool.connect_timeout.is_zero(),
                "connect_timeout",
                || "must be more than zero".into(),
            );
            p.check(!self.pool.idle_timeout.is_zero(), "idle_timeout", || {
                "must be more than zero".into()
            });
        });
        if let Some(cb) = &self.circuit_breaker {
            p.at("circuit_breaker", |p| cb.check(p));
        }
        if let Some(h) = &self.health_check {
            p.at("health_check", |p| {
                p.check(h.path.starts_with('/'), "path", || {
                    format!("`{}` must start with `/`", h.path)
                });
                p.check(!h.interval.is_zero(), "interval", || {
                    "must be more than zero".into()
                });
                p.check(!h.timeout.is_zero(), "timeout", || {
                    "must be more than zero".into()
                });
                p.check(h.timeout <= h.interval, "timeout", || {
                    format!("{} is longer than the interval {}", h.timeout, h.interval)
                });
                p.check(h.healthy_threshold >= 1, "healthy_threshold", || {
                    "must be at least 1".into()
                });
                p.check(h.unhealthy_threshold >= 1, "unhealthy_threshold", || {
                    "must be at least 1".into()
                });
            });
        }
        if let Some(o) = &self.outlier_detection {
            p.at("outlier_detection", |p| {
                p.check(!o.interval.is_zero(), "interval", || {
                    "must be more than zero".into()
                });
                p.check(
                    !o.base_ejection_time.is_zero(),
                    "base_ejection_time",
                    || "must be more than zero".into(),
                );
                p.check(
                    o.max_ejection_time >= o.base_ejection_time,
                    "max_ejection_time",
                    || {
                        format!(
                            "{} is below base_ejection_time {}",
                            o.max_ejection_time, o.base_ejection_time
                        )
                    },
                );
                p.check(
                    o.max_ejection_percent <= 100,
                    "max_ejection_percent",
                    || format!("must be 0 to 100, got {}", o.max_ejection_percent),
                );
                if let Some(sr) = &o.success_rate {
                    p.check(
                        sr.stdev_factor.is_finite() && sr.stdev_factor > 0.0,
                        "success_rate.stdev_factor",
                        || format!("must be more than 0, got {}", sr.stdev_factor),
                    );
                    p.check(sr.minimum_hosts >= 2, "success_rate.minimum_hosts", || {
                        "must be at least 2".into()
                    });
                    p.check(
                        sr.request_volume >= 1,
                        "success_rate.request_volume",
                        || "must be at least 1".into(),
                    );
                }
            });
        }
    }
}

/// What is wrong with an endpoint's `host:port`, if anything.
fn endpoint_address_problem(addr: &str) -> Option<String> {
    if let Some((scheme, rest)) = addr.split_once("://") {
        return Some(format!(
            "`{addr}`: write the address without `{scheme}://`, e.g. `{rest}`"
        ));
    }
    let port = match addr.strip_prefix('[') {
        Some(v6) => match v6.split_once("]:") {
            Some((ip, port)) if ip.parse::<std::net::Ipv6Addr>().is_ok() => port,
            _ => return Some(format!("`{addr}` is not `[ipv6]:port` (e.g. `[::1]:9000`)")),
        },
        None => match addr.rsplit_once(':') {
            Some((host, port)) if host_name_or_ipv4(host) => port,
            Some((host, _)) if host.contains(':') => {
                return Some(format!(
                    "`{addr}`: put an IPv6 address in brackets, e.g. `[::1]:9000`"
                ));
            }
            Some(_) => {
                return Some(format!(
                    "`{addr}` is not `host:port` (e.g. `127.0.0.1:9000`)"
                ));
            }
            None => return Some(format!("`{addr}` has no port; write e.g. `{addr}:80`")),
        },
    };
    match port.parse::<u16>() {
        Ok(0) => Some(format!(
            "`{addr}`: port 0 cannot be connected to; use 1 to 65535"
        )),
        Ok(_) => None,
        Err(_) => Some(format!("`{addr}`: `{port}` is not a port (1 to 65535)")),
    }
}

/// An IPv4 address or a DNS name.
fn host_name_or_ipv4(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>().is_ok()
        || (host.len() <= 253
            && host.trim_end_matches('.').split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }))
}

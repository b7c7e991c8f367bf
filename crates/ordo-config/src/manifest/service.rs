//! A service of the manifest: its command, replicas and health check, and
//! the dependencies it calls.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::proxy::{CircuitBreakerConfig, LoadBalancer, OutlierConfig, PolicyConfig};

/// One service: a command run as `replicas` instances, each with its own
/// port and sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// A name that dependencies and the edge refer to: letters, digits,
    /// `-`, `_`, `.`. Required, unique.
    pub name: String,
    /// The program: a path (relative to `dir`) or a name looked up on
    /// `PATH`. Required.
    pub command: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables, added to `ordo up`'s own. `PORT`,
    /// `ORDO_SERVICE`, `ORDO_INSTANCE` and the dependencies' variables
    /// are set by ordo and cannot be set here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The working directory, relative to the manifest's folder. Default
    /// the manifest's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// How many instances run, 0 to 1000. Default 1.
    #[serde(default = "defaults::replicas")]
    pub replicas: u32,
    /// How ordo tells that an instance is up.
    #[serde(default)]
    pub health: HealthConfig,
    /// The services this one calls, each through its sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<DependencyConfig>,
    /// Published with each instance in the registry. Chaos Monkey groups
    /// by `stack` and `cluster` (`grouping`) and never kills an instance
    /// whose `role` is `canary` or `baseline`. Keys 1 to 128 bytes, values
    /// up to 4096, at most 63 keys; `sidecar_admin` is set by ordo.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Opts the service in to Chaos Monkey (`chaos: {}`), with its own
    /// settings where given; not opted in when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<super::ServiceChaosConfig>,
}

/// An HTTP health check of each instance: `GET http://127.0.0.1:$PORT{path}`,
/// passing on 2xx and 3xx.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// The path requested. Default `/health`.
    #[serde(default = "defaults::health_path")]
    pub path: String,
    /// Time between checks. Default `1s`.
    #[serde(default = "defaults::health_interval")]
    pub interval: Duration,
    /// A check not answered in this time fails. Default `1s`, at most the
    /// interval.
    #[serde(default = "defaults::health_interval")]
    pub timeout: Duration,
    /// Passes in a row that make a down instance up again. Default 1.
    #[serde(default = "defaults::healthy_threshold")]
    pub healthy_threshold: u32,
    /// Failures in a row that make an up instance down; it is then
    /// restarted. Default 3.
    #[serde(default = "defaults::unhealthy_threshold")]
    pub unhealthy_threshold: u32,
    /// A new instance must pass its first check within this, or it is
    /// restarted. Default `30s`.
    #[serde(default = "defaults::start_timeout")]
    pub start_timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            path: defaults::health_path(),
            interval: defaults::health_interval(),
            timeout: defaults::health_interval(),
            healthy_threshold: defaults::healthy_threshold(),
            unhealthy_threshold: defaults::unhealthy_threshold(),
            start_timeout: defaults::start_timeout(),
        }
    }
}

/// A service another one calls. The caller's sidecar gets an outbound
/// listener for it, with this policy, whose URL the caller finds in an
/// environment variable; the sidecar learns the callee's instances from
/// the registry as they come and go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependencyConfig {
    /// The service called. Required.
    pub service: String,
    /// The variable holding the sidecar's URL for it (`http://127.0.0.1:PORT`).
    /// Default `ORDO_DEP_<SERVICE>_URL`, the name in capitals with `-`
    /// and `.` as `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The resilience policy of the calls (timeouts, retries within a
    /// budget, circuit breaker, bulkhead, fallback).
    #[serde(default)]
    pub policy: PolicyConfig,
    /// How an instance is picked. Default `p2c_ewma`.
    #[serde(default)]
    pub load_balancer: LoadBalancer,
    /// A circuit breaker per instance; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// Passive outlier ejection, on by default; `null` turns it off.
    #[serde(default = "super::defaults::outlier")]
    pub outlier_detection: Option<OutlierConfig>,
}

impl DependencyConfig {
    /// The variable holding the sidecar's URL for this dependency.
    pub fn env_name(&self) -> String {
        self.env
            .clone()
            .unwrap_or_else(|| dependency_env(&self.service))
    }
}

/// The default variable for a dependency's URL: `ORDO_DEP_<SERVICE>_URL`.
pub fn dependency_env(service: &str) -> String {
    let upper: String = service
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        })
        .collect();
    format!("ORDO_DEP_{upper}_URL")
}

/// A command run once before the services start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// The program. Required.
    pub command: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The working directory, relative to the manifest's folder. Default
    /// the manifest's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Environment variables added to `ordo up`'s own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// Restarts and stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// The wait before the first restart of a crashed instance; it
    /// doubles with each crash in a row. Default `500ms`.
    #[serde(default = "defaults::initial_backoff")]
    pub initial_backoff: Duration,
    /// The longest wait between restarts. Default `30s`.
    #[serde(default = "defaults::max_backoff")]
    pub max_backoff: Duration,
    /// A stopped instance gets `SIGTERM`, then `SIGKILL` after this.
    /// Default `10s`.
    #[serde(default = "defaults::stop_timeout")]
    pub stop_timeout: Duration,
}

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig {
            initial_backoff: defaults::initial_backoff(),
            max_backoff: defaults::max_backoff(),
            stop_timeout: defaults::stop_timeout(),
        }
    }
}

mod defaults {
    use crate::Duration;

    pub(super) fn replicas() -> u32 {
        1
    }
    pub(super) fn health_path() -> String {
        "/health".to_owned()
    }
    pub(super) fn health_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub(super) fn healthy_threshold() -> u32 {
        1
    }
    pub(super) fn unhealthy_threshold() -> u32 {
        3
    }
    pub(super) fn start_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn initial_backoff() -> Duration {
        Duration::from_millis(500)
    }
    pub(super) fn max_backoff() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn stop_timeout() -> Duration {
        Duration::from_secs(10)
    }
}

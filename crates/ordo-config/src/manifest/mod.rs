//! The manifest `ordo up` runs: the services of a fleet with their
//! commands, replicas and health checks, the dependencies each service
//! calls through its sidecar (with the resilience policy for each), the
//! edge listener in front of the entry service, and the control plane.
//!
//! ```yaml
//! name: bookstore
//! edge: { address: 127.0.0.1:8080, service: web }
//! services:
//!   - name: web
//!     command: ./web
//!     dependencies: [ { service: ratings } ]
//!   - name: ratings
//!     command: ./ratings
//!     replicas: 3
//! ```
//!
//! Each instance gets its own `PORT`; each dependency is reached through
//! the instance's own sidecar, whose URL arrives in an environment
//! variable (`ORDO_DEP_RATINGS_URL` above). Strings in `command`, `args`
//! and `env` may use `${NAME}` and `${NAME:-default}`, expanded when an
//! instance starts (`$$` is a `$`).

mod chaos;
mod check;
mod service;

pub use chaos::{
    ChaosConfig, ChaosWindowConfig, ExceptionConfig, Grouping, MIN_SLOT, MinHealthy, OutageConfig,
    ServiceChaosConfig, is_date, wildcard_match,
};
pub use service::{
    BuildConfig, DependencyConfig, HealthConfig, RestartConfig, ServiceConfig, dependency_env,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::proxy::{CircuitBreakerConfig, LoadBalancer, OutlierConfig, PolicyConfig};

/// The file `ordo up` reads when given a folder.
pub const MANIFEST_FILE: &str = "ordo.yaml";

/// A fleet: what `ordo up` starts and how its parts reach each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The fleet's name, in logs and the audit log. Required.
    pub name: String,
    /// A command run once before any service starts, such as a build;
    /// none when absent. `ordo up` stops if it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    /// The control plane: the instance registry, its API and its store.
    #[serde(default)]
    pub control: ControlConfig,
    /// The listener in front of the entry service; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeConfig>,
    /// The services. Required: at least one.
    pub services: Vec<ServiceConfig>,
    /// How crashed instances are restarted and stopped ones given time.
    #[serde(default)]
    pub restart: RestartConfig,
    /// Chaos Monkey: random kills of opted-in services' instances in
    /// working hours. Off when absent.
    #[serde(default)]
    pub chaos: ChaosConfig,
}

/// The control plane `ordo up` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Where its REST API listens. Default `127.0.0.1:7070`; port 0 picks
    /// a free port.
    #[serde(default = "defaults::control_address")]
    pub address: String,
    /// Its data folder (the SQLite store, the instances' logs), relative
    /// to the manifest's folder. Default `.ordo`.
    #[serde(default = "defaults::data")]
    pub data: String,
    /// An instance that sends no heartbeat for this long leaves the
    /// registry. Default `10s`.
    #[serde(default = "defaults::lease")]
    pub lease: Duration,
    /// How often each sidecar renews its instance's lease. Default `2s`;
    /// at most a third of the lease, so one lost heartbeat never expires
    /// a healthy instance.
    #[serde(default = "defaults::heartbeat")]
    pub heartbeat: Duration,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            address: defaults::control_address(),
            data: defaults::data(),
            lease: defaults::lease(),
            heartbeat: defaults::heartbeat(),
        }
    }
}

/// The edge listener: a proxy in front of the entry service, with the
/// same policy and balancing settings as a dependency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Where users' requests arrive. Default `127.0.0.1:8080`; port 0
    /// picks a free port.
    #[serde(default = "defaults::edge_address")]
    pub address: String,
    /// The entry service. Required.
    pub service: String,
    /// The resilience policy of requests through the edge.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// How an instance is picked. Default `p2c_ewma`.
    #[serde(default)]
    pub load_balancer: LoadBalancer,
    /// A circuit breaker per instance; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// Passive outlier ejection, on by default; `null` turns it off.
    #[serde(default = "defaults::outlier")]
    pub outlier_detection: Option<OutlierConfig>,
}

pub(crate) mod defaults {
    use crate::Duration;
    use crate::proxy::OutlierConfig;

    pub(crate) fn control_address() -> String {
        "127.0.0.1:7070".to_owned()
    }
    pub(crate) fn edge_address() -> String {
        "127.0.0.1:8080".to_owned()
    }
    pub(crate) fn data() -> String {
        ".ordo".to_owned()
    }
    pub(crate) fn lease() -> Duration {
        Duration::from_secs(10)
    }
    pub(crate) fn heartbeat() -> Duration {
        Duration::from_secs(2)
    }
    pub(crate) fn outlier() -> Option<OutlierConfig> {
        Some(OutlierConfig::default())
    }
}

impl Manifest {
    /// Every problem with the manifest, each with the path of its field
    /// (`services[1].dependencies[0].service`). Empty when it is good.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = crate::validate::Problems::default();
        self.check(&mut p);
        p.into_list()
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The services in an order that starts every dependency before the
    /// services that call it (the manifest's order where it is free).
    /// Assumes a valid manifest (no cycles); a service in a cycle comes
    /// after the others.
    pub fn start_order(&self) -> Vec<&ServiceConfig> {
        let mut done: Vec<&ServiceConfig> = Vec::with_capacity(self.services.len());
        while done.len() < self.services.len() {
            let before = done.len();
            for s in &self.services {
                let placed = |n: &str| done.iter().any(|d| d.name == n);
                if !placed(&s.name)
                    && s.dependencies
                        .iter()
                        .all(|d| placed(&d.service) || self.service(&d.service).is_none())
                {
                    done.push(s);
                }
            }
            if done.len() == before {
                // A cycle: place the rest as written.
                for s in &self.services {
                    if !done.iter().any(|d| d.name == s.name) {
                        done.push(s);
                    }
                }
            }
        }
        done
    }
}

impl crate::Validate for Manifest {
    fn problems(&self) -> Vec<(String, String)> {
        Manifest::problems(self)
    }

    fn when_empty() -> &'static str {
        "is empty: a manifest needs at least `name` and `services`"
    }
}

/// The JSON Schema of the manifest, as shipped in
/// `docs/ordo-manifest.schema.json`.
pub fn manifest_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Manifest);
    serde_json::to_value(schema).expect("a schema is plain JSON")
}

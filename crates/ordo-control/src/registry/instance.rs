//! The registry's public data: statuses, registrations, instances and summaries.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An instance's status, with Eureka's names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Serving: proxies send it traffic.
    Up,
    /// Not serving: its health check fails.
    Down,
    /// Started but not yet healthy.
    Starting,
    /// Taken out of rotation on purpose (usually by an operator's override); healthy or
    /// not, it gets no traffic.
    OutOfService,
}

impl Status {
    /// Every status, in a stable order.
    pub const ALL: [Status; 4] = [
        Status::Up,
        Status::Down,
        Status::Starting,
        Status::OutOfService,
    ];

    /// The name used in JSON and in the store: `UP`, `DOWN`, `STARTING`, `OUT_OF_SERVICE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Starting => "STARTING",
            Status::OutOfService => "OUT_OF_SERVICE",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    /// Parses a status name, ignoring ASCII case (`UP`, `up`, `out_of_service`).
    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("`{s}` is not a status; use UP, DOWN, STARTING or OUT_OF_SERVICE")
            })
    }
}

/// What an instance sends to register (or to re-register, which updates it).
///
/// ```
/// use std::time::Duration;
/// use ordo_control::{Registration, Status};
///
/// let r = Registration::new("ratings-1", "ratings", "127.0.0.1:8081")
///     .status(Status::Starting)
///     .metadata("version", "1.4.2")
///     .lease(Duration::from_secs(10));
/// assert!(r.problems().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The instance's id, unique in the registry: 1 to 128 characters from
    /// `A-Z a-z 0-9 . _ : -`.
    pub id: String,
    /// The service it belongs to: same characters as `id`; lowercase is recommended.
    pub service: String,
    /// Where it listens: `host:port` (`127.0.0.1:8081`, `[::1]:8081`, `ratings.local:80`).
    pub address: String,
    /// The status it reports; `UP` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Free-form labels: at most 64 keys, keys up to 128 bytes, values up to 4096 bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// How long the registration lives without a heartbeat, in milliseconds: 1000 to
    /// 3600000; the control plane's default (30 s unless configured) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
}

impl Registration {
    /// A registration reporting `UP`, with no metadata and the default lease.
    pub fn new(
        id: impl Into<String>,
        service: impl Into<String>,
        address: impl Into<String>,
    ) -> Self {
        Registration {
            id: id.into(),
            service: service.into(),
            address: address.into(),
            status: None,
            metadata: BTreeMap::new(),
            lease_ms: None,
        }
    }

    /// Reports `status` instead of `UP`.
    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a metadata label.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Asks for a lease of `lease` (whole milliseconds).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease_ms = Some(crate::clock::millis(lease));
        self
    }

    /// Every problem with this registration (empty when it is valid).
    pub fn problems(&self) -> Vec<crate::Problem> {
        super::validate::registration(self)
    }
}

/// An instance as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Instance {
    /// Its id.
    pub id: String,
    /// Its service.
    pub service: String,
    /// Where it listens (`host:port`).
    pub address: String,
    /// The status that counts: the override if one is set, otherwise the reported one.
    pub status: Status,
    /// What the instance itself last reported.
    pub reported_status: Status,
    /// An operator's override, which wins over heartbeats until cleared.
    #[serde(rename = "override")]
    pub override_status: Option<Status>,
    /// Its labels.
    pub metadata: BTreeMap<String, String>,
    /// Its lease, in milliseconds.
    pub lease_ms: u64,
    /// When it first registered (RFC 3339, UTC, milliseconds).
    pub registered_at: String,
    /// Its last heartbeat or registration (RFC 3339, UTC, milliseconds).
    pub last_heartbeat: String,
    /// Time left on its lease, in milliseconds (0: it lapsed and is about to be evicted).
    pub expires_in_ms: u64,
}

/// The result of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The instance as registered.
    pub instance: Instance,
    /// `true` when the id was new, `false` when an existing registration was updated.
    pub created: bool,
}

/// Instances and the change index they were read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Listing {
    /// The change index: pass it back as `index` to wait for the next change. For a
    /// listing of one service it is that service's index.
    pub index: u64,
    /// The instances, ordered by id.
    pub instances: Vec<Instance>,
}

/// One service's instances, counted by effective status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceSummary {
    /// The service's name.
    pub name: String,
    /// All its instances.
    pub total: u32,
    /// Instances `UP`.
    pub up: u32,
    /// Instances `DOWN`.
    pub down: u32,
    /// Instances `STARTING`.
    pub starting: u32,
    /// Instances `OUT_OF_SERVICE`.
    pub out_of_service: u32,
}

/// Every service with at least one instance, and the change index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Services {
    /// The registry's change index.
    pub index: u64,
    /// The services, ordered by name.
    pub services: Vec<ServiceSummary>,
}

/// Which instances to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceQuery {
    /// Only this service's instances (and this service's change index).
    pub service: Option<String>,
    /// Only instances whose effective status is this.
    pub status: Option<Status>,
}

impl InstanceQuery {
    /// Every instance of `service`.
    pub fn service(service: impl Into<String>) -> Self {
        InstanceQuery {
            service: Some(service.into()),
            status: None,
        }
    }

    /// The same query, keeping only instances whose effective status is `status`.
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }
}

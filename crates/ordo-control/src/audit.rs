//! The audit log: an append-only record of every action any component takes.
//!
//! The registry writes its own entries (see [`actions`]); other components (the platform
//! starting and killing processes, the Chaos Monkey before it kills, an operator's CLI)
//! append theirs through [`AuditLog::append`] or `POST /v1/audit`. An append returns only
//! after its record is committed to SQLite, so a component that writes its intent
//! first and then acts never acts unrecorded. Records are never changed or removed:
//! triggers in the database refuse `UPDATE` and `DELETE` on the table.
//!
//! ```no_run
//! # async fn demo(plane: ordo_control::ControlPlane) -> Result<(), ordo_control::AuditError> {
//! use ordo_control::{AuditEntry, AuditQuery};
//!
//! let record = plane
//!     .audit()
//!     .append(AuditEntry::new("chaos-monkey", "kill-intent", "ratings-2"))
//!     .await?;
//! let newest = plane.audit().query(&AuditQuery::default()).await?;
//! assert_eq!(newest.records[0].id, record.id);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::{self, Problem};
use crate::store::{Store, StoreError};

/// The actions the registry itself records, with the `detail` each carries.
pub mod actions {
    /// An instance registered for the first time (`service`, `address`, `status`,
    /// `lease_ms`, `metadata`).
    pub const REGISTERED: &str = "registered";
    /// A re-registration changed an instance's service, address, metadata or lease
    /// (`changed`: the fields' names, and their new values).
    pub const UPDATED: &str = "updated";
    /// An instance's effective status changed (`from`, `to`, `reported`, `override`).
    pub const STATUS_CHANGED: &str = "status-changed";
    /// An operator set a status override (`status`, `previous`).
    pub const OVERRIDE_SET: &str = "override-set";
    /// An operator cleared a status override (`previous`).
    pub const OVERRIDE_CLEARED: &str = "override-cleared";
    /// An instance deregistered (`service`, `address`).
    pub const DEREGISTERED: &str = "deregistered";
    /// An instance's lease lapsed and the sweeper evicted it (`service`, `address`,
    /// `lease_ms`, `last_heartbeat`).
    pub const LEASE_EXPIRED: &str = "lease-expired";
    /// The control plane opened its store (`restored`, `forgotten`, `index`).
    pub const CONTROL_STARTED: &str = "control-started";
    /// Restored instances were dropped on open, as asked (`count`).
    pub const INSTANCES_FORGOTTEN: &str = "instances-forgotten";
    /// The actor of entries the registry writes on its own (evictions, start-up).
    pub const REGISTRY_ACTOR: &str = "registry";
}

/// Longest `actor` or `action`, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest `target`, in bytes.
pub const MAX_TARGET_LEN: usize = 256;
/// Largest `detail`, serialized as JSON, in bytes.
pub const MAX_DETAIL_LEN: usize = 16 * 1024;
/// Records a query returns when it sets no limit.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most records one query returns.
pub const MAX_LIMIT: u32 = 1000;

/// What to record: who did what to what, with any JSON detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Who acts: a component (`registry`, `chaos-monkey`, `platform`) or a person.
    /// 1 to 64 bytes, no control characters.
    pub actor: String,
    /// What it does, in kebab-case (`kill-intent`, `override-set`). 1 to 64 bytes.
    pub action: String,
    /// What it acts on (an instance id, a service name); up to 256 bytes, may be empty.
    #[serde(default)]
    pub target: String,
    /// Anything else worth keeping, as JSON; at most 16 KiB serialized.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// An entry with no detail.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        AuditEntry {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            detail: serde_json::Value::Null,
        }
    }

    /// The same entry with `detail`.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Every problem with this entry's fields.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        name_problems("actor", &self.actor, MAX_NAME_LEN, false, &mut out);
        name_problems("action", &self.action, MAX_NAME_LEN, false, &mut out);
        name_problems("target", &self.target, MAX_TARGET_LEN, true, &mut out);
        match serde_json::to_vec(&self.detail) {
            Ok(v) if v.len() > MAX_DETAIL_LEN => out.push(Problem::new(
                "detail",
                format!(
                    "is {} bytes as JSON, at most {MAX_DETAIL_LEN} are kept",
                    v.len()
                ),
            )),
            Ok(_) => {}
            Err(e) => out.push(Problem::new("detail", e.to_string())),
        }
        out
    }
}

fn name_problems(field: &str, value: &str, max: usize, may_be_empty: bool, out: &mut Vec<Problem>) {
    if value.is_empty() && !may_be_empty {
        out.push(Problem::new(field, "must not be empty"));
    } else if value.len() > max {
        out.push(Problem::new(
            field,
            format!("is {} bytes, at most {max} are allowed", value.len()),
        ));
    } else if value.chars().any(char::is_control) {
        out.push(Problem::new(field, "must not contain control characters"));
    }
}

/// A committed audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Position in the log: ids only grow, and are never reused.
    pub id: u64,
    /// When it was committed: RFC 3339, UTC, milliseconds.
    pub at: String,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// The entry's detail.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Which way a query reads the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first: for reading on from a known id (`after`).
    Asc,
    /// Newest first (the default): for "what happened lately".
    #[default]
    Desc,
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err(format!("`{s}` is not an order; use asc or desc")),
        }
    }
}

/// Which records to read. Every filter is optional; filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records with an id above this.
    pub after: Option<u64>,
    /// Only records with an id below this.
    pub before: Option<u64>,
    /// At most this many records: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when unset.
    pub limit: Option<u32>,
    /// Only this actor's records.
    pub actor: Option<String>,
    /// Only records of this action.
    pub action: Option<String>,
    /// Only records about this target.
    pub target: Option<String>,
    /// Newest first (default) or oldest first.
    pub order: Order,
}

impl AuditQuery {
    pub(crate) fn limit_or_default(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    /// Every problem with this query.
    pub fn problems(&self) -> Vec<Problem> {
        match self.limit {
            Some(0) => vec![Problem::new("limit", "must be at least 1")],
            Some(n) if n > MAX_LIMIT => vec![Problem::new(
                "limit",
                format!("is {n}, at most {MAX_LIMIT} records are returned at once"),
            )],
            _ => Vec::new(),
        }
    }
}

/// A page of records, in the order asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The records.
    pub records: Vec<AuditRecord>,
}

/// Why an append or a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The entry or query is invalid; nothing was written.
    #[error("invalid audit {what}: {}", problem::join(.problems))]
    Invalid {
        /// `entry` or `query`.
        what: &'static str,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The store failed; for an append, nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The audit log; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub(crate) fn new(store: Store) -> Self {
        AuditLog { store }
    }

    /// Appends `entry` and returns its record once it is committed.
    pub async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        let problems = entry.problems();
        if !problems.is_empty() {
            return Err(AuditError::Invalid {
                what: "entry",
                problems,
            });
        }
        Ok(self.store.append(entry).await?)
    }

    /// The records that match `query`.
    pub async fn query(&self, query: &AuditQuery) -> Result<AuditPage, AuditError> {
        let problems = query.problems();
        if !problems.is_empty() {
            return Err(AuditError::Invalid {
                what: "query",
                problems,
            });
        }
        Ok(AuditPage {
            records: self.store.query(query.clone()).await?,
        })
    }
}

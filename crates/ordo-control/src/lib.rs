//! ordo's control plane: the instance registry, the audit log, their SQLite store, and
//! the REST API with its client.
//!
//! - [`Registry`]: Eureka-style registration, heartbeats and leases; statuses `UP`,
//!   `DOWN`, `STARTING`, `OUT_OF_SERVICE` with an operator's override; a change index
//!   that readers long-poll on (Consul-style blocking queries).
//! - [`AuditLog`]: an append-only log of every action any component takes, committed
//!   before [`AuditLog::append`] returns.
//! - The store: one SQLite file, `<data_dir>/control.db` (WAL). The registry's state and
//!   the audit log survive a restart; restored instances get a fresh lease.
//! - [`chaos::ChaosMonkey`]: the Chaos Monkey's controller, which carries out the
//!   schedule of `ordo-chaos` through a platform, audit first and fail closed.
//! - The REST API ([`ControlPlane::router`], [`ControlPlane::serve`]): JSON under `/v1`,
//!   its OpenAPI 3.1 document at `/openapi.json`, and [`ControlClient`] to call it from
//!   another process.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ordo_control::{ControlClient, ControlOptions, ControlPlane, Registration};
//!
//! let plane = ControlPlane::open(ControlOptions::new("/tmp/ordo-demo")).await?;
//! let (addr, server) = plane.serve("127.0.0.1:0").await?;
//!
//! let client = ControlClient::new(&format!("http://{addr}"))?;
//! client.register(&Registration::new("ratings-1", "ratings", "127.0.0.1:8081")).await?;
//! let listing = client.instances(Some("ratings"), None).await?;
//! assert_eq!(listing.instances.len(), 1);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The model, the API and the store are described in `docs/registry.md`.

pub mod api;
pub mod audit;
pub mod chaos;
pub mod client;
mod clock;
mod options;
mod plane;
mod problem;
pub mod registry;
mod store;

pub use audit::{AuditEntry, AuditError, AuditLog, AuditPage, AuditQuery, AuditRecord, Order};
pub use client::{ClientError, ControlClient};
pub use options::ControlOptions;
pub use plane::{ControlError, ControlPlane, ServeHandle};
pub use problem::Problem;
pub use registry::{
    Instance, InstanceQuery, Listing, Registered, Registration, Registry, RegistryError,
    ServiceSummary, Services, Status,
};
pub use store::{DATABASE_FILE, StoreError};

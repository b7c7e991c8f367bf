//! Where ordo's instances live.
//!
//! ordo's controllers (chaos monkey, deploys, the autoscaler, `ordo up`)
//! act on instances through one seam, the [`Platform`] trait: `list`,
//! `start`, `stop`, `kill` and `scale` services. A platform keeps each
//! service at its desired count by itself, so a controller says *what*
//! (three replicas of `ratings`; kill `ratings-2`) and never babysits
//! processes. The local adapter, [`LocalPlatform`], runs instances as
//! processes on this machine: the embedded default behind `ordo up`.
//! Docker and Kubernetes adapters will implement the same trait later (each
//! behind a cargo feature), so the controllers run unchanged at scale.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ordo_platform::PlatformError> {
//! use ordo_platform::{LocalOptions, LocalPlatform, Platform, ServiceSpec};
//!
//! let platform = LocalPlatform::new(LocalOptions::new("target/ordo-logs"))?;
//! platform
//!     .start(
//!         ServiceSpec::new("ratings", "./target/debug/ratings")
//!             .args(["--listen", "127.0.0.1:${PORT}"])
//!             .replicas(3),
//!     )
//!     .await?;
//! for instance in platform.list().await? {
//!     println!("{} {} {}", instance.id, instance.address, instance.phase);
//! }
//! platform.kill("ratings-2").await?; // replaced by ratings-4 on a new port
//! platform.shutdown().await; // SIGTERM, then SIGKILL after 10 s; nothing left behind
//! # Ok(())
//! # }
//! ```
//!
//! # The local adapter's semantics
//!
//! - Each instance is `<service>-<n>` (n counts up per service from 1; a
//!   replacement gets the next number) with its own loopback port, given to
//!   the process as `PORT` along with `ORDO_SERVICE` and `ORDO_INSTANCE`.
//!   `${NAME}`, `${NAME:-default}` and `$$` in the command, arguments and
//!   environment values are expanded at launch.
//! - Its health is `GET http://127.0.0.1:$PORT/health` (configurable in
//!   [`HealthSpec`]); its [`Phase`] goes `Starting` → `Running` ↔
//!   `Unhealthy`, and to `Backoff` (with a reason a person can act on:
//!   "exited with status 3", "cannot start `./nope`: No such file or
//!   directory (os error 2)", "never answered GET /health within 30s")
//!   before it restarts in place. Restarts back off exponentially; nothing
//!   hangs or spins.
//! - A process leads its own process group; signals go to the group, so the
//!   app's own children stop with it, and none outlives the platform.
//! - A [`Companion`] (ordo's sidecar) is attached before an instance first
//!   starts and detached when it ends; an [`AuditSink`] receives every action
//!   (see [`actions`]).

mod audit;
mod clock;
mod error;
mod expand;
mod hooks;
mod local;
mod platform;
mod probe;
mod spec;
mod state;

pub use crate::audit::{ACTOR, AuditEvent, AuditSink, actions};
pub use crate::error::PlatformError;
pub use crate::hooks::{Attachment, Companion, Detach, Ending, InstanceInfo};
pub use crate::local::{BackoffPolicy, LocalOptions, LocalPlatform};
pub use crate::platform::{BoxFuture, Platform};
pub use crate::spec::{HealthSpec, MAX_REPLICAS, RESERVED_ENV, ServiceSpec};
pub use crate::state::{Health, InstanceState, Phase};

//! The sidecar beside each instance of an ordo fleet, and the edge in
//! front of it: ordo proxies whose endpoints come from the control plane's
//! registry.
//!
//! # What a sidecar does
//!
//! For the instance it serves, a [`Sidecar`]:
//!
//! - runs an outbound listener per dependency (`to-ratings` on a free
//!   loopback port), each with the dependency's resilience policy from the
//!   manifest; the instance finds the URL in its environment
//!   (`ORDO_DEP_RATINGS_URL`, see [`Sidecar::env`]) and calls its
//!   dependency there;
//! - learns each dependency's instances by watching the registry
//!   ([`discovery`]): a long poll that returns as soon as an instance
//!   comes, goes or changes status; only `UP` instances get requests, and
//!   a control plane that cannot be reached leaves the last list in place
//!   (the data path keeps working without the control plane);
//! - registers its instance and renews the lease with the status its
//!   health check reports ([`registration`]); it deregisters on a graceful
//!   stop and simply goes quiet when the instance is killed, so the lease
//!   lapses as it would for a crashed machine;
//! - serves the proxy's admin API on a free port (metrics, `/clusters`,
//!   faults: `ordo fault add --admin` works per instance), published in
//!   the registry as the instance's `sidecar_admin` metadata.
//!
//! [`Sidecars`] is the [`ordo_platform::Companion`] that gives every
//! instance the platform starts its sidecar. [`Edge`] is the same kind of
//! proxy in front of the entry service.
//!
//! The sidecar registers the instance's own address: callers' sidecars
//! send to it directly (client-side balancing, as Netflix's Ribbon and
//! linkerd do), so a request crosses one proxy per hop.

pub mod discovery;
mod edge;
mod outbound;
pub mod registration;
mod sidecar;

pub use edge::Edge;
pub use outbound::{Outbound, outbound_config};
pub use sidecar::{Sidecar, SidecarError, SidecarSpec, Sidecars};

/// The metadata key under which a sidecar publishes its admin address.
pub const SIDECAR_ADMIN: &str = "sidecar_admin";

//! Failure injection, the parts every injector shares: ordo's proxy (HTTP
//! faults on routes and dependencies), its TCP proxy (toxics), and
//! ordo-resilience's chaos layer for Rust services.
//!
//! Netflix's FIT injects failure into real requests, but only into those in
//! scope, so a test breaks one dependency for one test user and nobody else
//! notices. The pieces for that:
//!
//! - [`Delay`]: a fixed delay, or one drawn from a uniform, normal or
//!   log-normal distribution (real latencies have long tails);
//! - [`Percent`]: the share of matching requests a fault touches;
//! - [`fit`]: the FIT request context, the `x-ordo-fit` header that carries
//!   scenario tags along a call chain;
//! - [`envoy`]: Envoy's `x-envoy-fault-*` request headers, so tooling
//!   written for Envoy's fault filter works unchanged;
//! - [`Leases`]: faults held as leases the injector enforces itself: each
//!   has an expiry it cannot outlive and, if renewable, a lease its owner
//!   must renew, and a cap on the requests it holds at once; the data path
//!   reads them without a lock;
//! - [`Throttled`]: a body that trickles out at a set rate.
//!
//! Randomness is passed in (a `FnMut() -> f64` of uniform draws in
//! `[0, 1)`), so tests choose their draws and stay deterministic.

mod bandwidth;
mod delay;
pub mod envoy;
pub mod fit;
mod lease;
mod percent;

pub use bandwidth::Throttled;
pub use delay::Delay;
pub use lease::{ActiveGuard, AddError, Lease, LeaseInfo, Leases, NewLease};
pub use percent::Percent;

//! Behaviour tests of every policy, on tokio's paused clock.
//!
//! One test binary for all policies keeps link time down; each module
//! tests one policy, and `stack` tests them composed.

mod support;

mod bulkhead;
mod chaos;
mod circuit_breaker;
mod fallback;
mod hedge;
mod limit;
mod permits;
mod rate_limit;
mod retry;
mod stack;
mod throttle;
mod timeout;

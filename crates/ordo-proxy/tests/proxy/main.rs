//! Integration tests of `ordo proxy`: real upstream servers on port 0, the
//! proxy in-process on port 0, real clients.

#[allow(dead_code, unused_imports, unreachable_pub)]
mod support;

mod balancing;
mod policies;
mod routing;

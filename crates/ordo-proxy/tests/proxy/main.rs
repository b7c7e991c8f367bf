//! Integration tests of `ordo proxy`: real upstream servers on port 0, the
//! proxy in-process on port 0, real clients.

#[allow(dead_code, unused_imports, unreachable_pub)]
mod support;

mod admin;
mod balancing;
mod deadline;
mod faults;
mod h1_server;
mod h2;
mod halt;
mod hygiene;
mod policies;
mod regressions;
mod reload;
mod routing;
mod tcp;
mod upgrade;
mod upstream_h1;

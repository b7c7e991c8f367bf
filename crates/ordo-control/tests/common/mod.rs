//! Shared fixtures: a temporary data directory per test, and a control plane in it.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::time::Duration;

use ordo_control::{ControlOptions, ControlPlane};

pub use ordo_test_support::temp::TempDir;

/// Options for a test: data in `dir`, a 10 s default lease, a 1 s sweep.
pub fn options(dir: &Path) -> ControlOptions {
    let mut o = ControlOptions::new(dir);
    o.default_lease = Duration::from_secs(10);
    o.sweep_interval = Duration::from_secs(1);
    o
}

pub async fn open(dir: &Path) -> ControlPlane {
    ControlPlane::open(options(dir))
        .await
        .expect("a control plane opens in an empty directory")
}

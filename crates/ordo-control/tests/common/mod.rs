//! Shared fixtures: a temporary data directory per test, and a control plane in it.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ordo_control::{ControlOptions, ControlPlane};

/// A directory under the system's temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ordo-control-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temp dir is writable");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

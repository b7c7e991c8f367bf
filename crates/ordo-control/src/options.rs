//! [`ControlOptions`]: where the control plane keeps its data, and its timings.

use std::path::PathBuf;
use std::time::Duration;

use crate::registry::{MAX_LEASE, MIN_LEASE};

/// How to open a control plane. Start from [`ControlOptions::new`] and change fields:
///
/// ```
/// use std::time::Duration;
/// let mut options = ordo_control::ControlOptions::new("/var/lib/ordo");
/// options.default_lease = Duration::from_secs(10);
/// options.forget_instances_on_start = true; // `ordo up`: its instances died with it
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControlOptions {
    /// The directory that holds `control.db`; created if missing.
    pub data_dir: PathBuf,
    /// The lease an instance gets when its registration asks for none: 30 s. Instances
    /// should heartbeat at a third of their lease.
    pub default_lease: Duration,
    /// How often the sweeper looks for lapsed leases: 1 s. An instance is evicted at
    /// most this long after its lease lapsed.
    pub sweep_interval: Duration,
    /// Drop the instances found in the store when opening (the audit log stays). For a
    /// control plane whose instances cannot have outlived it, such as `ordo up`'s.
    pub forget_instances_on_start: bool,
    /// How long a statement waits for a lock held by another connection: 5 s.
    pub busy_timeout: Duration,
}

impl ControlOptions {
    /// Defaults, with the data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ControlOptions {
            data_dir: data_dir.into(),
            default_lease: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(1),
            forget_instances_on_start: false,
            busy_timeout: Duration::from_secs(5),
        }
    }

    /// Every problem with these options.
    pub fn problems(&self) -> Vec<crate::Problem> {
        let mut out = Vec::new();
        if self.default_lease < MIN_LEASE || self.default_lease > MAX_LEASE {
            out.push(crate::Problem::new("default_lease", "must be 1s to 1h"));
        }
        if self.sweep_interval.is_zero() || self.sweep_interval > MAX_LEASE {
            out.push(crate::Problem::new(
                "sweep_interval",
                "must be more than 0 and at most 1h",
            ));
        }
        out
    }
}

//! The Chaos Monkey controller: the schedule of `ordo-chaos` carried out
//! against a [`Platform`](ordo_platform::Platform), with the registry's live view and the audit log.
//!
//! # Audit first, fail closed
//!
//! Every decision is a row in the store (one per group and slot) and a
//! record in the audit log, written in one transaction *before* anything is
//! done:
//!
//! 1. At the start of a slot (or when a group first appears in it) each
//!    eligible group is drawn; a drawn group's row is `planned` with its
//!    time, and `kill-scheduled` is recorded.
//! 2. At that time the guardrails are checked against the live registry,
//!    the switches and the outage signals. A refusal moves the row to
//!    `skipped` and records `kill-skipped` with the reason. Under the leash
//!    the row moves to `leashed` and `kill-leashed` names the instance that
//!    would have died.
//! 3. Otherwise the row moves `planned → intent` with the `kill-intent`
//!    record. Only when that commit succeeds is the instance killed through
//!    the platform; `killed` or `kill-failed` follows. If the store refuses
//!    the intent, nothing is killed.
//!
//! Only a `planned` row can become an intent, so a slot never kills twice.
//! If the process dies between intent and kill, the next start finds the
//! open intent and settles it (`kill-resolved`, saying whether the instance
//! is still running) without killing again.
//!
//! The switches (`pause`, `halt`, `resume`) are stored and audited too;
//! `halt` also removes every fault from the proxies and blocks new ones,
//! through a [`FaultSwitch`].

mod clock;
mod monkey;
mod runner;
mod view;

pub use clock::ChaosClock;
pub use monkey::{ChaosMonkey, ChaosOptions};
pub use view::{ChaosStatus, DecisionView, KillNow, SlotView, SwitchView};

use std::fmt::Debug;

use ordo_platform::BoxFuture;

/// The actor of the Chaos Monkey's own audit records.
pub const ACTOR: &str = "chaos-monkey";

/// The actions the Chaos Monkey records, with the `detail` each carries.
///
/// Scheduled kills carry `group`, `service` and `slot` in their detail;
/// kills asked for with kill-now carry `group`, `service` and
/// `requested_by` instead of `slot`, and their actor is who asked.
pub mod actions {
    /// A group was drawn for a kill in this slot; the target is the group
    /// (`service`, `slot`, `at`, `leashed`).
    pub const KILL_SCHEDULED: &str = "kill-scheduled";
    /// A due or asked-for kill was refused; the target is the group
    /// (`reason`: a skip code such as `min-healthy` or `missed`, `message`).
    pub const KILL_SKIPPED: &str = "kill-skipped";
    /// Leashed: the target is the instance that would have been killed
    /// (`message`).
    pub const KILL_LEASHED: &str = "kill-leashed";
    /// About to kill the target (`healthy`: the group's healthy members);
    /// written before the kill, which does not happen if this write fails.
    pub const KILL_INTENT: &str = "kill-intent";
    /// The platform killed the target (`intent`: the intent's record id).
    pub const KILLED: &str = "killed";
    /// The platform could not kill the target (`intent`, `error`).
    pub const KILL_FAILED: &str = "kill-failed";
    /// An intent found open at start, settled without killing again
    /// (`intent`, `running`: whether the target still runs, `message`).
    pub const KILL_RESOLVED: &str = "kill-resolved";
    /// Kills are paused, scheduled and asked-for alike (`paused: true`).
    pub const PAUSED: &str = "chaos-paused";
    /// Pause and halt are lifted (`paused: false`, `halted: false`).
    pub const RESUMED: &str = "chaos-resumed";
    /// Every kill and every fault is stopped until resumed
    /// (`halted: true`).
    pub const HALTED: &str = "chaos-halted";
}

/// The error rate of each service, as its callers' sidecars see it.
pub trait ErrorRates: Send + Sync + Debug {
    /// The share of `service`'s recent requests that failed (0 to 1), or
    /// `None` when it is not known (which the outage check treats as an
    /// outage: it fails closed).
    fn error_rate(&self, service: &str) -> Option<f64>;
}

/// Turns fault injection off everywhere and keeps it off (a halt), or
/// allows it again.
pub trait FaultSwitch: Send + Sync + Debug {
    /// Halts (removes every fault and refuses new ones) or resumes every
    /// proxy, in the name of `by`; how many proxies answered, or why some
    /// did not.
    fn set_halted<'a>(&'a self, halted: bool, by: &'a str) -> BoxFuture<'a, Result<usize, String>>;
}

/// Error rates from a fixed table: what tests and a fleet without traffic
/// use. Services not in it have an error rate of `default`.
#[derive(Debug, Clone, Default)]
pub struct FixedErrorRates {
    rates: std::collections::HashMap<String, Option<f64>>,
    default: Option<f64>,
}

impl FixedErrorRates {
    /// Every service at `default` (`None`: unknown).
    pub fn new(default: Option<f64>) -> Self {
        FixedErrorRates {
            rates: Default::default(),
            default,
        }
    }

    /// `service` at `rate`.
    pub fn with(mut self, service: &str, rate: Option<f64>) -> Self {
        self.rates.insert(service.to_owned(), rate);
        self
    }
}

impl ErrorRates for FixedErrorRates {
    fn error_rate(&self, service: &str) -> Option<f64> {
        self.rates.get(service).copied().unwrap_or(self.default)
    }
}

/// Why a Chaos Monkey action failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChaosError {
    /// The store failed; nothing was done.
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    /// The audit log refused or failed; nothing was done.
    #[error(transparent)]
    Audit(#[from] crate::AuditError),
    /// No such service is opted in or known.
    #[error("{0}")]
    Unknown(String),
    /// The controller has stopped.
    #[error("the Chaos Monkey has stopped")]
    Stopped,
}

//! Where the platform records what it does: the [`AuditSink`] (in `ordo up`,
//! the control plane's audit log) and the [`AuditEvent`]s it receives.
//!
//! Action names are constants in [`actions`]; an event's `target` is the
//! service or instance it concerns and its `detail` the numbers that matter
//! (pid, port, attempt, backoff, counts).

use serde::Serialize;

use crate::BoxFuture;

/// Receives the platform's audit events, in the order they happen per
/// instance. A failure is logged and the platform carries on.
pub trait AuditSink: Send + Sync + std::fmt::Debug + 'static {
    /// Records one event.
    fn record(&self, event: AuditEvent) -> BoxFuture<'static, Result<(), String>>;
}

/// One thing the platform did or saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Who acted: [`ACTOR`] for the platform's own events.
    pub actor: String,
    /// What happened: one of [`actions`].
    pub action: String,
    /// The service or instance it happened to.
    pub target: String,
    /// The particulars, as a JSON object.
    pub detail: serde_json::Value,
}

/// The actor of the platform's events.
pub const ACTOR: &str = "platform";

impl AuditEvent {
    /// An event by [`ACTOR`].
    pub fn new(action: &str, target: impl Into<String>, detail: serde_json::Value) -> Self {
        AuditEvent {
            actor: ACTOR.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            detail,
        }
    }
}

/// The actions the platform records, and what their `detail` holds.
pub mod actions {
    /// A service was started (or its spec replaced): `replicas`, `updated`.
    pub const SERVICE_STARTED: &str = "service-started";
    /// A process was spawned: `pid`, `port`, `attempt` (1 for the first).
    pub const INSTANCE_STARTED: &str = "instance-started";
    /// A process ended, or failed to start, by itself: `reason`.
    pub const INSTANCE_EXITED: &str = "instance-exited";
    /// An instance waits before its next attempt: `backoff_ms`, `reason`.
    pub const INSTANCE_RESTARTING: &str = "instance-restarting";
    /// An instance was killed with `kill()`: `pid` (null if no process ran).
    pub const INSTANCE_KILLED: &str = "instance-killed";
    /// A killed instance was replaced: `replacement` (the new id), `address`.
    pub const INSTANCE_REPLACED: &str = "instance-replaced";
    /// A service's desired count changed: `from`, `to`.
    pub const SERVICE_SCALED: &str = "service-scaled";
    /// Every instance of a service stopped and it was forgotten: `instances`.
    pub const SERVICE_STOPPED: &str = "service-stopped";
}

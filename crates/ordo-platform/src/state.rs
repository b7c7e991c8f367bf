//! What `Platform::list` reports: [`InstanceState`], its [`Phase`] and the
//! probe's [`Health`].
//!
//! ```text
//!            spawn                first health pass
//!  ──────▶ Starting ─────────────────────────────▶ Running ◀──┐ pass
//!             │  exit / spawn error /               │  fail    │
//!             │  no pass within start_timeout       ▼          │
//!             │                                 Unhealthy ─────┘
//!             ▼          exit / unhealthy_threshold │
//!          Backoff ◀────────────────────────────────┘
//!             │ delay over: restart in place (same id and port)
//!             └──────▶ Starting …
//!  stop / scale down: any phase ──▶ Stopping ──▶ Stopped (then gone)
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

/// One instance as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceState {
    /// `<service>-<n>`.
    pub id: String,
    /// The service it belongs to.
    pub service: String,
    /// Where it listens (`127.0.0.1:$PORT`); kept across in-place restarts.
    pub address: SocketAddr,
    /// Its current process (the leader of its process group), if one runs.
    pub pid: Option<u32>,
    /// Where it is in its life.
    #[serde(flatten)]
    pub phase: Phase,
    /// What its health probe says.
    pub health: Health,
    /// How many times it was restarted in place (after an exit, a failed
    /// start or failed health checks).
    pub restarts: u32,
    /// When its current (or last) process started.
    #[serde(serialize_with = "opt_time")]
    pub started_at: Option<SystemTime>,
    /// Why its last process ended, or why its last start failed.
    pub last_exit: Option<String>,
    /// The file its output goes to.
    pub log: PathBuf,
}

/// Where an instance is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// The process was spawned; its health check has not passed yet.
    Starting,
    /// Healthy.
    Running,
    /// Was healthy, now fails its checks (fewer than `unhealthy_threshold`
    /// in a row so far); the probe keeps going.
    Unhealthy,
    /// Waiting to start again.
    Backoff {
        /// When the next attempt is due (wall clock).
        #[serde(serialize_with = "time")]
        until: SystemTime,
        /// Why, as a sentence: "exited with status 3", "killed by signal 9",
        /// "cannot start `./nope`: No such file or directory (os error 2)",
        /// "never answered GET /health within 30s".
        reason: String,
    },
    /// Asked to stop: SIGTERM sent, SIGKILL after the stop timeout.
    Stopping,
    /// Its process is gone and it will not start again.
    Stopped,
}

impl Phase {
    /// The phase's name in snake case, e.g. `"backoff"`.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Unhealthy => "unhealthy",
            Phase::Backoff { .. } => "backoff",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Backoff { reason, .. } => write!(f, "backoff ({reason})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Health as the platform's probe sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Health {
    /// Not yet passed since its process started.
    Starting,
    /// Passed `healthy_threshold` times in a row and has not failed
    /// `unhealthy_threshold` times in a row since.
    Up,
    /// Failed `unhealthy_threshold` times in a row, or its process is gone.
    Down,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Starting => "STARTING",
            Health::Up => "UP",
            Health::Down => "DOWN",
        })
    }
}

fn time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::clock::rfc3339(*t))
}

fn opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn serializes_flat_with_readable_times() {
        let state = InstanceState {
            id: "web-1".into(),
            service: "web".into(),
            address: "127.0.0.1:4000".parse().unwrap(),
            pid: None,
            phase: Phase::Backoff {
                until: UNIX_EPOCH + Duration::from_secs(60),
                reason: "exited with status 3".into(),
            },
            health: Health::Down,
            restarts: 2,
            started_at: None,
            last_exit: Some("exited with status 3".into()),
            log: "logs/web/web-1.log".into(),
        };
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["phase"], "backoff");
        assert_eq!(json["until"], "1970-01-01T00:01:00.000Z");
        assert_eq!(json["reason"], "exited with status 3");
        assert_eq!(json["health"], "DOWN");
        assert_eq!(json["started_at"], serde_json::Value::Null);
        assert_eq!(state.phase.to_string(), "backoff (exited with status 3)");
    }
}

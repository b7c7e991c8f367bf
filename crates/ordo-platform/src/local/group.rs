//! Process groups: each instance's process leads its own group, so a signal
//! reaches the app and every child it started (a shell's `exec`ed server, a
//! worker pool), and none is left behind.
//!
//! [`Group`] is also the last resort: dropped while still armed (a supervisor
//! task aborted because its platform was dropped), it SIGKILLs the group.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::time::Instant;

/// How long to wait for a killed group's last members to disappear.
const GONE_WITHIN: Duration = Duration::from_secs(2);
/// How often to look while waiting.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// Sends `signal` to the process group led by `pid`. Returns whether the
/// group still existed. Never signals group 0 or 1 (our own group, or init).
pub(super) fn signal_group(pid: u32, signal: Option<Signal>) -> bool {
    let Some(pgid) = group_id(pid) else {
        return false;
    };
    match killpg(pgid, signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(e) => {
            tracing::warn!(pgid = pid, ?signal, error = %e, "cannot signal process group");
            true
        }
    }
}

fn group_id(pid: u32) -> Option<Pid> {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .map(Pid::from_raw)
}

/// The process group of one instance's current process.
#[derive(Debug)]
pub(super) struct Group {
    pid: u32,
    armed: bool,
}

impl Group {
    /// The group led by `pid` (spawned with `process_group(0)`).
    pub(super) fn new(pid: u32) -> Self {
        Group { pid, armed: true }
    }

    /// Sends `signal` to every process of the group.
    pub(super) fn signal(&self, signal: Signal) {
        if self.armed {
            signal_group(self.pid, Some(signal));
        }
    }

    /// Once the leader has been reaped: SIGKILLs what is left of the group
    /// (children the app left behind) and waits, briefly, until none is left.
    pub(super) async fn kill_remainder(&mut self) {
        if !self.armed {
            return;
        }
        let deadline = Instant::now() + GONE_WITHIN;
        while signal_group(self.pid, Some(Signal::SIGKILL)) {
            if Instant::now() >= deadline {
                tracing::warn!(
                    pgid = self.pid,
                    "process group still has members after SIGKILL"
                );
                break;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        self.armed = false;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pid, Some(Signal::SIGKILL));
        }
    }
}

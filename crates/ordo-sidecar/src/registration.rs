//! Keeping an instance in the registry: register it, renew its lease at
//! every heartbeat with the status its health check reports (at once when
//! that status changes), register again when the registry has forgotten
//! it (it expired, or the control plane lost its data), deregister on a
//! graceful stop.

use std::time::Duration;

use ordo_control::{ClientError, ControlClient, Registration, Status};
use ordo_platform::Health;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The registry status of a health state.
pub fn status_of(health: Health) -> Status {
    match health {
        Health::Starting => Status::Starting,
        Health::Up => Status::Up,
        Health::Down => Status::Down,
    }
}

/// Keeps `registration` in the registry, with the status `health`
/// reports, until the task is aborted.
pub fn keep(
    client: ControlClient,
    mut registration: Registration,
    mut health: watch::Receiver<Health>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let id = registration.id.clone();
        let mut registered = false;
        let mut failing = false;
        loop {
            let status = status_of(*health.borrow_and_update());
            let result = if registered {
                match client.heartbeat(&id, Some(status)).await {
                    Err(e) if e.is_not_found() => {
                        tracing::info!(instance = %id, "the registry forgot the instance; registering it again");
                        registered = false;
                        continue;
                    }
                    r => r.map(drop),
                }
            } else {
                registration.status = Some(status);
                client.register(&registration).await.map(drop)
            };
            match result {
                Ok(()) => {
                    if failing {
                        tracing::info!(instance = %id, "the registry answers again");
                    }
                    failing = false;
                    registered = true;
                }
                Err(e) => report(&id, &e, &mut failing),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = health.changed() => {
                    if changed.is_err() {
                        // The platform dropped the probe: the instance is
                        // going away; stop renewing.
                        return;
                    }
                }
            }
        }
    })
}

fn report(id: &str, e: &ClientError, failing: &mut bool) {
    if !*failing {
        tracing::warn!(instance = %id, error = %e, "cannot renew the instance's lease; will retry");
    }
    *failing = true;
}

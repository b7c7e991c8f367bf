//! The local adapter: each instance is a process on this machine, watched
//! by a supervisor task of its own. The semantics are on [`LocalPlatform`].

mod backoff;
mod context;
mod fleet;
mod group;
mod instance;
mod options;
mod ports;
mod spawn;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::join_all;
use serde_json::json;

pub use self::backoff::BackoffPolicy;
pub use self::options::LocalOptions;

use self::backoff::Rng;
use self::context::Context;
use self::fleet::{Fleet, Lookup};
use crate::audit::actions;
use crate::spec::validate_replicas;
use crate::{BoxFuture, InstanceState, Platform, PlatformError, ServiceSpec};

/// A [`Platform`] of processes on this machine: the embedded default.
///
/// - **One supervisor task per instance** launches its process (in a process
///   group of its own, stdin closed, stdout and stderr appended to
///   `<log_dir>/<service>/<id>.log`), probes its health and restarts it in
///   place (same id, same port) when it exits, fails to start, never turns
///   healthy within `start_timeout` or fails `unhealthy_threshold` checks in
///   a row, after a backoff that doubles from 500 ms to 30 s.
/// - **`kill`** SIGKILLs the instance's process group at once and starts a
///   replacement with a new id and a new port, as a lost machine would be
///   replaced; **`stop`**, **`scale`** down and [`shutdown`](LocalPlatform::shutdown)
///   stop gracefully: SIGTERM to the group, SIGKILL after the stop timeout.
/// - When an instance's process ends, whatever is left of its process group
///   (children it started and left behind) is SIGKILLed, so a crash loop
///   never piles up orphans, nor an orphan holds the port the next start needs.
/// - Dropping a `LocalPlatform` without [`shutdown`](LocalPlatform::shutdown)
///   SIGKILLs every process group it started (no grace, no detach).
///
/// When the calls return:
///
/// - `start` once the instances' supervisors run (not once they are healthy:
///   watch `list` for `Running`); a spec given again for a running service
///   applies to instances started from then on, and its `replicas` scales it.
/// - `kill` once the old process is reaped and its companion detached, with
///   the replacement already starting.
/// - `stop` and `scale` once the instances they stop are gone; meanwhile
///   `list` shows them `Stopping`.
///
/// The [`Companion`](crate::Companion) is attached before an instance's first
/// launch (an attach that fails backs off and is retried) and detached once
/// when the instance ends: `Killed` after `kill`, `Graceful` otherwise. It is
/// not called again for in-place restarts.
///
/// `process_group(0)` also keeps a terminal's Ctrl-C from reaching the
/// instances directly: the program that owns the platform catches SIGINT and
/// SIGTERM and calls `shutdown`, which stops services in the reverse of the
/// order they were started.
#[derive(Debug)]
pub struct LocalPlatform {
    ctx: Arc<Context>,
    fleet: Mutex<Fleet>,
}

impl LocalPlatform {
    /// A platform with these options; nothing runs until `start`.
    pub fn new(options: LocalOptions) -> Result<Self, PlatformError> {
        options.validate()?;
        let ctx = Arc::new(Context {
            rng: Rng::new(options.backoff.seed),
            backoff: options.backoff,
            stop_timeout: options.stop_timeout,
            companion: options.companion,
            audit: options.audit,
        });
        Ok(LocalPlatform {
            fleet: Mutex::new(Fleet::new(ctx.clone(), options.log_dir)),
            ctx,
        })
    }

    /// Stops every service, in the reverse of the order they were started,
    /// each instance gracefully, and returns once every process the platform
    /// started has been reaped. The platform can be used again afterwards.
    pub async fn shutdown(&self) {
        let mut names = self.fleet().names();
        names.reverse();
        for name in names {
            match self.stop_service(&name).await {
                Ok(()) | Err(PlatformError::NotFound { .. }) => {}
                Err(e) => tracing::warn!(service = %name, error = %e, "cannot stop service"),
            }
        }
        let killed = self.fleet().killed_finished();
        join_all(killed).await;
        self.fleet().reap();
    }

    fn fleet(&self) -> MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn list_instances(&self) -> Vec<InstanceState> {
        let mut fleet = self.fleet();
        fleet.reap();
        fleet.states()
    }

    async fn start_service(&self, spec: ServiceSpec) -> Result<(), PlatformError> {
        spec.validate()?;
        let dir = std::path::absolute(&spec.dir)
            .map_err(|e| PlatformError::io(format!("resolving {}", spec.dir.display()), e))?;
        if !dir.is_dir() {
            return Err(PlatformError::invalid(
                "dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        let logs = self.fleet().log_dir_of(&spec.name);
        std::fs::create_dir_all(&logs).map_err(|e| {
            PlatformError::io(format!("creating log directory {}", logs.display()), e)
        })?;
        let spec = Arc::new(ServiceSpec { dir, ..spec });
        // Wait for a stop of the same service still under way.
        let running = loop {
            let stopping = {
                let mut fleet = self.fleet();
                fleet.reap();
                match fleet.lookup(&spec.name) {
                    Lookup::Stopping(waits) => waits,
                    Lookup::Absent => break None,
                    Lookup::Running { replicas } => break Some(replicas),
                }
            };
            join_all(stopping).await;
        };
        self.ctx
            .record(
                actions::SERVICE_STARTED,
                &spec.name,
                json!({"replicas": spec.replicas, "updated": running.is_some()}),
            )
            .await;
        let (before, waits) = {
            let mut fleet = self.fleet();
            fleet.reap();
            fleet.start(spec.clone())?
        };
        if let Some(before) = before.filter(|b| *b != spec.replicas) {
            self.ctx
                .record(
                    actions::SERVICE_SCALED,
                    &spec.name,
                    json!({"from": before, "to": spec.replicas}),
                )
                .await;
        }
        join_all(waits).await;
        self.fleet().reap();
        Ok(())
    }

    async fn stop_service(&self, service: &str) -> Result<(), PlatformError> {
        let (instances, waits) = {
            let mut fleet = self.fleet();
            fleet.reap();
            fleet.stop(service)?
        };
        join_all(waits).await;
        self.fleet().reap();
        self.ctx
            .record(
                actions::SERVICE_STOPPED,
                service,
                json!({"instances": instances}),
            )
            .await;
        Ok(())
    }

    async fn kill_instance(&self, instance: &str) -> Result<(), PlatformError> {
        let killed = {
            let mut fleet = self.fleet();
            fleet.reap();
            fleet.kill(instance)?
        };
        tracing::info!(instance, pid = ?killed.pid, "instance killed");
        self.ctx
            .record(
                actions::INSTANCE_KILLED,
                instance,
                json!({"pid": killed.pid}),
            )
            .await;
        if let Some((id, address)) = &killed.replacement {
            self.ctx
                .record(
                    actions::INSTANCE_REPLACED,
                    instance,
                    json!({"replacement": id, "address": address.to_string()}),
                )
                .await;
        }
        killed.finished.await;
        self.fleet().reap();
        Ok(())
    }

    async fn scale_service(&self, service: &str, replicas: u32) -> Result<(), PlatformError> {
        validate_replicas("replicas", replicas)?;
        let (before, waits) = {
            let mut fleet = self.fleet();
            fleet.reap();
            fleet.scale(service, replicas)?
        };
        if before != replicas {
            self.ctx
                .record(
                    actions::SERVICE_SCALED,
                    service,
                    json!({"from": before, "to": replicas}),
                )
                .await;
        }
        join_all(waits).await;
        self.fleet().reap();
        Ok(())
    }
}

impl Platform for LocalPlatform {
    fn list(&self) -> BoxFuture<'_, Result<Vec<InstanceState>, PlatformError>> {
        Box::pin(async move { Ok(self.list_instances()) })
    }

    fn start(&self, spec: ServiceSpec) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(self.start_service(spec))
    }

    fn stop(&self, service: &str) -> BoxFuture<'_, Result<(), PlatformError>> {
        let service = service.to_owned();
        Box::pin(async move { self.stop_service(&service).await })
    }

    fn kill(&self, instance: &str) -> BoxFuture<'_, Result<(), PlatformError>> {
        let instance = instance.to_owned();
        Box::pin(async move { self.kill_instance(&instance).await })
    }

    fn scale(&self, service: &str, replicas: u32) -> BoxFuture<'_, Result<(), PlatformError>> {
        let service = service.to_owned();
        Box::pin(async move { self.scale_service(&service, replicas).await })
    }
}

impl Drop for LocalPlatform {
    fn drop(&mut self) {
        self.fleet().abort_all();
    }
}

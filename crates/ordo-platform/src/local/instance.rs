//! One instance's supervisor: a task that attaches the companion, launches
//! the process, probes its health, restarts it in place with backoff when it
//! fails, and stops or kills it when the platform says so.
//!
//! The platform talks to a supervisor through a [`Directive`] on a watch
//! channel (run, stop gracefully, kill) and reads its [`InstanceState`] from
//! a shared cell. The supervisor reports `done` once its process is reaped,
//! its process group is empty and its companion detached.

use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt as _;
use nix::sys::signal::Signal;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::context::Context;
use super::spawn::{self, Launch, Process};
use crate::audit::actions;
use crate::clock;
use crate::probe::{self, Probe};
use crate::{Detach, Ending, Health, InstanceInfo, InstanceState, Phase, ServiceSpec};

/// What the platform wants of an instance. `Kill` is final; `Stop` can only
/// turn into `Kill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Directive {
    Run,
    Stop,
    Kill,
}

/// The platform's side of a supervisor.
#[derive(Debug)]
pub(super) struct InstanceHandle {
    pub(super) id: String,
    status: Arc<Mutex<InstanceState>>,
    directive: watch::Sender<Directive>,
    done: watch::Receiver<bool>,
    abort: AbortHandle,
}

impl InstanceHandle {
    /// A copy of the instance's state.
    pub(super) fn state(&self) -> InstanceState {
        lock(&self.status).clone()
    }

    /// The pid of its current process, if one runs.
    pub(super) fn pid(&self) -> Option<u32> {
        lock(&self.status).pid
    }

    /// Asks the supervisor to stop (gracefully) or kill; never undoes a kill.
    pub(super) fn direct(&self, directive: Directive) {
        self.directive.send_if_modified(|current| {
            let change = *current != Directive::Kill && *current != directive;
            if change {
                *current = directive;
            }
            change
        });
    }

    /// Whether the supervisor has finished (or is gone).
    pub(super) fn is_done(&self) -> bool {
        *self.done.borrow() || self.done.has_changed().is_err()
    }

    /// Waits until the supervisor has finished.
    pub(super) fn finished(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut done = self.done.clone();
        async move {
            let _ = done.wait_for(|d| *d).await;
        }
    }

    /// Ends the supervisor task at once (its process group is SIGKILLed as
    /// its state is dropped).
    pub(super) fn abort(&self) {
        self.abort.abort();
    }
}

/// Starts the supervisor of a new instance.
pub(super) fn start(
    ctx: Arc<Context>,
    spec: Arc<ServiceSpec>,
    info: InstanceInfo,
    log: PathBuf,
) -> InstanceHandle {
    let status = Arc::new(Mutex::new(InstanceState {
        id: info.id.clone(),
        service: info.service.clone(),
        address: info.address,
        pid: None,
        phase: Phase::Starting,
        health: Health::Starting,
        restarts: 0,
        started_at: None,
        last_exit: None,
        log: log.clone(),
    }));
    let (directive_tx, directive) = watch::channel(Directive::Run);
    let (done, done_rx) = watch::channel(false);
    let (health, _) = watch::channel(Health::Starting);
    let id = info.id.clone();
    let supervisor = Supervisor {
        backoff: Backoff::new(ctx.backoff.clone()),
        ctx,
        spec,
        info,
        log,
        status: status.clone(),
        directive,
        health,
        detach: None,
        restarts: 0,
    };
    let task = tokio::spawn(async move {
        supervisor.run().await;
        done.send_replace(true);
    });
    InstanceHandle {
        id,
        status,
        directive: directive_tx,
        done: done_rx,
        abort: task.abort_handle(),
    }
}

/// How one process's run ended.
enum Ended {
    /// The platform asked for it.
    Directed(Ending),
    /// It failed: exited, never turned healthy, or stopped being healthy.
    Failed {
        reason: String,
        up_since: Option<Instant>,
    },
}

#[derive(Debug)]
struct Supervisor {
    ctx: Arc<Context>,
    spec: Arc<ServiceSpec>,
    info: InstanceInfo,
    log: PathBuf,
    status: Arc<Mutex<InstanceState>>,
    directive: watch::Receiver<Directive>,
    health: watch::Sender<Health>,
    backoff: Backoff,
    detach: Option<Box<dyn Detach>>,
    restarts: u32,
}

impl Supervisor {
    async fn run(mut self) {
        let ending = self.live().await;
        self.health.send_replace(Health::Down);
        self.update(|s| {
            s.phase = Phase::Stopped;
            s.health = Health::Down;
            s.pid = None;
        });
        tracing::info!(instance = %self.info.id, ?ending, "instance ended");
        let how = match ending {
            Ending::Graceful => "stopped",
            Ending::Killed => "killed",
        };
        spawn::note(&self.log, &self.info.id, how);
        if let Some(detach) = self.detach.take() {
            detach.detach(ending).await;
        }
    }

    /// Attaches, then runs, restarts and backs off until directed to end.
    async fn live(&mut self) -> Ending {
        let companion_env = match self.attach().await {
            Ok(env) => env,
            Err(ending) => return ending,
        };
        loop {
            if let Some(ending) = self.directed() {
                return ending;
            }
            let attempt = self.restarts + 1;
            let launched = spawn::launch(&Launch {
                spec: &self.spec,
                id: &self.info.id,
                port: self.info.address.port(),
                companion_env: &companion_env,
                log: &self.log,
                attempt,
            });
            let reason = match launched {
                Err(reason) => reason,
                Ok(process) => {
                    self.ctx
                        .record(
                            actions::INSTANCE_STARTED,
                            &self.info.id,
                            json!({"pid": process.pid, "port": self.info.address.port(), "attempt": attempt}),
                        )
                        .await;
                    match self.run_process(process).await {
                        Ended::Directed(ending) => return ending,
                        Ended::Failed { reason, up_since } => {
                            self.backoff.ended(up_since);
                            spawn::note(&self.log, &self.info.id, &reason);
                            reason
                        }
                    }
                }
            };
            tracing::warn!(instance = %self.info.id, %reason, "instance failed");
            self.health.send_replace(Health::Down);
            self.update(|s| {
                s.pid = None;
                s.health = Health::Down;
                s.last_exit = Some(reason.clone());
            });
            self.ctx
                .record(
                    actions::INSTANCE_EXITED,
                    &self.info.id,
                    json!({"reason": reason}),
                )
                .await;
            if let Some(ending) = self.back_off(reason).await {
                return ending;
            }
            self.restarts += 1;
            let restarts = self.restarts;
            self.update(|s| s.restarts = restarts);
        }
    }

    /// The companion's environment, once it attached; retried with backoff.
    async fn attach(&mut self) -> Result<Vec<(String, String)>, Ending> {
        let Some(companion) = self.ctx.companion.clone() else {
            return Ok(Vec::new());
        };
        loop {
            if let Some(ending) = self.directed() {
                return Err(ending);
            }
            let attaching = companion.attach(self.info.clone(), self.health.subscribe());
            let result = tokio::select! {
                biased;
                ending = ended(&mut self.directive) => return Err(ending),
                result = attaching => result,
            };
            match result {
                Ok(attachment) => {
                    self.detach = Some(attachment.detach);
                    return Ok(attachment.env);
                }
                Err(error) => {
                    let reason = format!("companion could not attach: {error}");
                    tracing::warn!(instance = %self.info.id, %reason, "attach failed");
                    self.update(|s| s.last_exit = Some(reason.clone()));
                    if let Some(ending) = self.back_off(reason).await {
                        return Err(ending);
                    }
                }
            }
        }
    }

    /// Waits out the next backoff delay, unless directed to end meanwhile.
    async fn back_off(&mut self, reason: String) -> Option<Ending> {
        let delay = self.backoff.next_delay(&self.ctx.rng);
        self.ctx
            .record(
                actions::INSTANCE_RESTARTING,
                &self.info.id,
                json!({"backoff_ms": delay.as_millis() as u64, "reason": reason}),
            )
            .await;
        self.update(|s| {
            s.pid = None;
            s.phase = Phase::Backoff {
                until: clock::wall_in(delay),
                reason,
            };
        });
        tokio::select! {
            biased;
            ending = ended(&mut self.directive) => Some(ending),
            () = tokio::time::sleep(delay) => None,
        }
    }

    /// Watches one process until it fails or the platform ends it.
    async fn run_process(&mut self, mut process: Process) -> Ended {
        let pid = process.pid;
        tracing::info!(instance = %self.info.id, pid, "process started");
        self.health.send_replace(Health::Starting);
        self.update(|s| {
            s.pid = Some(pid);
            s.phase = Phase::Starting;
            s.health = Health::Starting;
            s.started_at = Some(clock::wall_now());
        });
        let health = self.spec.health.clone();
        let probe = Probe::new(self.info.address, &health.path, health.timeout);
        let mut checks = pin!(probe::checks(probe, health.interval));
        let mut start_deadline = pin!(tokio::time::sleep(health.start_timeout));
        let (mut passes, mut failures) = (0u32, 0u32);
        let mut up_since: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                ending = ended(&mut self.directive) => {
                    let ending = match ending {
                        Ending::Graceful => {
                            self.update(|s| s.phase = Phase::Stopping);
                            self.terminate(&mut process).await.unwrap_or(Ending::Graceful)
                        }
                        Ending::Killed => {
                            kill(&mut process).await;
                            Ending::Killed
                        }
                    };
                    return Ended::Directed(ending);
                }
                status = process.child.wait() => {
                    let reason = exit_reason(status);
                    process.group.kill_remainder().await;
                    return Ended::Failed { reason, up_since };
                }
                () = &mut start_deadline, if up_since.is_none() => {
                    kill(&mut process).await;
                    let reason = format!(
                        "never answered GET {} within {}",
                        health.path,
                        humantime::format_duration(health.start_timeout)
                    );
                    return Ended::Failed { reason, up_since: None };
                }
                Some(check) = checks.next() => match check {
                    Ok(()) => {
                        failures = 0;
                        passes = passes.saturating_add(1);
                        if up_since.is_none() && passes >= health.healthy_threshold {
                            up_since = Some(Instant::now());
                            self.health.send_replace(Health::Up);
                            tracing::info!(instance = %self.info.id, pid, "instance healthy");
                        }
                        if up_since.is_some() {
                            self.update(|s| {
                                s.phase = Phase::Running;
                                s.health = Health::Up;
                            });
                        }
                    }
                    Err(why) => {
                        passes = 0;
                        if up_since.is_none() {
                            tracing::debug!(instance = %self.info.id, %why, "not healthy yet");
                            continue;
                        }
                        failures += 1;
                        if failures < health.unhealthy_threshold {
                            self.update(|s| s.phase = Phase::Unhealthy);
                            continue;
                        }
                        self.health.send_replace(Health::Down);
                        self.update(|s| {
                            s.phase = Phase::Unhealthy;
                            s.health = Health::Down;
                        });
                        let reason = format!(
                            "failed GET {} {failures} times in a row (last: {why})",
                            health.path
                        );
                        if let Some(ending) = self.terminate(&mut process).await {
                            return Ended::Directed(ending);
                        }
                        return Ended::Failed { reason, up_since };
                    }
                },
            }
        }
    }

    /// SIGTERM to the group, SIGKILL after the stop timeout (or at once if a
    /// kill is directed meanwhile); returns once the group is gone, with
    /// `Some(Killed)` if a kill was directed.
    async fn terminate(&mut self, process: &mut Process) -> Option<Ending> {
        process.group.signal(Signal::SIGTERM);
        let killed = tokio::select! {
            biased;
            _ = self.directive.wait_for(|d| *d == Directive::Kill) => true,
            _ = process.child.wait() => false,
            () = tokio::time::sleep(self.ctx.stop_timeout) => {
                tracing::warn!(instance = %self.info.id, pid = process.pid, "no exit within the stop timeout: SIGKILL");
                false
            }
        };
        kill(process).await;
        killed.then_some(Ending::Killed)
    }

    /// The directive if it ends the instance.
    fn directed(&self) -> Option<Ending> {
        if self.directive.has_changed().is_err() {
            return Some(Ending::Killed);
        }
        match *self.directive.borrow() {
            Directive::Run => None,
            Directive::Stop => Some(Ending::Graceful),
            Directive::Kill => Some(Ending::Killed),
        }
    }

    fn update(&self, f: impl FnOnce(&mut InstanceState)) {
        f(&mut lock(&self.status));
    }
}

/// Resolves when the platform directs the instance to end (a dropped sender
/// counts as a kill: the platform is gone).
async fn ended(directive: &mut watch::Receiver<Directive>) -> Ending {
    match directive.wait_for(|d| *d != Directive::Run).await {
        Ok(d) if *d == Directive::Stop => Ending::Graceful,
        _ => Ending::Killed,
    }
}

/// SIGKILL to the group, reap the leader, wait for the rest to go.
async fn kill(process: &mut Process) {
    process.group.signal(Signal::SIGKILL);
    if let Err(e) = process.child.wait().await {
        tracing::warn!(pid = process.pid, error = %e, "cannot reap process");
    }
    process.group.kill_remainder().await;
}

/// Why a process ended, as a sentence.
fn exit_reason(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("ended: {status}"),
        },
        Err(e) => format!("cannot wait for the process: {e}"),
    }
}

fn lock(status: &Mutex<InstanceState>) -> std::sync::MutexGuard<'_, InstanceState> {
    status.lock().unwrap_or_else(PoisonError::into_inner)
}

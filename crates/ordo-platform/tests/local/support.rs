//! What the local platform's tests share: the `ordo-upstream` binary, a
//! temporary directory, waiting for a condition with a deadline, a companion
//! and an audit sink that record what they are told, and pid checks.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use ordo_platform::{
    Attachment, AuditEvent, AuditSink, BackoffPolicy, BoxFuture, Companion, Detach, Ending, Health,
    HealthSpec, InstanceInfo, InstanceState, LocalOptions, LocalPlatform, Platform, ServiceSpec,
};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long any condition may take before a test fails (generous: the
/// machine may be busy compiling).
pub(crate) const WITHIN: Duration = Duration::from_secs(30);

/// The `ordo-upstream` binary, next to this test's binary in `target/debug`;
/// built on first use if `cargo test -p ordo-platform` did not build it.
pub(crate) fn upstream_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary sits in target/<profile>/deps");
        let bin = dir.join("ordo-upstream");
        if !bin.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "ordo-test-support", "--bin", "ordo-upstream"])
                .status();
            assert!(
                matches!(status, Ok(s) if s.success()) && bin.exists(),
                "{} is missing and could not be built: run \
                 `cargo build -p ordo-test-support --bin ordo-upstream` ({status:?})",
                bin.display()
            );
        }
        bin
    })
}

pub(crate) use ordo_test_support::temp::TempDir;

/// Fast health checks and backoff without jitter, for tests.
pub(crate) fn health() -> HealthSpec {
    HealthSpec {
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(1),
        start_timeout: Duration::from_secs(20),
        ..HealthSpec::default()
    }
}

/// Backoff from 50 ms to 400 ms, no jitter.
pub(crate) fn backoff() -> BackoffPolicy {
    BackoffPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        jitter: 0.0,
        seed: Some(1),
        reset_after: Duration::from_secs(30),
    }
}

/// A platform for one test, its logs in `tmp`, with a companion and an
/// audit sink that record what they are told.
pub(crate) struct Fixture {
    pub(crate) platform: LocalPlatform,
    pub(crate) companion: Arc<Recorder>,
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) tmp: TempDir,
}

impl Fixture {
    pub(crate) fn new(name: &str) -> Self {
        Self::with(name, |o| o)
    }

    pub(crate) fn with(name: &str, options: impl FnOnce(LocalOptions) -> LocalOptions) -> Self {
        let tmp = TempDir::new(name);
        let companion = Arc::new(Recorder::default());
        let audit = Arc::new(AuditLog::default());
        let opts = LocalOptions::new(tmp.path().join("logs"))
            .backoff(backoff())
            .stop_timeout(Duration::from_secs(5))
            .companion(companion.clone())
            .audit(audit.clone());
        let platform = LocalPlatform::new(options(opts)).expect("valid options");
        Fixture {
            platform,
            companion,
            audit,
            tmp,
        }
    }

    /// `ordo-upstream` answering as its instance id, `replicas` times.
    pub(crate) fn upstream(&self, name: &str, replicas: u32) -> ServiceSpec {
        ServiceSpec::new(name, upstream_bin().to_str().unwrap())
            .args([
                "--listen",
                "127.0.0.1:${PORT}",
                "--name",
                "${ORDO_INSTANCE}",
            ])
            .dir(self.tmp.path())
            .replicas(replicas)
            .health(health())
    }

    /// `sh -c script`.
    pub(crate) fn shell(&self, name: &str, script: &str) -> ServiceSpec {
        ServiceSpec::new(name, "sh")
            .args(["-c", script])
            .dir(self.tmp.path())
            .health(health())
    }

    pub(crate) async fn list(&self) -> Vec<InstanceState> {
        self.platform.list().await.expect("list")
    }

    /// The instance `id` once `cond` holds for it.
    pub(crate) async fn instance_when(
        &self,
        id: &str,
        what: &str,
        cond: impl Fn(&InstanceState) -> bool,
    ) -> InstanceState {
        eventually(what, || async {
            self.list()
                .await
                .into_iter()
                .find(|i| i.id == id && cond(i))
        })
        .await
    }

    /// Every instance, once they number `n` and all run.
    pub(crate) async fn running(&self, n: usize) -> Vec<InstanceState> {
        eventually(&format!("{n} instances running"), || async {
            let list = self.list().await;
            (list.len() == n && list.iter().all(is_running)).then_some(list)
        })
        .await
    }

    /// The instances of `service`, once they number `n` and all run.
    pub(crate) async fn running_of(&self, service: &str, n: usize) -> Vec<InstanceState> {
        eventually(&format!("{n} instances of {service} running"), || async {
            let list: Vec<_> = self
                .list()
                .await
                .into_iter()
                .filter(|i| i.service == service)
                .collect();
            (list.len() == n && list.iter().all(is_running)).then_some(list)
        })
        .await
    }

    /// Every pid the platform started so far (from the audit log).
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.audit
            .events()
            .iter()
            .filter(|e| e.action == "instance-started")
            .map(|e| e.detail["pid"].as_u64().expect("pid") as u32)
            .collect()
    }
}

pub(crate) fn is_running(i: &InstanceState) -> bool {
    i.phase == ordo_platform::Phase::Running && i.health == Health::Up && i.pid.is_some()
}

/// Polls `probe` every 20 ms until it gives a value; fails the test after
/// [`WITHIN`], saying what it waited for.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a process with this pid exists (zombies count).
pub(crate) fn alive(pid: u32) -> bool {
    !matches!(kill(Pid::from_raw(pid as i32), None), Err(Errno::ESRCH))
}

/// Waits until none of `pids` exists.
pub(crate) async fn all_gone(pids: &[u32]) {
    eventually(&format!("processes {pids:?} gone"), || async {
        pids.iter().all(|p| !alive(*p)).then_some(())
    })
    .await
}

/// `GET http://address/path`: status and the `x-upstream` header.
pub(crate) async fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let client = ordo_test_support::client::http1_client();
    let url = format!("http://{address}{path}");
    let (status, headers, _) = tokio::time::timeout(
        Duration::from_secs(10),
        ordo_test_support::client::get(&client, &url),
    )
    .await
    .expect("answer within 10s");
    let upstream = headers
        .get("x-upstream")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status.as_u16(), upstream)
}

/// A call a companion received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Attach(String),
    Detach(String, Ending),
}

/// A companion that records its calls, injects `COMPANION_OF=<id>`, keeps
/// each instance's health channel, and can refuse its first attaches.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    health: Mutex<Vec<(String, watch::Receiver<Health>)>>,
    refuse: AtomicU32,
}

impl Recorder {
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Refuses the next `n` attaches.
    pub(crate) fn refuse(&self, n: u32) {
        self.refuse.store(n, Ordering::SeqCst);
    }

    /// The health channel given with `id`'s (last) attach.
    pub(crate) fn health_of(&self, id: &str) -> watch::Receiver<Health> {
        let health = self.health.lock().unwrap();
        health
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, rx)| rx.clone())
            .expect("attached")
    }
}

impl Companion for Recorder {
    fn attach(
        &self,
        instance: InstanceInfo,
        health: watch::Receiver<Health>,
    ) -> BoxFuture<'static, Result<Attachment, String>> {
        let refused = self
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !refused {
            self.calls
                .lock()
                .unwrap()
                .push(Call::Attach(instance.id.clone()));
            self.health
                .lock()
                .unwrap()
                .push((instance.id.clone(), health));
        }
        let calls = self.calls.clone();
        Box::pin(async move {
            if refused {
                return Err("registry unreachable".to_owned());
            }
            Ok(Attachment {
                env: vec![("COMPANION_OF".into(), instance.id.clone())],
                detach: Box::new(Detacher {
                    id: instance.id,
                    calls,
                }),
            })
        })
    }
}

#[derive(Debug)]
struct Detacher {
    id: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Detach for Detacher {
    fn detach(self: Box<Self>, ending: Ending) -> BoxFuture<'static, ()> {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Detach(self.id, ending));
        Box::pin(async {})
    }
}

/// An audit sink that keeps every event.
#[derive(Debug, Default)]
pub(crate) struct AuditLog {
    events: Mutex<Vec<AuditEvent>>,
}

impl AuditLog {
    pub(crate) fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Events with this action, as (target, detail).
    pub(crate) fn of(&self, action: &str) -> Vec<(String, serde_json::Value)> {
        self.events()
            .into_iter()
            .filter(|e| e.action == action)
            .map(|e| (e.target, e.detail))
            .collect()
    }
}

impl AuditSink for AuditLog {
    fn record(&self, event: AuditEvent) -> BoxFuture<'static, Result<(), String>> {
        self.events.lock().unwrap().push(event);
        Box::pin(async { Ok(()) })
    }
}

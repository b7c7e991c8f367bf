//! The Chaos Monkey controller against a real control plane (SQLite store,
//! registry, audit log) on tokio's paused clock. The platform records the
//! kills it is asked for (the real one, with processes, is exercised by
//! `ordo up`'s game day); at each kill it checks that the intent is
//! already committed to the audit log.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TempDir;
use ordo_chaos::{ChaosSettings, Timestamp};
use ordo_config::manifest::Manifest;
use ordo_control::chaos::{
    ChaosClock, ChaosError, ChaosMonkey, ChaosOptions, FaultSwitch, FixedErrorRates, actions,
};
use ordo_control::{AuditQuery, AuditRecord, ControlPlane, Order, Registration, Status};
use ordo_platform::{
    BoxFuture, Health, InstanceState, Phase, Platform, PlatformError, ServiceSpec,
};

/// Monday 2 March 2026, midnight UTC: slots of one second start here.
const MONDAY: &str = "2026-03-02T00:00:00Z";

fn manifest(chaos: &str) -> Manifest {
    let text = format!(
        "name: shop
services:
  - name: ratings
    command: /bin/true
    replicas: 3
    chaos: {{}}
chaos:
  enabled: true
  leashed: false
  mean_time_between_kills: 1
  min_time_between_kills: 0
  slot: 1s
  window: {{ start_hour: 0, end_hour: 24, weekdays_only: false, time_zone: UTC }}
  outage: null
  seed: 7
{chaos}"
    );
    ordo_config::parse::<Manifest>(&text, "ordo.yaml")
        .unwrap_or_else(|e| panic!("the test manifest is valid: {e}"))
        .config
}

fn settings(chaos: &str) -> ChaosSettings {
    ChaosSettings::from_manifest(&manifest(chaos)).expect("valid settings")
}

/// Registers `ratings-1..=n`, `UP`, with a lease that outlives the test.
async fn register(plane: &ControlPlane, n: u32) {
    for i in 1..=n {
        let mut r = Registration::new(
            format!("ratings-{i}"),
            "ratings",
            format!("127.0.0.1:{}", 4000 + i),
        );
        r.status = Some(Status::Up);
        r.lease_ms = Some(3_600_000);
        plane
            .registry()
            .register("test", r)
            .await
            .expect("registers");
    }
}

/// A platform that records kills, and replaces a killed instance with a new
/// one in the registry, as the local platform and its sidecars do.
#[derive(Debug)]
struct Recording {
    plane: ControlPlane,
    kills: Mutex<Vec<String>>,
    /// Intents missing from the audit log when their kill arrived.
    unrecorded: Mutex<Vec<String>>,
    /// Never returns from a kill (the process is killed meanwhile).
    hang: bool,
    next: Mutex<u32>,
}

impl Recording {
    fn new(plane: &ControlPlane) -> Arc<Recording> {
        Arc::new(Recording {
            plane: plane.clone(),
            kills: Mutex::default(),
            unrecorded: Mutex::default(),
            hang: false,
            next: Mutex::new(100),
        })
    }

    fn kills(&self) -> Vec<String> {
        self.kills.lock().unwrap().clone()
    }
}

impl Platform for Recording {
    fn list(&self) -> BoxFuture<'_, Result<Vec<InstanceState>, PlatformError>> {
        Box::pin(async move {
            let listing = self.plane.registry().instances(&Default::default());
            Ok(listing
                .instances
                .into_iter()
                .map(|i| InstanceState {
                    id: i.id,
                    service: i.service,
                    address: i.address.parse().expect("test addresses parse"),
                    pid: Some(1),
                    phase: Phase::Running,
                    health: Health::Up,
                    restarts: 0,
                    started_at: None,
                    last_exit: None,
                    log: "/dev/null".into(),
                })
                .collect())
        })
    }

    fn start(&self, _spec: ServiceSpec) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(async { Ok(()) })
    }

    fn stop(&self, _service: &str) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(async { Ok(()) })
    }

    fn kill(&self, instance: &str) -> BoxFuture<'_, Result<(), PlatformError>> {
        let instance = instance.to_owned();
        Box::pin(async move {
            let intents = self
                .plane
                .audit()
                .query(&AuditQuery {
                    action: Some(actions::KILL_INTENT.into()),
                    target: Some(instance.clone()),
                    ..AuditQuery::default()
                })
                .await
                .expect("the audit log reads");
            if intents.records.is_empty() {
                self.unrecorded.lock().unwrap().push(instance.clone());
            }
            if self.hang {
                println!("KILLING {instance}");
                std::future::pending::<()>().await;
            }
            self.kills.lock().unwrap().push(instance.clone());
            let replacement = {
                let mut n = self.next.lock().unwrap();
                *n += 1;
                *n
            };
            self.plane
                .registry()
                .deregister("platform", &instance)
                .await
                .expect("the killed instance was registered");
            let mut r = Registration::new(
                format!("ratings-{replacement}"),
                "ratings",
                format!("127.0.0.1:{}", 4000 + replacement),
            );
            r.status = Some(Status::Up);
            r.lease_ms = Some(3_600_000);
            self.plane
                .registry()
                .register("platform", r)
                .await
                .expect("registers");
            Ok(())
        })
    }

    fn scale(&self, _service: &str, _replicas: u32) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A fault switch that records what it was told.
#[derive(Debug, Default)]
struct Switch(Mutex<Vec<bool>>);

impl FaultSwitch for Switch {
    fn set_halted<'a>(&'a self, halted: bool, by: &'a str) -> BoxFuture<'a, Result<usize, String>> {
        assert!(!by.is_empty());
        self.0.lock().unwrap().push(halted);
        Box::pin(async { Ok(4) })
    }
}

fn options(settings: ChaosSettings, rates: FixedErrorRates) -> ChaosOptions {
    let mut o = ChaosOptions::new(settings, Arc::new(rates));
    o.clock = ChaosClock::starting_at(MONDAY.parse::<Timestamp>().unwrap());
    o
}

/// A control plane in a fresh folder with `ratings-1..=3` registered, and
/// a recording platform.
async fn fleet(name: &str) -> (TempDir, ControlPlane, Arc<Recording>) {
    let dir = TempDir::new(name);
    let plane = common::open(dir.path()).await;
    register(&plane, 3).await;
    let platform = Recording::new(&plane);
    (dir, plane, platform)
}

async fn start(plane: &ControlPlane, platform: &Arc<Recording>, o: ChaosOptions) -> ChaosMonkey {
    ChaosMonkey::start(plane.clone(), platform.clone(), o)
        .await
        .expect("the Chaos Monkey starts")
}

/// Runs a Chaos Monkey with `o` for `span` of (paused) time, then stops it.
async fn run_for(plane: &ControlPlane, platform: &Arc<Recording>, o: ChaosOptions, span: Duration) {
    let monkey = start(plane, platform, o).await;
    tokio::time::sleep(span).await;
    monkey.shutdown().await;
}

async fn records(plane: &ControlPlane, action: &str) -> Vec<AuditRecord> {
    plane
        .audit()
        .query(&AuditQuery {
            action: Some(action.into()),
            order: Order::Asc,
            limit: Some(1000),
            ..AuditQuery::default()
        })
        .await
        .expect("the audit log reads")
        .records
}

#[tokio::test(start_paused = true)]
async fn each_slot_kills_once_and_every_kill_is_recorded_before_it_happens() {
    let (_dir, plane, platform) = fleet("chaos-kills").await;
    let monkey = start(
        &plane,
        &platform,
        options(settings(""), FixedErrorRates::new(Some(0.0))),
    )
    .await;
    // Ten one-second slots, each drawn with probability 1.
    tokio::time::sleep(Duration::from_millis(10_000)).await;
    monkey.shutdown().await;

    let kills = platform.kills();
    assert_eq!(kills.len(), 10, "one kill per slot: {kills:?}");
    assert!(platform.unrecorded.lock().unwrap().is_empty());
    let intents = records(&plane, actions::KILL_INTENT).await;
    let killed = records(&plane, actions::KILLED).await;
    assert_eq!(intents.len(), 10);
    assert_eq!(killed.len(), 10);
    for (intent, done) in intents.iter().zip(&killed) {
        assert_eq!(intent.target, done.target);
        assert!(intent.id < done.id);
        assert_eq!(done.detail["intent"], intent.id);
        assert_eq!(intent.actor, "chaos-monkey");
    }
    let scheduled = records(&plane, actions::KILL_SCHEDULED).await;
    assert_eq!(scheduled.len(), 10);
    let status = monkey.status().await.unwrap();
    assert!(status.enabled && !status.leashed);
    assert_eq!(status.decisions[0].state, "killed");
}

#[tokio::test(start_paused = true)]
async fn leashed_it_kills_nothing_and_records_every_decision() {
    let (_dir, plane, platform) = fleet("chaos-leashed").await;
    let settings = settings("").with_leashed(true);
    run_for(
        &plane,
        &platform,
        options(settings, FixedErrorRates::new(Some(0.0))),
        Duration::from_millis(5_000),
    )
    .await;
    assert!(platform.kills().is_empty());
    assert!(records(&plane, actions::KILL_INTENT).await.is_empty());
    let leashed = records(&plane, actions::KILL_LEASHED).await;
    assert_eq!(leashed.len(), 5);
    assert!(leashed.iter().all(|r| r.target.starts_with("ratings-")));
}

#[tokio::test(start_paused = true)]
async fn guardrails_skip_kills_and_say_why() {
    for (chaos, rates, reason) in [
        (
            "  min_healthy: 3\n",
            FixedErrorRates::new(Some(0.0)),
            "min-healthy",
        ),
        (
            "  min_healthy: 100%\n",
            FixedErrorRates::new(Some(0.0)),
            "min-healthy",
        ),
        (
            "  outage: { max_error_rate: 0.05 }\n",
            FixedErrorRates::new(Some(0.2)),
            "outage",
        ),
        (
            "  outage: { max_error_rate: 0.05 }\n",
            FixedErrorRates::new(None),
            "error-rate-unknown",
        ),
    ] {
        let dir = TempDir::new("chaos-guard");
        let plane = common::open(dir.path()).await;
        register(&plane, 3).await;
        let platform = Recording::new(&plane);
        let settings = ChaosSettings::from_manifest(&manifest_with(chaos)).unwrap();
        let monkey = start(&plane, &platform, options(settings, rates)).await;
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        monkey.shutdown().await;
        assert!(platform.kills().is_empty(), "{reason}");
        let skipped = records(&plane, actions::KILL_SKIPPED).await;
        assert_eq!(skipped.len(), 3, "{reason}");
        for s in skipped {
            assert_eq!(s.detail["reason"], reason);
            assert!(s.detail["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}

/// The test manifest with `extra` replacing its last chaos lines.
fn manifest_with(extra: &str) -> Manifest {
    let base = "name: shop
services:
  - name: ratings
    command: /bin/true
    replicas: 3
    chaos: {}
chaos:
  enabled: true
  leashed: false
  mean_time_between_kills: 1
  min_time_between_kills: 0
  slot: 1s
  window: { start_hour: 0, end_hour: 24, weekdays_only: false, time_zone: UTC }
  seed: 7
";
    let outage = if extra.contains("outage") {
        ""
    } else {
        "  outage: null\n"
    };
    ordo_config::parse::<Manifest>(&format!("{base}{outage}{extra}"), "ordo.yaml")
        .unwrap_or_else(|e| panic!("valid: {e}"))
        .config
}

#[tokio::test(start_paused = true)]
async fn pause_and_halt_stop_kills_until_resumed_and_are_audited() {
    let (_dir, plane, platform) = fleet("chaos-switches").await;
    let switch = Arc::new(Switch::default());
    let mut o = options(settings(""), FixedErrorRates::new(Some(0.0)));
    o.faults = Some(switch.clone());
    let monkey = start(&plane, &platform, o).await;

    let status = monkey.pause("alice").await.unwrap();
    assert_eq!(status.paused.as_ref().unwrap().actor, "alice");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert!(platform.kills().is_empty());

    monkey.resume("alice").await.unwrap();
    let (status, proxies) = monkey.halt("bob").await.unwrap();
    assert_eq!(status.halted.as_ref().unwrap().actor, "bob");
    assert_eq!(proxies, Some(4));
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert!(platform.kills().is_empty());

    let status = monkey.resume("carol").await.unwrap();
    assert!(status.paused.is_none() && status.halted.is_none());
    assert_eq!(*switch.0.lock().unwrap(), vec![true, false]);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    monkey.shutdown().await;
    assert_eq!(platform.kills().len(), 2);

    let reasons: Vec<String> = records(&plane, actions::KILL_SKIPPED)
        .await
        .iter()
        .map(|r| r.detail["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "paused").count(),
        3,
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| *r == "halted").count(),
        3,
        "{reasons:?}"
    );
    for (action, actor) in [
        (actions::PAUSED, "alice"),
        (actions::HALTED, "bob"),
        (actions::RESUMED, "carol"),
    ] {
        let r = records(&plane, action).await;
        assert!(r.iter().any(|r| r.actor == actor), "{action} by {actor}");
    }
    // The switches outlive the process: a new controller starts halted,
    // and halts the proxies again.
    monkey.halt("dave").await.unwrap();
    let proxies = Arc::new(Switch::default());
    let mut o = options(settings(""), FixedErrorRates::new(Some(0.0)));
    o.faults = Some(proxies.clone());
    let again = start(&plane, &platform, o).await;
    assert_eq!(again.status().await.unwrap().halted.unwrap().actor, "dave");
    assert_eq!(*proxies.0.lock().unwrap(), vec![true]);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(platform.kills().len(), 2, "no kill while halted");
    again.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_intent_the_store_refuses_kills_nothing() {
    let dir = TempDir::new("chaos-closed");
    let mut opts = common::options(dir.path());
    opts.busy_timeout = Duration::from_millis(20);
    let plane = ControlPlane::open(opts).await.unwrap();
    register(&plane, 3).await;
    let platform = Recording::new(&plane);
    // One slot of an hour: the draw happens at once, the kill later.
    let settings = ChaosSettings::from_manifest(&manifest_with("").clone_with_slot("1h")).unwrap();
    let monkey = start(
        &plane,
        &platform,
        options(settings, FixedErrorRates::new(Some(0.0))),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let status = monkey.status().await.unwrap();
    let planned = &status.decisions[0];
    assert_eq!(planned.state, "planned");
    let due: Timestamp = planned.at.as_deref().unwrap().parse().unwrap();

    // Another connection holds the write lock past the kill's time.
    let lock = rusqlite::Connection::open(plane.database()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let wait = due.duration_since(MONDAY.parse().unwrap());
    tokio::time::sleep(Duration::try_from(wait).unwrap() + Duration::from_secs(5)).await;
    assert!(platform.kills().is_empty(), "nothing is killed unrecorded");
    lock.execute_batch("ROLLBACK").unwrap();
    assert!(records(&plane, actions::KILL_INTENT).await.is_empty());

    // Once the store takes writes again, the slot's kill goes ahead, recorded first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    monkey.shutdown().await;
    assert_eq!(platform.kills().len(), 1);
    assert!(platform.unrecorded.lock().unwrap().is_empty());
    assert_eq!(records(&plane, actions::KILL_INTENT).await.len(), 1);
}

trait SlotLength {
    fn clone_with_slot(&self, slot: &str) -> Manifest;
}

impl SlotLength for Manifest {
    fn clone_with_slot(&self, slot: &str) -> Manifest {
        let mut m = self.clone();
        m.chaos.slot = Some(slot.parse().expect("a duration"));
        m
    }
}

#[tokio::test(start_paused = true)]
async fn kill_now_goes_through_the_guardrails() {
    let (_dir, plane, platform) = fleet("chaos-now").await;
    // Work days only: no slot is open on this Monday at midnight, so only
    // kill-now kills.
    let mut m = manifest_with("  min_healthy: 2\n");
    m.chaos.slot = None;
    let settings = ChaosSettings::from_manifest(&m).unwrap();
    let monkey = start(
        &plane,
        &platform,
        options(settings, FixedErrorRates::new(Some(0.0))),
    )
    .await;

    let k = monkey.kill_now("ops", "ratings").await.unwrap();
    assert_eq!(k.outcome, "killed", "{k:?}");
    assert_eq!(platform.kills(), vec![k.target.clone().unwrap()]);
    let intent = records(&plane, actions::KILL_INTENT).await;
    assert_eq!(intent[0].actor, "ops");

    // One healthy, two required: no kill may go ahead.
    let ids: Vec<String> = plane
        .registry()
        .instances(&Default::default())
        .instances
        .into_iter()
        .map(|i| i.id)
        .collect();
    for id in &ids[1..] {
        plane
            .registry()
            .heartbeat("test", id, Some(Status::Down))
            .await
            .unwrap();
    }
    let k = monkey.kill_now("ops", "ratings").await.unwrap();
    assert_eq!(k.outcome, "skipped", "{k:?}");
    assert_eq!(k.reason.as_deref(), Some("min-healthy"));
    assert_eq!(platform.kills().len(), 1);

    let e = monkey.kill_now("ops", "nope").await.unwrap_err();
    assert!(matches!(e, ChaosError::Unknown(_)), "{e}");
    monkey.shutdown().await;
}

/// The settings of the restart test: one slot per hour, so both halves of
/// the test run in the same slot.
fn hourly() -> ChaosSettings {
    ChaosSettings::from_manifest(&manifest_with("").clone_with_slot("1h")).unwrap()
}

/// The child half of the next test: it runs only when the parent names a
/// data folder in `ORDO_CHAOS_CHILD`, records the kill's intent, says
/// `KILLING <id>` and hangs in the kill until the parent SIGKILLs it.
#[tokio::test(start_paused = true)]
async fn child_that_dies_between_intent_and_kill() {
    let Ok(dir) = std::env::var("ORDO_CHAOS_CHILD") else {
        return;
    };
    let plane = common::open(std::path::Path::new(&dir)).await;
    register(&plane, 3).await;
    let platform = Arc::new(Recording {
        plane: plane.clone(),
        kills: Mutex::default(),
        unrecorded: Mutex::default(),
        hang: true,
        next: Mutex::new(100),
    });
    let _alive = keep_alive(&plane);
    let _monkey = ChaosMonkey::start(
        plane.clone(),
        platform,
        options(hourly(), FixedErrorRates::new(Some(0.0))),
    )
    .await
    .unwrap();
    std::future::pending::<()>().await;
}

/// Renews every registered instance's lease every ten minutes, as its
/// sidecar would, while the returned task runs.
fn keep_alive(plane: &ControlPlane) -> tokio::task::JoinHandle<()> {
    let plane = plane.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(600)).await;
            for i in plane.registry().instances(&Default::default()).instances {
                let _ = plane.registry().heartbeat("test", &i.id, None).await;
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_control_plane_killed_between_intent_and_kill_never_kills_twice_for_that_slot() {
    use std::io::{BufRead, BufReader};

    let dir = TempDir::new("chaos-crash");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_that_dies_between_intent_and_kill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ORDO_CHAOS_CHILD", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the test binary starts again as the child");
    let stdout = child.stdout.take().unwrap();
    // The child's own clock is paused: it reaches the kill at once.
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest may print the test's name on the same line first.
            .find_map(|l| l.split_once("KILLING ").map(|(_, id)| id.trim().to_owned()));
        let _ = said.send(line);
    });
    let target = heard.recv_timeout(Duration::from_secs(120));
    child.kill().expect("SIGKILL the child");
    let _ = child.wait();
    let target = target
        .ok()
        .flatten()
        .expect("the child reached the kill within two minutes");

    let plane = common::open(dir.path()).await;
    let intents = records(&plane, actions::KILL_INTENT).await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].target, target);
    assert!(records(&plane, actions::KILLED).await.is_empty());

    register(&plane, 3).await;
    let _alive = keep_alive(&plane);
    let platform = Recording::new(&plane);
    let monkey = start(
        &plane,
        &platform,
        options(hourly(), FixedErrorRates::new(Some(0.0))),
    )
    .await;
    // The rest of the slot passes.
    tokio::time::sleep(Duration::from_secs(3_599)).await;
    let status = monkey.status().await.unwrap();
    monkey.shutdown().await;

    assert!(platform.kills().is_empty(), "no second kill in the slot");
    assert_eq!(records(&plane, actions::KILL_INTENT).await.len(), 1);
    let resolved = records(&plane, actions::KILL_RESOLVED).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].target, target);
    assert_eq!(resolved[0].detail["intent"], intents[0].id);
    assert_eq!(
        resolved[0].detail["running"], true,
        "the instance never died"
    );
    assert_eq!(status.decisions[0].state, "resolved");
}

/// A fleet whose Chaos Monkey has drawn its kill for the hour, not yet due.
async fn an_hour_with_a_planned_kill(
    name: &str,
) -> (TempDir, ControlPlane, Arc<Recording>, ChaosMonkey) {
    let (dir, plane, platform) = fleet(name).await;
    let monkey = start(
        &plane,
        &platform,
        options(hourly(), FixedErrorRates::new(Some(0.0))),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(monkey.status().await.unwrap().decisions[0].state, "planned");
    (dir, plane, platform, monkey)
}

#[tokio::test(start_paused = true)]
async fn a_kill_due_while_no_controller_ran_is_skipped_as_missed() {
    let (_dir, plane, platform, monkey) = an_hour_with_a_planned_kill("chaos-missed").await;
    monkey.shutdown().await;

    // Back two hours later: that slot has closed.
    let mut o = options(hourly(), FixedErrorRates::new(Some(0.0)));
    let later: Timestamp = "2026-03-02T02:00:00Z".parse().unwrap();
    o.clock = ChaosClock::starting_at(later);
    let again = start(&plane, &platform, o).await;
    let skipped = records(&plane, actions::KILL_SKIPPED).await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].detail["reason"], "missed");
    again.shutdown().await;
    assert!(platform.kills().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_kill_now_takes_the_slots_kill_of_its_group() {
    let (_dir, plane, platform, monkey) = an_hour_with_a_planned_kill("chaos-now-slot").await;
    let k = monkey.kill_now("ops", "ratings").await.unwrap();
    assert_eq!(k.outcome, "killed", "{k:?}");
    // The rest of the hour passes: the planned kill is not carried out.
    tokio::time::sleep(Duration::from_secs(3_500)).await;
    monkey.shutdown().await;
    assert_eq!(platform.kills().len(), 1);
    let skipped = records(&plane, actions::KILL_SKIPPED).await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].detail["reason"], "kill-now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_bad_requests_with_json_errors_and_documents_its_routes() {
    use http::{Method, Request, StatusCode};
    use ordo_test_support::client::{http1_client, send};

    let (_dir, plane, platform) = fleet("chaos-api").await;
    let mut o = ChaosOptions::new(
        hourly().with_leashed(true),
        Arc::new(FixedErrorRates::new(Some(0.0))),
    );
    o.faults = Some(Arc::new(Switch::default()));
    let monkey = start(&plane, &platform, o).await;
    let (router, _) = plane.router_with(ordo_control::api::chaos_routes(monkey.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, server) = plane.serve_listener(listener, router).unwrap();
    let http = http1_client();
    let call = |method: Method, path: &str, actor: Option<&str>| {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"));
        if let Some(a) = actor {
            req = req.header("x-ordo-actor", a);
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let http = http.clone();
        async move {
            let (status, _, body) = send(&http, req).await;
            let json: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
            (status, json)
        }
    };

    let (s, v) = call(Method::GET, "/v1/chaos", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["enabled"].as_bool(), v["leashed"].as_bool()),
        (Some(true), Some(true))
    );
    let (s, v) = call(Method::GET, "/v1/chaos/plan", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["groups"][0]["key"], "ratings");
    assert_eq!(v["groups"][0]["healthy"], 3);

    let long = "x".repeat(65);
    for bad in ["", long.as_str()] {
        let (s, v) = call(Method::POST, "/v1/chaos/pause", Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["problems"][0]["field"], "x-ordo-actor", "{v}");
    }
    assert!(
        monkey.status().await.unwrap().paused.is_none(),
        "nothing changed"
    );
    let (s, v) = call(Method::POST, "/v1/chaos/kill/nope", Some("ops")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["error"].as_str().unwrap().contains("nope"), "{v}");
    let (s, v) = call(Method::GET, "/v1/chaos/halt", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");

    let (s, v) = call(Method::POST, "/v1/chaos/kill/ratings", Some("ops")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["outcome"], "leashed", "{v}");
    let (s, v) = call(Method::POST, "/v1/chaos/halt", Some("oncall")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["halted"]["actor"], "oncall");
    assert_eq!(v["proxies"], 4);
    let (s, v) = call(Method::POST, "/v1/chaos/kill/ratings", Some("ops")).await;
    assert_eq!(
        (s, v["outcome"].as_str(), v["reason"].as_str()),
        (StatusCode::OK, Some("skipped"), Some("halted"))
    );
    let (s, v) = call(Method::POST, "/v1/chaos/resume", Some("oncall")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("halted").is_none(), "{v}");

    let (_, doc) = call(Method::GET, "/openapi.json", None).await;
    for path in [
        "/v1/chaos",
        "/v1/chaos/plan",
        "/v1/chaos/pause",
        "/v1/chaos/resume",
        "/v1/chaos/halt",
        "/v1/chaos/kill/{service}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(platform.kills().is_empty());
    monkey.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_demos_slots_and_a_fleets_work_days_keep_separate_histories() {
    let (_dir, plane, platform) = fleet("chaos-calendars").await;
    // The demo: one-second slots, three kills.
    let demo = start(
        &plane,
        &platform,
        options(settings(""), FixedErrorRates::new(Some(0.0))),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    demo.shutdown().await;
    assert_eq!(platform.kills().len(), 3);

    // The same store, now on work days with a minimum of one day between
    // kills: the demo's slot numbers (billions) are not last week's kills.
    let mut m = manifest_with("");
    m.chaos.slot = None;
    m.chaos.min_time_between_kills = 1;
    let _alive = keep_alive(&plane);
    run_for(
        &plane,
        &platform,
        options(
            ChaosSettings::from_manifest(&m).unwrap(),
            FixedErrorRates::new(Some(0.0)),
        ),
        Duration::from_secs(86_400),
    )
    .await;
    assert_eq!(platform.kills().len(), 4, "the first work day has its kill");
    let too_soon = records(&plane, actions::KILL_SKIPPED).await;
    assert!(too_soon.is_empty(), "{too_soon:?}");
}

#[tokio::test(start_paused = true)]
async fn a_kill_now_interrupted_between_intent_and_kill_is_resolved_at_start() {
    let (_dir, plane, _) = fleet("chaos-now-crash").await;
    let hanging = Arc::new(Recording {
        plane: plane.clone(),
        kills: Mutex::default(),
        unrecorded: Mutex::default(),
        hang: true,
        next: Mutex::new(100),
    });
    let mut m = manifest_with("");
    m.chaos.slot = None;
    let settings = ChaosSettings::from_manifest(&m).unwrap();
    let monkey = start(
        &plane,
        &hanging,
        options(settings.clone(), FixedErrorRates::new(Some(0.0))),
    )
    .await;
    let asked = tokio::spawn({
        let monkey = monkey.clone();
        async move { monkey.kill_now("ops", "ratings").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let intents = records(&plane, actions::KILL_INTENT).await;
    assert_eq!(intents.len(), 1, "the intent is recorded before the kill");
    // The controller dies inside the kill.
    monkey.shutdown().await;
    assert!(
        asked.await.unwrap().is_err(),
        "the caller learns it stopped"
    );

    let platform = Recording::new(&plane);
    let again = start(
        &plane,
        &platform,
        options(settings, FixedErrorRates::new(Some(0.0))),
    )
    .await;
    let resolved = records(&plane, actions::KILL_RESOLVED).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].detail["intent"], intents[0].id);
    assert_eq!(resolved[0].target, intents[0].target);
    again.shutdown().await;
    assert!(platform.kills().is_empty());
}

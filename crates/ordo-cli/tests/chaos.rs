//! `ordo chaos` against a real fleet: `ordo up` runs the bookstore's
//! services as processes with their sidecars, and the Chaos Monkey is
//! switched on but never draws by itself (a mean of a billion slots), so
//! every kill here is the test's own: status, plan, kill-now of a real
//! process and its replacement, halt (kills refused, every sidecar's faults
//! locked), resume, and the audit log of it all.

mod common;

use common::{PATIENCE, Running, url_in};
use ordo_control::{AuditQuery, ControlClient, Order};
use ordo_test_support::temp::TempDir;
use tokio::process::Command;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The bookstore with a Chaos Monkey that is on, unleashed, and in
/// practice never draws: only `kill-now` kills.
fn manifest(dir: &std::path::Path) -> std::path::PathBuf {
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{WORKSPACE}/target"));
    let bin = |name: &str| format!("{target}/debug/bookstore-{name}");
    let text = format!(
        "name: chaos-cli
build: {{ command: cargo, args: [build, --quiet, -p, bookstore], dir: {WORKSPACE} }}
control: {{ lease: 3s, heartbeat: 1s }}
edge: {{ service: edge }}
services:
  - name: edge
    command: {edge}
    dependencies: [ {{ service: catalog }} ]
  - name: catalog
    command: {catalog}
    dependencies: [ {{ service: ratings }} ]
  - name: ratings
    command: {ratings}
    replicas: 3
    metadata: {{ cluster: ratings-v1, stack: main }}
    chaos: {{}}
chaos:
  enabled: true
  leashed: false
  slot: 1h
  mean_time_between_kills: 1000000000
  window: {{ start_hour: 0, end_hour: 24, weekdays_only: false }}
  min_healthy: 2
  outage: null
",
        edge = bin("edge"),
        catalog = bin("catalog"),
        ratings = bin("ratings"),
    );
    let path = dir.join("ordo.yaml");
    std::fs::write(&path, text).expect("the temp dir is writable");
    path
}

/// Runs `ordo chaos --control URL --actor tester ARGS`: exit code and output.
async fn chaos(control: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["chaos", "--control", control, "--actor", "tester"])
        .args(args)
        .output()
        .await
        .expect("ordo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordo_chaos_kills_halts_and_resumes_a_real_fleet_and_audits_each_step() {
    let dir = TempDir::new("chaos-cli");
    let file = manifest(dir.path());
    let data = dir.path().join("data");
    let mut up = Running::ordo(&[
        "up",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--control-address",
        "127.0.0.1:0",
        "--edge-address",
        "127.0.0.1:0",
    ]);
    let control = url_in(&up.wait_for("control plane").await);
    up.wait_for("chaos monkey   on for ratings").await;
    up.wait_for("all 5 instances running").await;

    let (code, out) = chaos(&control, &["status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("on, killing"), "{out}");
    assert!(out.contains("services       ratings"), "{out}");

    let (code, out) = chaos(&control, &["plan"]).await;
    assert_eq!(code, 0, "{out}");
    let ratings = out
        .lines()
        .find(|l| l.starts_with("ratings-v1 "))
        .unwrap_or_else(|| panic!("the ratings-v1 cluster: {out}"));
    assert!(
        ratings.split_whitespace().collect::<Vec<_>>()[1..4] == ["3", "3", "1"],
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("catalog ") && l.contains("never")),
        "{out}"
    );

    // A kill of a real process; the platform replaces it.
    let (code, out) = chaos(&control, &["kill-now", "ratings"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("killed: killed ratings-"), "{out}");
    let killed = out["killed: killed ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    up.wait_for("ratings-4      running").await;
    // Its sidecar stopped with it: it leaves the registry when its lease lapses.
    let client = ControlClient::new(&control).unwrap();
    tokio::time::timeout(PATIENCE, async {
        while client.instance(&killed).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{killed} is still registered"));

    // Halted: no kill, and no fault can be added to any sidecar.
    let (code, out) = chaos(&control, &["halt"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("halted: no kills; every fault removed from 6 proxies"),
        "{out}"
    );
    let admins: Vec<String> = client
        .instances(None, None)
        .await
        .unwrap()
        .instances
        .into_iter()
        .filter_map(|i| i.metadata.get(ordo_sidecar::SIDECAR_ADMIN).cloned())
        .collect();
    assert_eq!(admins.len(), 5, "a sidecar per instance");
    for admin in &admins {
        let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["fault", "--admin", admin, "add", "--abort", "503"])
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success(),
            "{admin} took a fault while halted: {text}"
        );
        assert!(text.contains("halted"), "{text}");
    }
    let (code, out) = chaos(&control, &["kill-now", "ratings"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("skipped:"), "{out}");
    // An operator's kill through the platform API is refused too.
    let live = client.instances(Some("ratings"), None).await.unwrap();
    let (status, _, body) = ordo_test_support::client::send(
        &ordo_test_support::client::http1_client(),
        http::Request::post(format!(
            "{control}/v1/platform/instances/{}/kill",
            live.instances[0].id
        ))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap(),
    )
    .await;
    assert_eq!(status, 423, "{}", String::from_utf8_lossy(&body));
    let (_, out) = chaos(&control, &["status"]).await;
    assert!(out.contains("halted         by tester"), "{out}");

    // Resumed: faults are allowed again.
    let (code, out) = chaos(&control, &["resume"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("halted "), "{out}");
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args([
            "fault",
            "--admin",
            &admins[0],
            "add",
            "--abort",
            "503",
            "--scenario",
            "never-sent",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The audit log holds every step, with who asked.
    let audit = client
        .audit(&AuditQuery {
            actor: Some("tester".into()),
            order: Order::Asc,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "kill-intent",
            "killed",
            "chaos-halted",
            "kill-skipped",
            "chaos-resumed"
        ],
        "{audit:?}"
    );
    assert_eq!(audit.records[3].detail["reason"], "halted");

    up.signal("INT");
    let status = tokio::time::timeout(PATIENCE, up.exit())
        .await
        .expect("ordo up stops");
    assert!(status.success(), "{}", up.output());
}

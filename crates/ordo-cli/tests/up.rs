//! `ordo up` as a newcomer runs it, with real processes: the bookstore
//! demo starts, answers through the edge, shows its steady load's live
//! summary, survives a killed instance (the replacement is admitted, the
//! callers' sidecars follow the registry), and Ctrl-C leaves no process
//! behind; a fleet whose services cannot start
//! reports why and still stops on SIGTERM; `ordo check` refuses bad
//! manifests.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{PATIENCE, Running, alive, pids_in, url_in};
use http::Request;
use http_body_util::Full;
use ordo_test_support::client::{get, http1_client, send, try_get};
use ordo_test_support::temp::TempDir;
use serde_json::Value;

const BOOKSTORE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bookstore");

async fn json(url: &str) -> Value {
    let (s, _, body) = get(&http1_client(), url).await;
    assert_eq!(s, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

/// Waits until `check` holds, polling every 50 ms.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let done = tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(done.is_ok(), "timed out waiting until {what}");
}

/// The UP instances of `service`: (id, address).
async fn up_instances(control: &str, service: &str) -> Vec<(String, String)> {
    let v = json(&format!(
        "{control}/v1/services/{service}/instances?status=UP"
    ))
    .await;
    let mut out: Vec<(String, String)> = v["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["address"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The endpoints a sidecar's cluster sends to.
async fn sidecar_endpoints(admin: &str, cluster: &str) -> Vec<String> {
    let v = json(&format!("http://{admin}/clusters")).await;
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == cluster)
        .flat_map(|c| c["endpoints"].as_array().unwrap().iter())
        .map(|e| e["address"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bookstore_answers_through_the_edge_and_survives_a_killed_instance() {
    let data = TempDir::new("bookstore");
    let mut up = Running::ordo(&[
        "up",
        BOOKSTORE,
        "--data",
        data.path().to_str().unwrap(),
        "--control-address",
        "127.0.0.1:0",
        "--edge-address",
        "127.0.0.1:0",
        "--load",
        "50",
        // This test kills an instance itself; the demo's Chaos Monkey stays off.
        "--no-chaos",
    ]);
    let control = url_in(&up.wait_for("control plane").await);
    let edge = url_in(&up.wait_for("  edge ").await);
    up.wait_for("chaos monkey   off").await;
    up.wait_for("all 5 instances running").await;
    // The steady load's live summary: requests, latency, instances, circuits.
    let line = up
        .wait_for("| catalog 1/1  edge 1/1  ratings 3/3 | circuits: all 3 closed")
        .await;
    assert!(line.contains("50/s") && line.contains("p99"), "{line}");

    let book = json(&format!("{edge}/books/1")).await;
    assert_eq!(book["book"]["title"], "Release It!");
    assert!(
        book["rating"]["instance"]
            .as_str()
            .is_some_and(|i| i.starts_with("ratings-")),
        "{book}"
    );
    assert_eq!(book["instance"], "catalog-1");
    assert_eq!(book["edge"], "edge-1");
    eventually("three ratings instances are UP", || async {
        up_instances(&control, "ratings").await.len() == 3
    })
    .await;
    let before = up_instances(&control, "ratings").await;
    let catalog = json(&format!("{control}/v1/instances/catalog-1")).await;
    let catalog_sidecar = catalog["metadata"]["sidecar_admin"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("catalog's sidecar knows the three", || async {
        sidecar_endpoints(&catalog_sidecar, "ratings").await.len() == 3
    })
    .await;

    // Kill ratings-2 through the control plane's platform API.
    let victim = before
        .iter()
        .find(|(id, _)| id == "ratings-2")
        .unwrap()
        .1
        .clone();
    let (s, _, body) = send(
        &http1_client(),
        Request::post(format!("{control}/v1/platform/instances/ratings-2/kill"))
            .header("x-ordo-actor", "the-up-test")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    // Replaced: a new id on a new port, admitted once healthy; the
    // killed one leaves the registry (its lease lapses) and the sidecar
    // follows, with no restart.
    eventually("ratings-4 replaces ratings-2", || async {
        let now = up_instances(&control, "ratings").await;
        let ids: Vec<&str> = now.iter().map(|(id, _)| id.as_str()).collect();
        ids == ["ratings-1", "ratings-3", "ratings-4"]
    })
    .await;
    let now = up_instances(&control, "ratings").await;
    let addresses: Vec<String> = now.iter().map(|(_, a)| a.clone()).collect();
    assert!(!addresses.contains(&victim));
    eventually("catalog's sidecar sends to the new set", || async {
        sidecar_endpoints(&catalog_sidecar, "ratings").await == {
            let mut a = addresses.clone();
            a.sort();
            a
        }
    })
    .await;
    for _ in 0..20 {
        let (s, _, body) = get(&http1_client(), &format!("{edge}/books/2")).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    }
    // Everything was audited, the request's actor first.
    let audit = json(&format!("{control}/v1/audit?target=ratings-2&order=asc")).await;
    let actions: Vec<(&str, &str)> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["actor"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    let requested = actions
        .iter()
        .position(|a| *a == ("the-up-test", "kill-requested"));
    let killed = actions.iter().position(|a| a.1 == "instance-killed");
    assert!(
        requested.is_some() && killed.is_some() && requested < killed,
        "{actions:?}"
    );

    // Ctrl-C stops everything it started.
    up.signal("INT");
    let status = up.exit().await;
    assert!(status.success(), "{status}\n{}", up.output());
    assert!(
        up.output()
            .contains("latency   from each request's intended send time"),
        "the load's report at the end:\n{}",
        up.output()
    );
    let pids = pids_in(&up.output());
    assert!(pids.len() >= 6, "{pids:?}\n{}", up.output());
    for pid in pids {
        assert!(!alive(pid), "pid {pid} outlived ordo up");
    }
    assert!(
        try_get(&http1_client(), &format!("{edge}/")).await.is_err(),
        "the edge is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_that_cannot_start_are_reported_and_sigterm_still_stops_all() {
    let dir = TempDir::new("broken");
    let manifest = dir.path().join("ordo.yaml");
    std::fs::write(
        &manifest,
        "\
name: broken
control: { address: 127.0.0.1:0, lease: 3s, heartbeat: 1s }
restart: { initial_backoff: 100ms, max_backoff: 400ms, stop_timeout: 2s }
services:
  - name: ghost
    command: ./does-not-exist
  - name: mute
    command: sleep
    args: ['1000']
    health: { start_timeout: 500ms }
  - name: crash
    command: sh
    args: [-c, 'echo starting; exit 3']
",
    )
    .unwrap();
    let mut up = Running::ordo(&["up", manifest.to_str().unwrap()]);
    up.wait_for("cannot start `./does-not-exist`: No such file or directory")
        .await;
    up.wait_for("never answered GET /health within 500ms").await;
    up.wait_for("exited with status 3").await;
    // Still backing off, not spinning: the crash is retried, slower each time.
    up.wait_for("crash-1        backoff   exited with status 3; restart 3")
        .await;
    up.signal("TERM");
    let status = up.exit().await;
    assert!(status.success(), "{status}\n{}", up.output());
    let log = dir.path().join(".ordo/logs/crash/crash-1.log");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log.contains("starting"),
        "the instance's output is in its log: {log}"
    );
    for pid in pids_in(&up.output()) {
        assert!(!alive(pid), "pid {pid} outlived ordo up");
    }
}

#[tokio::test]
async fn check_names_the_file_line_and_field() {
    let dir = TempDir::new("check");
    let file = dir.path().join("ordo.yaml");
    std::fs::write(
        &file,
        "\
name: loop
services:
  - { name: a, command: x, dependencies: [ { service: b } ] }
  - { name: b, command: x, dependencies: [ { service: a }, { service: c } ] }
",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["check", dir.path().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = file.display();
    assert_eq!(
        err.trim(),
        format!(
            "{f}:4:46: services[1].dependencies[0].service: `a` → `b` → `a` is a cycle: \
             a request could go round it forever\n\
             {f}:4:62: services[1].dependencies[1].service: no service is named `c`"
        )
    );

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["check", BOOKSTORE])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok (3 services, 5 instances)"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordo_load_sends_on_schedule_and_reports() {
    let up = ordo_test_support::Upstream::builder()
        .name("u")
        .start()
        .await;
    let mut load = Running::ordo(&["load", &up.url("/"), "--rate", "40", "--duration", "1s"]);
    let status = load.exit().await;
    assert!(status.success(), "{}", load.output());
    assert_eq!(up.hits(), 40, "{}", load.output());
    let out = load.output();
    assert!(
        out.contains("requests  intended 40  sent 40  completed 40  errors 0"),
        "{out}"
    );

    let mut bad = Running::ordo(&["load", "ftp://x/", "--rate", "0"]);
    let status = bad.exit().await;
    assert_eq!(status.code(), Some(2));
    let out = bad.output();
    assert!(out.contains("rate") && out.contains("url"), "{out}");
}

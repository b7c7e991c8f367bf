//! `ordo fault` and `ordo toxiproxy` as an operator runs them, against real
//! processes: a fault scoped to a FIT scenario breaks a dependency two hops
//! down for tagged requests only (three processes: the proxy with an edge
//! and an outbound listener, a service that calls its dependency, the
//! dependency); list, remove and halt; a lease held by the command and
//! reverted by the proxy when the command dies; errors that say what to do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use ordo_test_support::client::{http1_client, send};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const PATIENCE: Duration = Duration::from_secs(10);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ordo-fault-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A child process and the lines it logged, read until one matched.
struct Proc {
    child: Child,
}

/// Spawns `cmd` and reads its stdout and stderr until a line contains
/// `marker`; returns the process and that line.
async fn spawn_until(mut cmd: Command, marker: &str) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let tx2 = tx.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = out.next_line().await {
            let _ = tx.send(l);
        }
    });
    tokio::spawn(async move {
        while let Ok(Some(l)) = err.next_line().await {
            let _ = tx2.send(l);
        }
    });
    let mut seen = Vec::new();
    let line = tokio::time::timeout(PATIENCE, async {
        while let Some(l) = rx.recv().await {
            if l.contains(marker) {
                return Some(l);
            }
            seen.push(l);
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("no line with {marker:?}; saw {seen:?}"));
    // Keep draining, so the child never blocks on a full pipe.
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    (Proc { child }, line)
}

/// The `address=` of a log line, or the URL's authority of a
/// `listening on http://...` line.
fn address(line: &str) -> String {
    if let Some(rest) = line.split("address=").nth(1) {
        return rest.split_whitespace().next().unwrap().to_owned();
    }
    line.rsplit("http://").next().unwrap().trim().to_owned()
}

fn ordo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ordo"));
    c.env("RUST_LOG", "info");
    c
}

/// Runs `ordo fault ...` to completion: (exit code, stdout, stderr).
async fn fault(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        PATIENCE,
        Command::new(env!("CARGO_BIN_EXE_ordo"))
            .arg("fault")
            .args(args)
            .env_remove("ORDO_ADMIN")
            .output(),
    )
    .await
    .expect("ordo fault finished")
    .expect("ran ordo fault");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `ordo-upstream` binary, built by cargo next to `ordo`.
fn upstream_bin() -> PathBuf {
    let ordo = PathBuf::from(env!("CARGO_BIN_EXE_ordo"));
    let dir = ordo.parent().unwrap();
    let bin = dir.join("ordo-upstream");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p ordo-test-support --bin ordo-upstream`",
        bin.display()
    );
    bin
}

async fn upstream(name: &str, extra: &[&str]) -> (Proc, String) {
    let mut c = Command::new(upstream_bin());
    c.args(["--listen", "127.0.0.1:0", "--name", name])
        .args(extra);
    let (p, line) = spawn_until(c, "listening on").await;
    (p, address(&line))
}

/// `GET url` with headers: status and body.
async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (s, _, body) = tokio::time::timeout(
        PATIENCE,
        send(&http1_client(), req.body(Full::new(Bytes::new())).unwrap()),
    )
    .await
    .expect("an answer");
    (s.as_u16(), String::from_utf8_lossy(&body).into_owned())
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write config");
    path
}

/// Starts a proxy whose one listener, `edge`, sends everything to `up`;
/// returns the process and its admin address.
async fn edge_proxy(dir: &Path, file: &str, up: &str) -> (Proc, String) {
    let file = write(
        dir,
        file,
        &format!(
            "admin: {{ address: 127.0.0.1:0 }}
listeners: [ {{ name: edge, address: 127.0.0.1:0, routes: [ {{ name: all, cluster: c }} ] }} ]
clusters: [ {{ name: c, endpoints: [ {{ address: {up} }} ] }} ]
"
        ),
    );
    let mut cmd = ordo();
    cmd.args(["proxy", "--config"]).arg(&file);
    let (p, line) = spawn_until(cmd, "admin listening").await;
    (p, address(&line))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_fault_two_hops_down_breaks_tagged_requests_only() {
    let dir = temp_dir("two-hops");
    // The dependency two hops down.
    let (_ratings, ratings) = upstream("ratings", &[]).await;
    // The proxy first serves the outbound listener its service will call.
    let outbound = format!(
        "admin: {{ address: 127.0.0.1:0 }}
listeners:
  - name: to-ratings
    address: 127.0.0.1:0
    routes: [ {{ name: ratings, cluster: ratings, policy: {{ retry: {{ max_attempts: 1 }} }} }} ]
clusters:
  - name: ratings
    endpoints: [ {{ address: {ratings} }} ]
"
    );
    let file = write(&dir, "proxy.yaml", &outbound);
    let mut cmd = ordo();
    cmd.args([
        "proxy",
        "--workers",
        "1",
        "--watch-interval-ms",
        "100",
        "--config",
    ])
    .arg(&file);
    let (proxy, admin_line) = spawn_until(cmd, "admin listening").await;
    let admin = address(&admin_line);
    let to_ratings = listener_addr(&admin, "to-ratings").await;
    // The service in the middle calls its dependency through the proxy,
    // passing the FIT header on as a real service does.
    let (_catalog, catalog) =
        upstream("catalog", &["--forward", &format!("http://{to_ratings}")]).await;
    // Then the edge in front of the service (a reload).
    let full = outbound.replace(
        "clusters:",
        &format!(
            "  - name: edge
    address: 127.0.0.1:0
    routes: [ {{ name: catalog, cluster: catalog, policy: {{ retry: {{ max_attempts: 1 }} }} }} ]
clusters:
  - name: catalog
    endpoints: [ {{ address: {catalog} }} ]"
        ),
    );
    write(&dir, "proxy.yaml", &full);
    let edge = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(a) = try_listener_addr(&admin, "edge").await {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the edge listener after the reload");
    let url = format!("http://{edge}/book/1");
    assert_eq!(get(&url, &[]).await, (200, "ratings".to_owned()));

    let (code, out, err) = fault(&[
        "--admin",
        &admin,
        "add",
        "--id",
        "ratings-down",
        "--scenario",
        "checkout",
        "--cluster",
        "ratings",
        "--abort",
        "503",
        "--body",
        "ratings down (injected)",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added ratings-down"), "{out}");
    for _ in 0..20 {
        let (s, body) = get(&url, &[("x-ordo-fit", "checkout")]).await;
        assert_eq!((s, body.as_str()), (503, "ratings down (injected)"));
        assert_eq!(get(&url, &[]).await, (200, "ratings".to_owned()));
        assert_eq!(get(&url, &[("x-ordo-fit", "search")]).await.0, 200);
    }
    let (code, out, _) = fault(&["--admin", &admin, "list"]).await;
    assert_eq!(code, 0);
    let row = out
        .lines()
        .find(|l| l.contains("ratings-down"))
        .expect(&out);
    assert!(
        row.contains("scenario=checkout") && row.contains("abort 503"),
        "{row}"
    );
    assert!(
        row.split_whitespace().any(|w| w == "20"),
        "20 injected: {row}"
    );
    let (code, out, _) = fault(&["--admin", &admin, "rm", "ratings-down"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("removed ratings-down"), "{out}");
    assert_eq!(get(&url, &[("x-ordo-fit", "checkout")]).await.0, 200);
    drop(proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_held_by_the_command_and_reverted_when_it_dies() {
    let dir = temp_dir("lease");
    let (_up, up) = upstream("u", &[]).await;
    let (_proxy, admin) = edge_proxy(&dir, "proxy.yaml", &up).await;
    let url = format!("http://{}/", listener_addr(&admin, "edge").await);

    // Held while the command runs, removed when it is stopped.
    let mut hold = Command::new(env!("CARGO_BIN_EXE_ordo"));
    hold.args([
        "fault", "--admin", &admin, "add", "--abort", "500", "--lease", "600ms",
    ]);
    let (mut holder, _) = spawn_until(hold, "added").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(get(&url, &[]).await.0, 500, "renewed past its lease");
    let pid = holder.child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(PATIENCE, holder.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert_eq!(get(&url, &[]).await.0, 200, "removed on the way out");

    // Killed outright: the proxy reverts the fault once the lease lapses.
    let mut hold = Command::new(env!("CARGO_BIN_EXE_ordo"));
    hold.args([
        "fault", "--admin", &admin, "add", "--abort", "500", "--lease", "500ms",
    ]);
    let (mut holder, _) = spawn_until(hold, "added").await;
    assert_eq!(get(&url, &[]).await.0, 500);
    holder.child.kill().await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        get(&url, &[]).await.0,
        200,
        "the proxy reverted it by itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_clears_every_proxy_and_errors_say_what_to_do() {
    let (code, _, err) = fault(&["list"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("--admin"), "{err}");

    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (code, _, err) = fault(&["--admin", &dead, "list"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach"), "{err}");

    let dir = temp_dir("halt");
    let (_up, up) = upstream("u", &[]).await;
    let mut admins = Vec::new();
    let mut procs = Vec::new();
    for i in 0..2 {
        let (p, admin) = edge_proxy(&dir, &format!("p{i}.yaml"), &up).await;
        admins.push(admin);
        procs.push(p);
    }
    let (code, _, err) = fault(&[
        "--admin",
        &admins[0],
        "add",
        "--percent",
        "150",
        "--abort",
        "503",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("percent: must be 0 to 100"), "{err}");
    let (code, _, err) =
        fault(&["--admin", &admins[0], "add", "--cluster", "nope", "--reset"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no cluster is named `nope`"), "{err}");
    let (code, _, err) = fault(&["--admin", &admins[0], "add"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("say what to inject"), "{err}");

    let both = ["--admin", &admins[0], "--admin", &admins[1]];
    for _ in 0..3 {
        let (code, _, err) =
            fault(&[&both[..], &["add", "--delay", "normal:10ms~2ms"]].concat()).await;
        assert_eq!(code, 0, "{err}");
    }
    let started = tokio::time::Instant::now();
    let (code, out, err) = fault(&[&both[..], &["halt"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.matches("3 fault(s) removed").count(), 2, "{out}");
    let (_, out, _) = fault(&[&both[..], &["list", "--json"]].concat()).await;
    assert_eq!(out.trim(), "[]\n[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordo_toxiproxy_serves_toxiproxys_api_and_the_cli_adds_toxics() {
    // An echo server behind the TCP proxy.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let dir = temp_dir("toxiproxy");
    let proxies = write(
        &dir,
        "toxiproxy.json",
        &format!(r#"[{{"name": "echo", "listen": "127.0.0.1:0", "upstream": "{echo_addr}"}}]"#),
    );
    let mut cmd = ordo();
    cmd.args(["toxiproxy", "--port", "0", "--config"])
        .arg(&proxies);
    let (_tp, line) = spawn_until(cmd, "Toxiproxy API listening").await;
    let api = address(&line);
    let (status, v) = http_json(&format!("http://{api}/proxies")).await;
    assert_eq!(status, 200);
    let listen = v["echo"]["listen"].as_str().unwrap().to_owned();

    let (code, out, err) = fault(&[
        "--admin",
        &api,
        "toxic",
        "add",
        "echo",
        "--type",
        "latency",
        "--attr",
        "latency=250",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("added toxic latency_downstream to echo"),
        "{out}"
    );
    let mut s = TcpStream::connect(&listen).await.unwrap();
    let t = tokio::time::Instant::now();
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(250));
    let (_, out, _) = fault(&["--admin", &api, "toxic", "list"]).await;
    assert!(
        out.contains("latency_downstream latency downstream"),
        "{out}"
    );
    let (code, _, _) = fault(&["--admin", &api, "toxic", "rm", "echo", "latency_downstream"]).await;
    assert_eq!(code, 0);
    let (code, _, err) = fault(&[
        "--admin", &api, "toxic", "add", "echo", "--type", "teleport",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("not a toxic"), "{err}");
}

/// `GET url` and its JSON.
async fn http_json(url: &str) -> (u16, serde_json::Value) {
    let (s, body) = get(url, &[]).await;
    (s, serde_json::from_str(&body).unwrap_or_default())
}

/// The address a listener of the proxy at `admin` is bound to
/// (`GET /listeners`).
async fn try_listener_addr(admin: &str, name: &str) -> Option<String> {
    let (_, v) = http_json(&format!("http://{admin}/listeners")).await;
    v.as_array()?
        .iter()
        .find(|l| l["name"] == name)
        .and_then(|l| l["address"].as_str().map(str::to_owned))
}

async fn listener_addr(admin: &str, name: &str) -> String {
    try_listener_addr(admin, name)
        .await
        .unwrap_or_else(|| panic!("no listener {name} at {admin}"))
}

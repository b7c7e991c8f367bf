//! `ordo proxy` as an operator runs it: `--check` and its exit codes and
//! messages, serving from a file, SIGHUP reloading it, SIGTERM draining.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ordo_test_support::Upstream;
use ordo_test_support::client::{http1_client, try_get};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh folder for a test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ordo-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `ordo args...` in `dir` to completion.
fn ordo_in(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the ordo binary was built by cargo for this test")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One listener on a free port routing everything to cluster `target`;
/// clusters `a` and `b`.
fn config(a: &str, b: &str, target: &str) -> String {
    format!(
        "drain_timeout: 2s
listeners:
  - name: edge
    address: 127.0.0.1:0
    routes:
      - name: all
        cluster: {target}
clusters:
  - name: a
    endpoints: [ {{ address: {a} }} ]
  - name: b
    endpoints: [ {{ address: {b} }} ]
"
    )
}

#[test]
fn check_accepts_a_good_config() {
    let dir = temp_dir("check-good");
    std::fs::write(
        dir.join("good.yaml"),
        config("127.0.0.1:9", "127.0.0.1:10", "a"),
    )
    .expect("write");
    let out = ordo_in(&dir, &["proxy", "--check", "good.yaml"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "good.yaml: ok\n");
}

#[test]
fn check_names_the_line_column_and_field_of_a_problem() {
    let dir = temp_dir("check-bad");
    let text = config("127.0.0.1:9", "127.0.0.1:10", "nope");
    // The position is the field's key.
    let (line, col) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("cluster: nope").map(|c| (i + 1, c + 1)))
        .expect("the bad line");
    std::fs::write(dir.join("bad.yaml"), &text).expect("write");
    let out = ordo_in(&dir, &["proxy", "--check", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(out.stdout.is_empty());
    let want = format!(
        "bad.yaml:{line}:{col}: listeners[0].routes[0].cluster: no cluster is named `nope`"
    );
    assert_eq!(stderr(&out).trim_end(), want);
}

#[test]
fn check_of_a_missing_file_says_it_cannot_read_it() {
    let dir = temp_dir("check-missing");
    let out = ordo_in(&dir, &["proxy", "--check", "missing.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("missing.yaml: cannot read"), "{err}");
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn proxy_without_flags_is_a_usage_error() {
    let out = ordo_in(&std::env::temp_dir(), &["proxy"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--config"), "{err}");
}

/// A running `ordo proxy --config`, its stderr (logs) and stdout (access
/// log) collected.
struct Running {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    access: Arc<Mutex<Vec<String>>>,
    url: String,
}

impl Running {
    async fn start(dir: &Path, file: &str, extra: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["proxy", "--workers", "1", "--config", file])
            .args(extra)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ordo");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let access = Arc::new(Mutex::new(Vec::new()));
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        tokio::spawn({
            let access = access.clone();
            async move {
                while let Ok(Some(line)) = out.next_line().await {
                    access.lock().expect("access log").push(line);
                }
            }
        });
        // The listening line names the port the kernel picked.
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().expect("log").push(line.clone());
                if line.contains("listening") && line.contains("listener=edge") {
                    let addr = line.split("address=").nth(1)?.split_whitespace().next()?;
                    return Some(addr.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no listening line: {:?}", log.lock().expect("log")));
        tokio::spawn({
            let log = log.clone();
            async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().expect("log").push(line);
                }
            }
        });
        Running {
            child,
            log,
            access,
            url: format!("http://{addr}/"),
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("running").to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// The upstream that answered a GET, or why there was none.
    async fn upstream(&self) -> Result<String, String> {
        match tokio::time::timeout(PATIENCE, try_get(&http1_client(), &self.url)).await {
            Ok(Ok((s, h, _))) if s == 200 => {
                Ok(h["x-upstream"].to_str().unwrap_or_default().to_owned())
            }
            Ok(Ok((s, _, body))) => Err(format!("{s}: {body:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer".into()),
        }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

/// Polls `f` until it is true or `within` passes.
async fn eventually(within: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_reloads_on_sighup_and_drains_on_sigterm() {
    let a = Upstream::builder().name("a").start().await;
    let b = Upstream::builder().name("b").start().await;
    let (a_addr, b_addr) = (a.addr().to_string(), b.addr().to_string());
    let dir = temp_dir("serve");
    let file = dir.join("proxy.yaml");
    std::fs::write(&file, config(&a_addr, &b_addr, "a")).expect("write");
    // File watching off: only SIGHUP reloads.
    let mut p = Running::start(&dir, "proxy.yaml", &["--watch-interval-ms", "0"]).await;
    assert_eq!(p.upstream().await, Ok("a".to_owned()), "{}", p.log());

    std::fs::write(&file, config(&a_addr, &b_addr, "b")).expect("edit");
    p.signal("-HUP");
    let moved = eventually(PATIENCE, async || p.upstream().await.as_deref() == Ok("b")).await;
    assert!(moved, "SIGHUP did not apply the edit:\n{}", p.log());

    // A bad edit is logged and the running config keeps serving.
    std::fs::write(&file, config(&a_addr, &b_addr, "nope")).expect("edit");
    p.signal("-HUP");
    let logged = eventually(PATIENCE, async || {
        p.log().contains("no cluster is named `nope`")
    })
    .await;
    assert!(logged, "{}", p.log());
    assert_eq!(p.upstream().await, Ok("b".to_owned()));

    p.signal("-TERM");
    let status = tokio::time::timeout(PATIENCE, p.child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running after SIGTERM:\n{}", p.log()))
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{}", p.log());
    assert!(p.upstream().await.is_err(), "serving after exit");
}

/// Regression: the reloader read the file for the first time when its task
/// first ran, after the "listening" line, so an edit made as soon as that
/// line appeared could be taken for the starting config and never applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_config_file_is_picked_up_without_a_signal() {
    let a = Upstream::builder().name("a").start().await;
    let b = Upstream::builder().name("b").start().await;
    let (a_addr, b_addr) = (a.addr().to_string(), b.addr().to_string());
    let dir = temp_dir("watch");
    let file = dir.join("proxy.yaml");
    std::fs::write(&file, config(&a_addr, &b_addr, "a")).expect("write");
    let mut p = Running::start(&dir, "proxy.yaml", &["--watch-interval-ms", "50"]).await;
    assert_eq!(p.upstream().await, Ok("a".to_owned()), "{}", p.log());
    std::fs::write(&file, config(&a_addr, &b_addr, "b")).expect("edit");
    let mut last = Err(String::new());
    let moved = eventually(PATIENCE, async || {
        last = p.upstream().await;
        last.as_deref() == Ok("b")
    })
    .await;
    assert!(
        moved,
        "the edit was not applied (last answer {last:?}):\n{}",
        p.log()
    );
    p.signal("-TERM");
    let status = tokio::time::timeout(PATIENCE, p.child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{}", p.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_is_one_json_line_per_request_on_stdout_when_on() {
    let a = Upstream::builder().name("a").start().await;
    let a_addr = a.addr().to_string();
    let dir = temp_dir("access");
    let on = format!("access_log: true\n{}", config(&a_addr, &a_addr, "a"));
    std::fs::write(dir.join("on.yaml"), &on).expect("write");
    let mut p = Running::start(&dir, "on.yaml", &["--watch-interval-ms", "0"]).await;
    let req = http::Request::get(p.url.as_str())
        .header("x-request-id", "req-42")
        .body(Default::default())
        .expect("request");
    let (s, _, _) = tokio::time::timeout(
        PATIENCE,
        ordo_test_support::client::send(&http1_client(), req),
    )
    .await
    .expect("answer");
    assert_eq!(s, 200);
    let logged = eventually(PATIENCE, async || {
        !p.access.lock().expect("access").is_empty()
    })
    .await;
    assert!(logged, "no access log line; stderr:\n{}", p.log());
    let line = p.access.lock().expect("access")[0].clone();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["target"], "ordo::access", "{line}");
    assert_eq!(v["listener"], "edge");
    assert_eq!(v["route"], "all");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/");
    assert_eq!(v["status"], 200);
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["upstream"], a_addr.as_str());
    assert_eq!(v["request_id"], "req-42");
    assert!(
        v["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
        "{line}"
    );
    p.signal("-TERM");
    let _ = tokio::time::timeout(PATIENCE, p.child.wait()).await;

    // Off by default: nothing on stdout.
    std::fs::write(dir.join("off.yaml"), config(&a_addr, &a_addr, "a")).expect("write");
    let mut p = Running::start(&dir, "off.yaml", &["--watch-interval-ms", "0"]).await;
    assert_eq!(p.upstream().await, Ok("a".to_owned()));
    p.signal("-TERM");
    let _ = tokio::time::timeout(PATIENCE, p.child.wait()).await;
    assert!(
        p.access.lock().expect("access").is_empty(),
        "access log written while off"
    );
}

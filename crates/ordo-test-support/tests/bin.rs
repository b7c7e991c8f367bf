//! The `ordo-upstream` binary: flags, the printed address, runtime control.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use ordo_test_support::client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const BIN: &str = env!("CARGO_BIN_EXE_ordo-upstream");

/// Starts the binary on a free port and returns it with its base URL.
async fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ordo-upstream");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("ordo-upstream prints its address")
    .expect("read stdout");
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("a listening line")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_server_answers_fast_and_takes_behaviour_changes() {
    let (mut child, url) = start(&[
        "--name",
        "bench",
        "--body-bytes",
        "64",
        "--fail-ratio",
        "1.0",
        "--fail-status",
        "500",
    ])
    .await;
    let http = client::http1_client();
    let (status, headers, _) = timeout(Duration::from_secs(10), client::get(&http, &url))
        .await
        .expect("GET");
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["x-upstream"], "bench");

    let request = Request::builder()
        .method(Method::PUT)
        .uri(format!("{url}/__ordo/behaviour"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .expect("valid request");
    let (status, _, _) = timeout(Duration::from_secs(10), client::send(&http, request))
        .await
        .expect("PUT");
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, _, body) = timeout(Duration::from_secs(10), client::get(&http, &url))
        .await
        .expect("GET");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, vec![b'x'; 64]);

    child
        .kill()
        .await
        .expect("kill the server this test started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_server_reports_and_resets_its_counters() {
    let (mut child, url) = start(&["--name", "counted"]).await;
    let http = client::http1_client();
    let get = |path: &'static str| {
        let (http, url) = (http.clone(), format!("{url}{path}"));
        async move {
            timeout(Duration::from_secs(10), client::get(&http, &url))
                .await
                .unwrap_or_else(|_| panic!("GET {url} within 10s"))
        }
    };
    for _ in 0..4 {
        assert_eq!(get("/").await.0, StatusCode::OK);
    }
    assert_eq!(get("/health").await.0, StatusCode::OK);

    let (status, headers, body) = get("/__ordo/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let stats: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        stats,
        serde_json::json!({
            "name": "counted", "hits": 4, "health_hits": 1, "in_flight": 0, "max_in_flight": 1
        })
    );

    let reset = Request::builder()
        .method(Method::POST)
        .uri(format!("{url}/__ordo/stats/reset"))
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    let (status, _, _) = timeout(Duration::from_secs(10), client::send(&http, reset))
        .await
        .expect("POST");
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, body) = get("/__ordo/stats").await;
    let stats: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        (stats["hits"].as_u64(), stats["health_hits"].as_u64()),
        (Some(0), Some(0))
    );

    child
        .kill()
        .await
        .expect("kill the server this test started");
}

#[tokio::test]
async fn bad_flags_fail_with_a_message() {
    let output = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--fail-ratio", "3"])
        .output();
    let output = timeout(Duration::from_secs(30), output)
        .await
        .expect("exits")
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fail_ratio must be between 0.0 and 1.0"),
        "{stderr}"
    );
}

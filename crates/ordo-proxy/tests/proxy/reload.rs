//! Hot reload: a new config is swapped in whole while requests keep
//! flowing (none fails), a bad one is rejected with its file and line and
//! changes nothing, listeners come and go, and requests in flight finish
//! on the config they started with.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;

use crate::deadline::within;
use crate::support::*;

/// A proxy config with clusters `a` and `b` (one upstream each), an admin
/// endpoint, listener `edge` routing to `target`, and `more` listeners
/// (YAML at the list's indentation).
fn config(a: &Upstream, b: &Upstream, target: &str, more: &str) -> String {
    format!(
        "admin: {{ address: 127.0.0.1:0 }}
listeners:
  - name: edge
    address: 127.0.0.1:0
    routes:
      - name: all
        cluster: {target}
{more}
clusters:
  - name: a
    endpoints: [ {{ address: {a} }} ]
  - name: b
    endpoints: [ {{ address: {b} }} ]
",
        a = a.addr(),
        b = b.addr()
    )
}

async fn two() -> (Upstream, Upstream) {
    (
        Upstream::builder().name("a").start().await,
        Upstream::builder().name("b").start().await,
    )
}

async fn reloads(p: &TestProxy, result: &str) -> f64 {
    let (_, _, body) = within(
        "GET /metrics",
        get(&http1_client(), &p.admin_url("/metrics").await),
    )
    .await;
    let want = format!("ordo_proxy_config_reloads_total{{result=\"{result}\"}} ");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(want.as_str())?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_fail_no_request() {
    const TOTAL: usize = 3000;
    const TASKS: usize = 4;
    let (a, b) = two().await;
    let p = TestProxy::start(&config(&a, &b, "a", "")).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let url = p.url("/");
    let mut load = Vec::new();
    for _ in 0..TASKS {
        let (sent, url) = (sent.clone(), url.clone());
        load.push(tokio::spawn(async move {
            let client = http1_client();
            let mut failures = Vec::new();
            while sent.fetch_add(1, Ordering::Relaxed) < TOTAL {
                match tokio::time::timeout(Duration::from_secs(5), try_get(&client, &url)).await {
                    Ok(Ok((s, _, _))) if s == 200 => {}
                    Ok(Ok((s, h, _))) => failures.push(format!("{s} {}", reason(&h))),
                    Ok(Err(e)) => failures.push(e.to_string()),
                    Err(_) => failures.push("no answer in 5s".to_owned()),
                }
            }
            failures
        }));
    }
    // Reload every few hundred requests, alternating the route's cluster,
    // ending on `b`.
    let mut target = "a";
    for i in 0..7 {
        let mark = sent.load(Ordering::Relaxed);
        let progressed = eventually(Duration::from_secs(10), async || {
            sent.load(Ordering::Relaxed) >= (mark + 300).min(TOTAL)
        })
        .await;
        assert!(progressed, "traffic stalled before reload {i}");
        target = if target == "a" { "b" } else { "a" };
        within("reload", p.reload(&config(&a, &b, target, "")))
            .await
            .unwrap_or_else(|e| panic!("reload {i}: {e}"));
    }
    assert_eq!(target, "b");
    let mut failures = Vec::new();
    for t in load {
        failures.extend(within("load task", t).await.expect("load task"));
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(
        a.hits() > 0 && b.hits() > 0,
        "a {} b {}",
        a.hits(),
        b.hits()
    );
    assert_eq!(reloads(&p, "applied").await, 7.0);

    let client = http1_client();
    for _ in 0..20 {
        let (s, h, _) = within("GET after the last reload", get(&client, &p.url("/"))).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "b".to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_rejected_with_its_line_and_the_old_one_keeps_serving() {
    let (a, b) = two().await;
    let p = TestProxy::start(&config(&a, &b, "a", "")).await;
    let file = p.file.display().to_string();
    let client = http1_client();

    // An unknown cluster: line 7 is `        cluster: nope`.
    let bad = config(&a, &b, "nope", "");
    assert_eq!(bad.lines().nth(6).map(str::trim), Some("cluster: nope"));
    let e = within("reload", p.reload(&bad))
        .await
        .expect_err("unknown cluster")
        .to_string();
    assert!(
        e.contains(&format!("{file}:7:"))
            && e.contains("listeners[0].routes[0].cluster")
            && e.contains("nope"),
        "{e}"
    );
    assert_eq!(reloads(&p, "rejected").await, 1.0);

    // Broken YAML: an unclosed flow mapping on line 3.
    let broken =
        "admin: { address: 127.0.0.1:0 }\nlisteners:\n  - { name: edge, address: 127.0.0.1:0\n";
    let e = within("reload", p.reload(broken))
        .await
        .expect_err("YAML error")
        .to_string();
    assert!(e.starts_with(&format!("{file}:")), "{e}");
    let line: usize = e[file.len() + 1..]
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number: {e}"));
    assert!((3..=4).contains(&line), "{e}");
    assert_eq!(reloads(&p, "rejected").await, 2.0);

    let (s, h, _) = within("GET", get(&client, &p.url("/"))).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "a".to_owned()));
    assert_eq!(reloads(&p, "applied").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_config_shows_the_applied_config() {
    let (a, b) = two().await;
    let p = TestProxy::start(&config(&a, &b, "a", "")).await;
    let client = http1_client();
    let route_cluster = async || {
        let (s, _, body) = within("GET /config", get(&client, &p.admin_url("/config").await)).await;
        assert_eq!(s, 200);
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        v["listeners"][0]["routes"][0]["cluster"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(route_cluster().await, "a");
    within("reload", p.reload(&config(&a, &b, "b", "")))
        .await
        .expect("reload");
    assert_eq!(route_cluster().await, "b");
    // A rejected config does not show.
    let _ = within("reload", p.reload(&config(&a, &b, "nope", "")))
        .await
        .expect_err("rejected");
    assert_eq!(route_cluster().await, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_added_by_reload_serves_and_a_removed_one_stops_accepting() {
    let (a, b) = two().await;
    let p = TestProxy::start(&config(&a, &b, "a", "")).await;
    let second = "  - name: second
    address: 127.0.0.1:0
    routes:
      - name: all
        cluster: b";
    within("reload", p.reload(&config(&a, &b, "a", second)))
        .await
        .expect("add a listener");
    let addr = p
        .proxy
        .listener_addr("second")
        .await
        .expect("second is bound");
    let (s, h, _) = within(
        "GET second",
        get(&http1_client(), &format!("http://{addr}/")),
    )
    .await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "b".to_owned()));
    // The first listener kept its socket.
    assert_eq!(p.proxy.listener_addr("edge").await, Some(p.addr));

    within("reload", p.reload(&config(&a, &b, "a", "")))
        .await
        .expect("remove it");
    assert_eq!(p.proxy.listener_addr("second").await, None);
    let closed = eventually(Duration::from_secs(5), async || {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(closed, "the removed listener still accepts");
    let (s, h, _) = within("GET edge", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "a".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_across_a_reload() {
    let (a, b) = two().await;
    a.set_behaviour(Behaviour::Delay(Duration::from_millis(300)));
    let p = TestProxy::start(&config(&a, &b, "a", "")).await;
    let slow = tokio::spawn({
        let url = p.url("/");
        async move { try_get(&http1_client(), &url).await }
    });
    assert!(eventually(Duration::from_secs(5), async || a.in_flight() == 1).await);
    within("reload", p.reload(&config(&a, &b, "b", "")))
        .await
        .expect("reload");
    let (s, h, _) = within("the request in flight", slow)
        .await
        .expect("task")
        .expect("the request in flight finishes");
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "a".to_owned()));
    let (s, h, _) = within("GET after", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "b".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_warm_upstream_connections() {
    let (a, b) = two().await;
    let p = TestProxy::start(&config(&a, &b, "a", "")).await;
    let client = http1_client();
    let opened = async || {
        let (_, _, body) = within(
            "GET /metrics",
            get(&http1_client(), &p.admin_url("/metrics").await),
        )
        .await;
        String::from_utf8_lossy(&body)
            .lines()
            .find_map(|l| {
                l.strip_prefix("ordo_proxy_upstream_connections_opened_total{cluster=\"a\"} ")?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    for _ in 0..5 {
        within("GET", get(&client, &p.url("/"))).await;
    }
    let before = opened().await;
    assert!(before >= 1.0);
    // Routes change; cluster `a`'s pool settings do not: its connection stays.
    let more = "  - name: other\n    address: 127.0.0.1:0\n    routes:\n      - name: all\n        cluster: b";
    within("reload", p.reload(&config(&a, &b, "a", more)))
        .await
        .expect("reload");
    for _ in 0..5 {
        within("GET", get(&client, &p.url("/"))).await;
    }
    assert_eq!(opened().await, before, "the reload dialled cluster a again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_route_circuit_stays_open_across_a_reload_that_leaves_it_alone() {
    let up = upstream("u", Behaviour::Status(500)).await;
    let policy = |timeout: &str, failures: u32| {
        format!(
            "{{ timeout: {timeout}, retry: {{ max_attempts: 1 }}, circuit_breaker: {{ window: {{ consecutive_failures: {failures} }}, open_wait: 30s }} }}"
        )
    };
    let p = TestProxy::start(&simple(&[&up], &policy("5s", 2), "")).await;
    let client = http1_client();
    for _ in 0..2 {
        assert_eq!(within("GET", get(&client, &p.url("/"))).await.0, 500);
    }
    let (s, h, _) = within("GET", get(&client, &p.url("/"))).await;
    assert_eq!((s.as_u16(), reason(&h)), (503, "circuit-open"));
    // Another setting of the route changes; the circuit's do not.
    within("reload", p.reload(&simple(&[&up], &policy("4s", 2), "")))
        .await
        .expect("reload");
    let (s, h, _) = within("GET", get(&client, &p.url("/"))).await;
    assert_eq!(
        (s.as_u16(), reason(&h)),
        (503, "circuit-open"),
        "the reload closed the circuit"
    );
    assert_eq!(up.hits(), 2);
    // New circuit settings start a new circuit.
    within("reload", p.reload(&simple(&[&up], &policy("4s", 3), "")))
        .await
        .expect("reload");
    assert_eq!(within("GET", get(&client, &p.url("/"))).await.0, 500);
    assert_eq!(up.hits(), 3);
}

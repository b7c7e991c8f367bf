//! Regression tests for the bugs a review of the proxy found: each failed
//! before its fix (the doc comment of each test says what was wrong).

use std::time::Duration;

use crate::deadline::within;
use crate::support::*;

fn no_outliers() -> &'static str {
    "    load_balancer: round_robin\n    outlier_detection: null"
}

/// An endpoint whose circuit opened must half-open after `open_wait` and
/// take requests again ("half-opens by itself"). The balancer skips every
/// endpoint whose `state()` is `Open`, but only `try_acquire` moves a
/// circuit from Open to half-open: nothing ever calls it, so the endpoint
/// is out for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_circuit_half_opens_after_open_wait() {
    let up = upstream("u", Behaviour::Status(500)).await;
    let extra = format!(
        "{}\n    circuit_breaker: {{ window: {{ consecutive_failures: 1 }}, open_wait: 100ms, max_open_wait: 100ms }}",
        no_outliers()
    );
    let p = TestProxy::start(&simple(&[&up], "{ retry: { max_attempts: 1 } }", &extra)).await;
    let client = http1_client();
    let (s, _, _) = within("first", get(&client, &p.url("/"))).await;
    assert_eq!(s, 500);
    up.set_behaviour(Behaviour::Ok);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Well past open_wait: the circuit should admit a probe.
    let mut last = (0, String::new());
    for _ in 0..5 {
        let (s, h, _) = within("after open_wait", get(&client, &p.url("/"))).await;
        last = (s.as_u16(), reason(&h).to_owned());
        if s == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        last,
        (200, String::new()),
        "endpoint never half-opened (upstream hits: {})",
        up.hits()
    );
}

/// Without `per_try_timeout` (the default) the route's `timeout` is what
/// ends an attempt on an endpoint that never answers; the attempt future
/// is then dropped and nothing is recorded for the endpoint: its circuit
/// (documented to count timeouts as failures) and outlier detection never
/// see a black-holed endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_timeout_counts_against_the_endpoint() {
    let up = upstream("slow", Behaviour::Delay(Duration::from_secs(5))).await;
    let extra = format!(
        "{}\n    circuit_breaker: {{ window: {{ consecutive_failures: 2 }}, open_wait: 30s }}",
        no_outliers()
    );
    let p = TestProxy::start(&simple(
        &[&up],
        "{ timeout: 100ms, retry: { max_attempts: 1 } }",
        &extra,
    ))
    .await;
    let client = http1_client();
    for _ in 0..2 {
        let (s, h, _) = within("timed out", get(&client, &p.url("/"))).await;
        assert_eq!((s.as_u16(), reason(&h)), (504, "upstream-timeout"));
    }
    // Two timeouts opened the endpoint's circuit.
    let (s, h, _) = within("circuit open", get(&client, &p.url("/"))).await;
    assert_eq!((s.as_u16(), reason(&h)), (503, "circuit-open"));
    let clusters = get(&client, &p.admin_url("/clusters").await).await.2;
    let text = String::from_utf8_lossy(&clusters);
    assert!(
        text.contains(r#""circuit":"Open""#),
        "4 timeouts in a row, the endpoint's circuit is still closed: {text}"
    );
}

/// When an attempt fails and the retry finds no endpoint left (here: the
/// only endpoint's circuit opened on that very failure), the client gets a
/// generated `503 circuit-open` instead of the upstream's answer, and the
/// route's own circuit is told `Ignored` although a request was sent and
/// failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_no_endpoint_left_keeps_the_last_result() {
    let up = upstream("u", Behaviour::Status(503)).await;
    let extra = format!(
        "{}\n    circuit_breaker: {{ window: {{ consecutive_failures: 1 }}, open_wait: 30s }}",
        no_outliers()
    );
    let p = TestProxy::start(&simple(
        &[&up],
        "{ retry: { max_attempts: 2, backoff: { base: 0s, max: 0s } } }",
        &extra,
    ))
    .await;
    let client = http1_client();
    let (s, h, _) = within("first", get(&client, &p.url("/"))).await;
    assert_eq!(up.hits(), 1);
    assert_eq!(
        (s.as_u16(), reason(&h), upstream_of(&h)),
        (503, "", "u".to_owned()),
        "the upstream's 503 was replaced by a generated answer"
    );
}

/// A `timeout` the config accepts (any non-zero duration) but that does
/// not fit in an `Instant`: `start + policy.timeout` panics on every
/// request routed there, and the client's connection is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_route_timeout_does_not_panic() {
    let up = upstream("u", Behaviour::Ok).await;
    let p = TestProxy::start(&simple(&[&up], "{ timeout: 10000000000000000000s }", "")).await;
    let r = within("request", try_get(&http1_client(), &p.url("/"))).await;
    match r {
        Ok((s, _, _)) => assert_eq!(s, 200),
        Err(e) => panic!("the request failed (the handler panicked): {e}"),
    }
}

/// Changing a listener's HTTP settings (here `header_read_timeout`) while
/// keeping its address binds a second socket on the same address before
/// the old one lets go: the whole reload is rejected with "address in
/// use" (proxy.rs apply_inner; its own comment says it must let go first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_can_change_a_listener_setting_on_the_same_address() {
    let up = upstream("u", Behaviour::Ok).await;
    let port = dead_addr().await.port();
    let yaml = |extra: &str| {
        format!(
            "listeners:
  - name: edge
    address: 127.0.0.1:{port}
{extra}    routes:
      - name: all
        cluster: c
clusters:
  - name: c
    endpoints: [ {{ address: {a} }} ]
",
            a = up.addr()
        )
    };
    let p = TestProxy::start(&yaml("")).await;
    let (s, _, _) = get(&http1_client(), &p.url("/")).await;
    assert_eq!(s, 200);
    let r = within("reload", p.reload(&yaml("    header_read_timeout: 5s\n"))).await;
    if let Err(e) = r {
        panic!("reload rejected: {e}");
    }
}

/// After `drain`, a reload (`apply`) sees no listeners and binds every one
/// of the config again: the drained proxy serves once more, while `/ready`
/// still says it is draining.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_after_drain_does_not_start_listeners_again() {
    let up = upstream("u", Behaviour::Ok).await;
    let yaml = simple(&[&up], "{}", "");
    let p = TestProxy::start(&yaml).await;
    within("drain", p.proxy.drain(Duration::from_secs(1))).await;
    assert!(p.proxy.listener_addr("edge").await.is_none());
    let _ = within("reload", p.reload(&yaml)).await;
    assert!(!p.proxy.is_ready());
    assert_eq!(
        p.proxy.listener_addr("edge").await,
        None,
        "a drained proxy is listening again"
    );
}

/// A client that stalls while its small body is kept for retries was
/// answered `504 upstream-timeout` (or the route's fallback), although no
/// upstream was asked: now `408 request-timeout`, never the fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_the_clients_timeout() {
    use tokio::io::AsyncWriteExt;
    let up = upstream("u", Behaviour::Echo).await;
    let policy = "{ timeout: 300ms, fallback: { status: 200, body: cached } }";
    let p = TestProxy::start(&simple(&[&up], policy, "")).await;
    let mut tcp = within("connect", tokio::net::TcpStream::connect(p.addr))
        .await
        .expect("connect");
    tcp.write_all(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .expect("write");
    let text = read_head(&mut tcp, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("x-ordo-reason: request-timeout"), "{text}");
    assert!(!text.contains("x-ordo-fallback"), "{text}");
    assert_eq!(up.hits(), 0);
}

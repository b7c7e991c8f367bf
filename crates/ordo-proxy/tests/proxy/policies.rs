//! Each route policy through the proxy: retries (another endpoint, budget,
//! idempotency, per-try timeout), route and endpoint circuit breakers,
//! bulkhead, adaptive concurrency, fallback.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::*;

fn rr() -> &'static str {
    "    load_balancer: round_robin\n    outlier_detection: null"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failure_is_retried_on_another_endpoint() {
    let live = Upstream::builder().name("live").start().await;
    let dead = dead_addr().await;
    let yaml = simple(&[&live], "{}", rr()).replace(
        "endpoints:",
        &format!("endpoints:\n      - address: {dead}"),
    );
    let p = TestProxy::start(&yaml).await;
    let client = http1_client();
    for _ in 0..20 {
        let (s, h, _) = get(&client, &p.url("/")).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "live".into()));
    }
    assert_eq!(live.hits(), 20);
    let metrics = get(&client, &p.admin_url("/metrics").await).await.2;
    let text = String::from_utf8_lossy(&metrics);
    assert!(
        text.contains(r#"ordo_proxy_retries_total{listener="edge",route="all"} 10"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_are_retried_for_idempotent_methods_only() {
    let bad = upstream("bad", Behaviour::Status(503)).await;
    let good = Upstream::builder().name("good").start().await;
    let p = TestProxy::start(&simple(&[&bad, &good], "{}", rr())).await;
    let client = http1_client();
    for _ in 0..10 {
        let (s, h, _) = get(&client, &p.url("/")).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "good".into()));
    }
    // A POST that got a 503 was sent: it is not sent again.
    let mut saw_503 = false;
    for _ in 0..4 {
        let req = http::Request::post(p.url("/")).body("x".into()).unwrap();
        let (s, h, _) = send(&client, req).await;
        if s == 503 {
            saw_503 = true;
            assert_eq!(upstream_of(&h), "bad");
            assert_eq!(reason(&h), "", "the upstream's own 503 passes through");
        }
    }
    assert!(saw_503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_within_the_budget() {
    let ups = upstreams("f", 3).await;
    for u in &ups {
        u.set_behaviour(Behaviour::Status(503));
    }
    let refs: Vec<&Upstream> = ups.iter().collect();
    let policy = "{ retry: { max_attempts: 3, backoff: { base: 0s, max: 0s }, budget: { ratio: 0.1, min_per_second: 0, ttl: 10s } } }";
    let p = TestProxy::start(&simple(&refs, policy, rr())).await;
    let client = http1_client();
    for _ in 0..200 {
        let (s, _, _) = get(&client, &p.url("/")).await;
        assert_eq!(s, 503);
    }
    let hits: u64 = ups.iter().map(|u| u.hits()).sum();
    // 200 requests, at most 10% more attempts (plus rounding).
    assert!((200..=222).contains(&hits), "amplification {hits}/200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_budget_is_named_when_no_response_came() {
    let policy = "{ retry: { max_attempts: 3, budget: { ratio: 0.0, min_per_second: 0 } } }";
    let yaml = one_endpoint(dead_addr().await, policy, "    outlier_detection: null");
    let p = TestProxy::start(&yaml).await;
    let (s, h, body) = get(&http1_client(), &p.url("/")).await;
    assert_eq!(s, 503);
    assert_eq!(reason(&h), "retry-budget-exhausted");
    assert!(!body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_try_timeout_moves_on_to_another_endpoint() {
    let slow = upstream("slow", Behaviour::Delay(Duration::from_secs(2))).await;
    let fast = Upstream::builder().name("fast").start().await;
    let policy =
        "{ timeout: 5s, per_try_timeout: 100ms, retry: { backoff: { base: 0s, max: 0s } } }";
    let p = TestProxy::start(&simple(&[&slow, &fast], policy, rr())).await;
    let client = http1_client();
    let started = Instant::now();
    for _ in 0..6 {
        let (s, h, _) = get(&client, &p.url("/")).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "fast".into()));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no request waited for the slow one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_circuit_opens_and_the_fallback_answers() {
    let up = upstream("u", Behaviour::Status(500)).await;
    let policy = "{ retry: { max_attempts: 1 }, circuit_breaker: { window: { consecutive_failures: 3 }, open_wait: 30s } }";
    let p = TestProxy::start(&simple(&[&up], policy, rr())).await;
    let client = http1_client();
    for _ in 0..3 {
        assert_eq!(get(&client, &p.url("/")).await.0, 500);
    }
    let (s, h, _) = get(&client, &p.url("/")).await;
    assert_eq!((s.as_u16(), reason(&h)), (503, "circuit-open"));
    assert_eq!(up.hits(), 3, "an open circuit sends nothing");
    let circuits = get(&client, &p.admin_url("/circuits").await).await.2;
    let v: serde_json::Value = serde_json::from_slice(&circuits).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"scope": "route", "name": "edge/all", "state": "open"}])
    );

    let policy = "{ retry: { max_attempts: 1 }, circuit_breaker: { window: { consecutive_failures: 2 }, open_wait: 30s }, fallback: { status: 200, headers: { x-source: cache }, body: cached } }";
    let p = TestProxy::start(&simple(&[&up], policy, rr())).await;
    for _ in 0..2 {
        assert_eq!(get(&client, &p.url("/")).await.0, 500);
    }
    let (s, h, body) = get(&client, &p.url("/")).await;
    assert_eq!(s, 200);
    assert_eq!(&body[..], b"cached");
    assert_eq!(h["x-source"], "cache");
    assert_eq!(h["x-ordo-fallback"], "true");
    assert_eq!(reason(&h), "circuit-open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_circuit_takes_only_that_endpoint_out() {
    let bad = upstream("bad", Behaviour::Status(500)).await;
    let good = Upstream::builder().name("good").start().await;
    let extra = format!(
        "{}\n    circuit_breaker: {{ window: {{ consecutive_failures: 2 }}, open_wait: 30s }}",
        rr()
    );
    let p = TestProxy::start(&simple(
        &[&bad, &good],
        "{ retry: { max_attempts: 1 } }",
        &extra,
    ))
    .await;
    let client = http1_client();
    for _ in 0..4 {
        get(&client, &p.url("/")).await;
    }
    assert_eq!(bad.hits(), 2);
    for _ in 0..10 {
        let (s, h, _) = get(&client, &p.url("/")).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "good".into()));
    }
    assert_eq!(bad.hits(), 2, "the open endpoint got nothing more");
    let clusters = get(&client, &p.admin_url("/clusters").await).await.2;
    let text = String::from_utf8_lossy(&clusters);
    assert!(text.contains(r#""circuit":"Open""#), "{text}");
    let circuits = get(&client, &p.admin_url("/circuits").await).await.2;
    let v: serde_json::Value = serde_json::from_slice(&circuits).unwrap();
    let open: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["scope"] == "endpoint" && c["state"] == "open")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(open, [format!("c/{}", bad.addr())], "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulkhead_and_adaptive_limit_reject_beyond_their_caps() {
    for (policy, expected) in [
        ("{ bulkhead: { max_concurrent: 2 } }", "bulkhead-full"),
        (
            "{ concurrency_limit: { algorithm: aimd, initial_limit: 2, min_limit: 1, max_limit: 2 } }",
            "concurrency-limited",
        ),
    ] {
        let up = upstream("u", Behaviour::Delay(Duration::from_millis(400))).await;
        let p = TestProxy::start(&simple(&[&up], policy, rr())).await;
        let client = http1_client();
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let client = client.clone();
                let url = p.url("/");
                tokio::spawn(async move { get(&client, &url).await })
            })
            .collect();
        let mut ok = 0;
        let mut rejected = 0;
        for c in calls {
            let (s, h, _) = tokio::time::timeout(Duration::from_secs(10), c)
                .await
                .unwrap()
                .unwrap();
            match s.as_u16() {
                200 => ok += 1,
                503 => {
                    assert_eq!(reason(&h), expected);
                    rejected += 1;
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!((ok, rejected), (2, 4), "{policy}");
        assert_eq!(up.max_in_flight(), 2);
    }
}

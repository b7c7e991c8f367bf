//! The admin endpoint: readiness and liveness, Prometheus metrics with
//! the documented names, the clusters' state, and readiness dropping while
//! the proxy drains.

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;

use crate::deadline::within;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_and_live_answer_200() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let client = http1_client();
    for path in ["/ready", "/live"] {
        let (s, _, _) = within(path, get(&client, &p.admin_url(path).await)).await;
        assert_eq!(s, 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_the_documented_series() {
    let a = Upstream::builder().name("a").start().await;
    let b = upstream("b", Behaviour::Status(503)).await;
    // Round robin sends every other first attempt to the failing `b`, and
    // the retry to `a`; outlier ejection is off so `b` stays in.
    let yaml = simple(
        &[&a, &b],
        "{circuit_breaker: {minimum_calls: 100}}",
        "    load_balancer: round_robin\n    outlier_detection: null",
    );
    let p = TestProxy::start(&yaml).await;
    let client = http1_client();
    for _ in 0..10 {
        let (s, h, _) = within("GET", get(&client, &p.url("/"))).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "a".to_owned()));
    }
    let m = metrics(&p).await;
    let route = [("listener", "edge"), ("route", "all")];
    assert_eq!(
        sample(
            &m,
            "ordo_proxy_requests_total",
            &[route[0], route[1], ("class", "2xx")]
        ),
        Some(10.0),
        "{m}"
    );
    let retries = sample(&m, "ordo_proxy_retries_total", &route).expect("retries series");
    assert!(
        retries >= 4.0,
        "every other request is retried: {retries}\n{m}"
    );
    let b_addr = b.addr().to_string();
    let a_addr = a.addr().to_string();
    let failed = sample(
        &m,
        "ordo_proxy_upstream_requests_total",
        &[("cluster", "c"), ("endpoint", &b_addr), ("class", "5xx")],
    );
    assert_eq!(failed, Some(retries), "{m}");
    assert_eq!(
        sample(
            &m,
            "ordo_proxy_upstream_requests_total",
            &[("cluster", "c"), ("endpoint", &a_addr), ("class", "2xx")],
        ),
        Some(10.0),
        "{m}"
    );
    assert!(
        sample(&m, "ordo_proxy_request_duration_seconds_bucket", &route).is_some(),
        "{m}"
    );
    assert_eq!(
        sample(&m, "ordo_proxy_request_duration_seconds_count", &route),
        Some(10.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "ordo_proxy_circuit_state",
            &[("scope", "route"), ("name", "edge/all")]
        ),
        Some(0.0),
        "closed: {m}"
    );
    for addr in [&a_addr, &b_addr] {
        assert_eq!(
            sample(
                &m,
                "ordo_proxy_endpoint_ejected",
                &[("cluster", "c"), ("endpoint", addr)]
            ),
            Some(0.0),
            "{m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_lists_endpoints_with_their_state() {
    let ups = upstreams("u", 2).await;
    let p = TestProxy::start(&simple(&[&ups[0], &ups[1]], "{}", "")).await;
    let (s, _, body) = within(
        "GET /clusters",
        get(&http1_client(), &p.admin_url("/clusters").await),
    )
    .await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let clusters = v.as_array().expect("a list of clusters");
    assert_eq!(clusters.len(), 1, "{v}");
    assert_eq!(clusters[0]["name"], "c");
    let eps = clusters[0]["endpoints"].as_array().expect("endpoints");
    let mut addrs: Vec<&str> = eps
        .iter()
        .map(|e| e["address"].as_str().expect("address"))
        .collect();
    addrs.sort();
    let mut want = [ups[0].addr().to_string(), ups[1].addr().to_string()];
    want.sort();
    assert_eq!(addrs, want);
    for e in eps {
        assert_eq!(e["healthy"], true, "{e}");
        assert_eq!(e["ejected"], false, "{e}");
        assert_eq!(e["in_flight"], 0, "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_drops_readiness_and_lets_requests_in_flight_finish() {
    let up = upstream("u", Behaviour::Delay(Duration::from_secs(1))).await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let ready_url = p.admin_url("/ready").await;
    let in_flight = tokio::spawn({
        let url = p.url("/");
        async move { try_get(&http1_client(), &url).await }
    });
    assert!(eventually(Duration::from_secs(5), async || up.in_flight() == 1).await);

    let drain = tokio::spawn({
        let proxy = p.proxy.clone();
        async move { proxy.drain(Duration::from_secs(5)).await }
    });
    let not_ready = eventually(
        Duration::from_secs(5),
        async || matches!(try_get(&http1_client(), &ready_url).await, Ok((s, _, _)) if s == 503),
    )
    .await;
    assert!(not_ready, "/ready stays 200 while draining");
    assert!(!p.proxy.is_ready());
    let refused = eventually(Duration::from_secs(5), async || {
        TcpStream::connect(p.addr).await.is_err()
    })
    .await;
    assert!(refused, "the listener still accepts while draining");

    let (s, _, _) = within("the request in flight", in_flight)
        .await
        .expect("task")
        .expect("the request in flight finishes");
    assert_eq!(s, 200);
    within("drain", drain).await.expect("drain task");
    // Drained: the admin endpoint is gone (or says not ready).
    let after = within(
        "GET /ready after drain",
        try_get(&http1_client(), &ready_url),
    )
    .await;
    assert!(!matches!(after, Ok((s, _, _)) if s == 200), "{after:?}");
}

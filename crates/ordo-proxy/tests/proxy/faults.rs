//! Failure injection through the proxy: faults added over the admin API
//! touch only the requests in their scope (FIT scenario, headers, share,
//! endpoint), meet the same retries, timeouts and outlier detection as real
//! failures, revert by themselves at their expiry or when their lease
//! lapses, hold at most `max_active` requests, and bad specs are refused
//! with every problem named. Also Envoy's fault headers, gRPC aborts, the
//! bandwidth limit, and a halt freeing hung requests.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::deadline::within;
use crate::support::*;

async fn add(p: &TestProxy, spec: Value) -> Value {
    let (status, v) = admin_json(p, Method::POST, "/faults", Some(spec.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "adding {spec}: {v}");
    v
}

/// `GET /` with extra headers: status and headers.
async fn get_with(p: &TestProxy, headers: &[(&str, &str)]) -> (StatusCode, http::HeaderMap) {
    let mut req = Request::builder().uri(p.url("/"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (s, h, _) = within(
        "GET",
        send(&http1_client(), req.body(Full::new(Bytes::new())).unwrap()),
    )
    .await;
    (s, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_fault_breaks_tagged_requests_and_no_others() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let f = add(
        &p,
        json!({"id": "checkout-503", "match": {"scenario": "checkout", "cluster": "c"},
               "abort": {"status": 503, "body": "injected"}}),
    )
    .await;
    assert_eq!(f["id"], "checkout-503");
    assert_eq!(f["spec"]["match"]["scenario"], "checkout");
    for i in 0..100 {
        let (s, h) = get_with(&p, &[("x-ordo-fit", "search, checkout")]).await;
        assert_eq!(s, 503, "tagged request {i}");
        assert_eq!(h["x-ordo-fault"], "checkout-503");
        let (s, h) = get_with(&p, &[]).await;
        assert_eq!(s, 200, "untagged request {i}");
        assert!(h.get("x-ordo-fault").is_none());
        let (s, _) = get_with(&p, &[("x-ordo-fit", "search")]).await;
        assert_eq!(s, 200, "other scenario {i}");
    }
    assert_eq!(
        up.hits(),
        200,
        "faulted requests never reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_of_requests_is_faulted_within_tolerance() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{ retry: { max_attempts: 1 } }", "")).await;
    add(&p, json!({"percent": 30, "abort": {"status": 500}})).await;
    let n = 2000;
    let mut faulted = 0;
    for _ in 0..n {
        let (s, _) = get_with(&p, &[]).await;
        if s == 500 {
            faulted += 1;
        }
    }
    // 30 % of 2000 is 600, with a standard deviation of about 20.5: four of
    // them either side.
    assert!((518..=682).contains(&faulted), "{faulted} of {n} faulted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_matchers_scope_a_fault() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(
        &p,
        json!({"match": {"headers": [{"name": "x-user", "exact": "42"}]}, "abort": {"status": 429}}),
    )
    .await;
    assert_eq!(get_with(&p, &[("x-user", "42")]).await.0, 429);
    assert_eq!(get_with(&p, &[("x-user", "43")]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_reverts_by_itself_at_its_expiry() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(
        &p,
        json!({"id": "short", "ttl": "300ms", "abort": {"status": 503}}),
    )
    .await;
    assert_eq!(get_with(&p, &[]).await.0, 503);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(get_with(&p, &[]).await.0, 200);
    let (s, v) = admin_json(&p, Method::GET, "/faults", None).await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_holds_while_renewed_and_lapses_when_not() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(
        &p,
        json!({"id": "held", "lease": "300ms", "abort": {"status": 503}}),
    )
    .await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (s, v) = admin_json(&p, Method::POST, "/faults/held/renew", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(get_with(&p, &[]).await.0, 503, "renewed: still on");
    }
    // The owner stops renewing: the proxy reverts the fault on its own.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(get_with(&p, &[]).await.0, 200);
    let (s, _) = admin_json(&p, Method::POST, "/faults/held/renew", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_active_requests_are_faulted_at_once() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(&p, json!({"max_active": 2, "delay": {"fixed": "600ms"}})).await;
    let started = tokio::time::Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let url = p.url("/");
            tokio::spawn(async move {
                let t = tokio::time::Instant::now();
                let (s, _, _) = get(&http1_client(), &url).await;
                (s, t.elapsed())
            })
        })
        .collect();
    let mut slow = 0;
    for c in calls {
        let (s, took) = within("a call", c).await.unwrap();
        assert_eq!(s, 200);
        if took >= Duration::from_millis(550) {
            slow += 1;
        }
    }
    assert_eq!(slow, 2, "only two requests were delayed");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_specs_are_refused_with_every_problem_named() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let (s, v) = admin_json(&p, Method::POST, "/faults", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(
            json!({"percent": 150, "match": {"cluster": "nope", "scenario": "bad tag"},
                    "abort": {"status": 503, "reset": true}, "ttl": "2h"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for f in ["percent", "match.scenario", "abort", "ttl", "match.cluster"] {
        assert!(fields.contains(&f), "{f} missing from {v}");
    }
    let text = v.to_string();
    assert!(text.contains("no cluster is named `nope`"), "{text}");
    assert!(text.contains("max_ttl"), "{text}");
    // A canned answer cannot set its own framing, nor a body where none
    // belongs.
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(json!({"abort": {"status": 204, "body": "x",
                              "headers": {"Content-Length": "9", "x-ok": "1"}}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let text = v.to_string();
    assert!(text.contains("a 204 answer has no body"), "{text}");
    assert!(
        text.contains("`Content-Length` is written by the proxy"),
        "{text}"
    );
    assert!(!text.contains("x-ok"), "{text}");
    // An unknown field and a wrong type name their place.
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(json!({"abort": {"stauts": 503}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["problems"][0]["field"], "abort.stauts", "{v}");
    assert!(v.to_string().contains("stauts"), "{v}");
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(json!({"percent": "lots"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["problems"][0]["field"], "percent", "{v}");
    // Nothing was added, and the proxy still serves.
    assert_eq!(
        admin_json(&p, Method::GET, "/faults", None).await.1,
        json!([])
    );
    assert_eq!(get_with(&p, &[]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_unique_and_removal_is_by_id() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(&p, json!({"id": "one", "abort": {"status": 503}})).await;
    let (s, _) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(json!({"id": "one", "abort": {"status": 500}})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = admin_json(&p, Method::GET, "/faults/one", None).await;
    assert_eq!((s, v["id"].clone()), (StatusCode::OK, json!("one")));
    assert_eq!(
        admin_json(&p, Method::DELETE, "/faults/one", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin_json(&p, Method::DELETE, "/faults/one", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get_with(&p, &[]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_route_around_a_per_attempt_fault_on_one_endpoint_and_ejection_sees_it() {
    let a = Upstream::builder().name("a").start().await;
    let b = Upstream::builder().name("b").start().await;
    let yaml = simple(
        &[&a, &b],
        "{ retry: { max_attempts: 2, backoff: { base: 0s, max: 0s } } }",
        "    load_balancer: round_robin\n    outlier_detection: { consecutive_5xx: 3, base_ejection_time: 30s }",
    );
    let p = TestProxy::start(&yaml).await;
    add(
        &p,
        json!({"match": {"cluster": "c", "endpoint": a.addr().to_string()}, "per": "attempt",
               "abort": {"status": 503}}),
    )
    .await;
    for _ in 0..20 {
        let (s, h) = get_with(&p, &[]).await;
        assert_eq!(s, 200, "retried on the healthy endpoint");
        assert_eq!(h["x-upstream"], "b");
    }
    assert_eq!(a.hits(), 0, "the faulted endpoint never got a request");
    let (_, clusters) = admin_json(&p, Method::GET, "/clusters", None).await;
    let ejected = clusters[0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["address"] == a.addr().to_string())
        .unwrap()["ejected"]
        .clone();
    assert_eq!(ejected, true, "the injected failures count like real ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_fault_never_ejects_an_endpoint_for_everyone_else() {
    let a = Upstream::builder().name("a").start().await;
    let yaml = simple(
        &[&a],
        "{ retry: { max_attempts: 1 }, circuit_breaker: { minimum_calls: 5 } }",
        "    outlier_detection: { consecutive_5xx: 3, base_ejection_time: 30s }",
    );
    let p = TestProxy::start(&yaml).await;
    add(
        &p,
        json!({"match": {"scenario": "t"}, "abort": {"status": 503}}),
    )
    .await;
    for _ in 0..30 {
        assert_eq!(get_with(&p, &[("x-ordo-fit", "t")]).await.0, 503);
    }
    // Neither outlier detection nor the route's circuit saw the failures.
    for _ in 0..10 {
        let (s, h) = get_with(&p, &[]).await;
        assert_eq!(s, 200, "{h:?}");
    }
    assert_eq!(a.hits(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_meets_the_per_try_timeout_and_a_halt_frees_hung_requests() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(
        &[&up],
        "{ timeout: 5s, per_try_timeout: 200ms, retry: { max_attempts: 1 } }",
        "",
    ))
    .await;
    add(&p, json!({"id": "hang", "abort": {"hang": true}})).await;
    let (s, h) = get_with(&p, &[]).await;
    assert_eq!(s, 504);
    assert_eq!(h["x-ordo-reason"], "upstream-timeout");
    assert_eq!(h["x-ordo-fault"], "hang");

    // Without a per-try timeout the request hangs until the fault goes.
    let p2 = TestProxy::start(&simple(&[&up], "{ timeout: 30s }", "")).await;
    add(&p2, json!({"abort": {"hang": true}})).await;
    let url = p2.url("/");
    let hung = tokio::spawn(async move { get(&http1_client(), &url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!hung.is_finished());
    let (s, v) = admin_json(&p2, Method::DELETE, "/faults", None).await;
    assert_eq!((s, v["removed"].clone()), (StatusCode::OK, json!(1)));
    let (s, _, _) = tokio::time::timeout(Duration::from_secs(1), hung)
        .await
        .expect("a halt frees the hung request within a second")
        .unwrap();
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_drawn_from_a_distribution_slows_requests_down() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(
        &p,
        json!({"delay": {"uniform": {"min": "100ms", "max": "200ms"}}}),
    )
    .await;
    for _ in 0..5 {
        let t = tokio::time::Instant::now();
        assert_eq!(get_with(&p, &[]).await.0, 200);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_fault_slows_the_response_body() {
    let up = Upstream::builder()
        .name("u")
        .ok_body(vec![b'x'; 20_000])
        .start()
        .await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(&p, json!({"bandwidth": {"bytes_per_second": 40000}})).await;
    let t = tokio::time::Instant::now();
    let (s, _, body) = within("GET", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((s.as_u16(), body.len()), (200, 20_000));
    // 20 kB at 40 kB/s, less the first 16 KiB piece sent at once.
    held_at_least(t, 90);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_abort_is_a_trailers_only_answer() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(
        &p,
        json!({"abort": {"grpc_status": 14, "grpc_message": "injected unavailable"}}),
    )
    .await;
    let (s, h, body) = within("h2 GET", get(&http2_client(), &p.url("/svc/Method"))).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/grpc");
    assert_eq!(h["grpc-status"], "14");
    assert_eq!(h["grpc-message"], "injected unavailable");
    assert!(body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_fault_headers_work_where_the_listener_allows_them() {
    let up = Upstream::builder().name("u").start().await;
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}
listeners:
  - name: edge
    address: 127.0.0.1:0
    fault_headers: envoy
    routes: [ {{ name: all, cluster: c }} ]
  - name: plain
    address: 127.0.0.1:0
    routes: [ {{ name: all, cluster: c }} ]
clusters:
  - name: c
    endpoints: [ {{ address: {} }} ]
",
        up.addr()
    );
    let p = TestProxy::start(&yaml).await;
    let (s, h) = get_with(&p, &[("x-envoy-fault-abort-request", "418")]).await;
    assert_eq!(s, 418);
    assert_eq!(h["x-ordo-fault"], "x-envoy-fault");
    let (s, _) = get_with(
        &p,
        &[
            ("x-envoy-fault-abort-request", "503"),
            ("x-envoy-fault-abort-request-percentage", "0"),
        ],
    )
    .await;
    assert_eq!(s, 200, "a 0 % share never aborts");
    let t = tokio::time::Instant::now();
    let (s, _) = get_with(&p, &[("x-envoy-fault-delay-request", "200")]).await;
    assert_eq!(s, 200);
    held_at_least(t, 200);
    // A listener that does not allow them passes them on untouched.
    let plain = p.proxy.listener_addr("plain").await.unwrap();
    let req = Request::builder()
        .uri(format!("http://{plain}/"))
        .header("x-envoy-fault-abort-request", "418")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (s, _, _) = within("plain", send(&http1_client(), req)).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_faults_apply_and_a_reload_replaces_them_but_keeps_added_ones() {
    let up = Upstream::builder().name("u").start().await;
    let with_declared = |status: u16| {
        simple(&[&up], "{}", "")
            + &format!(
                "faults:\n  declared:\n    - id: cfg\n      match: {{ headers: [ {{ name: x-cfg, present: true }} ] }}\n      abort: {{ status: {status} }}\n"
            )
    };
    let p = TestProxy::start(&with_declared(501)).await;
    assert_eq!(get_with(&p, &[("x-cfg", "1")]).await.0, 501);
    add(&p, json!({"id": "rt", "match": {"headers": [{"name": "x-rt", "present": true}]}, "abort": {"status": 502}})).await;
    p.reload(&with_declared(507)).await.unwrap();
    assert_eq!(get_with(&p, &[("x-cfg", "1")]).await.0, 507);
    assert_eq!(
        get_with(&p, &[("x-rt", "1")]).await.0,
        502,
        "the added fault stays"
    );
    let (_, list) = admin_json(&p, Method::GET, "/faults", None).await;
    let declared: Vec<bool> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["declared"].as_bool().unwrap())
        .collect();
    assert_eq!(declared.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injections_are_counted_by_fault_and_kind() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    add(
        &p,
        json!({"id": "m", "delay": {"fixed": "1ms"}, "abort": {"status": 500}}),
    )
    .await;
    for _ in 0..3 {
        get_with(&p, &[]).await;
    }
    let (_, _, body) = within(
        "metrics",
        get(&http1_client(), &p.admin_url("/metrics").await),
    )
    .await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    for kind in ["abort", "delay"] {
        let line = format!("ordo_faults_injected_total{{fault=\"m\",kind=\"{kind}\"}} ");
        let n: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("no {line} in\n{text}"))
            .trim()
            .parse()
            .unwrap();
        // Two attempts per request (the 500 is retried) at most.
        assert!((3.0..=6.0).contains(&n), "{kind}: {n}");
    }
    assert!(text.contains("ordo_faults_active 1"), "{text}");
}

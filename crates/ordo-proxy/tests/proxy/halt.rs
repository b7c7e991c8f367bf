//! The halt lock (`PUT`, `GET` and `DELETE /faults/halt`): a halt removes
//! every fault and toxic and refuses new ones with `423`, naming who halted
//! and how to lift it, through every route that adds one (the fault API,
//! Toxiproxy's, config reloads, Envoy's headers); adds racing a halt never
//! leave a fault behind; lifting it allows adds again.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::deadline::within;
use crate::support::*;

/// `GET /` with extra headers: the status.
async fn status_with(p: &TestProxy, headers: &[(&str, &str)]) -> u16 {
    let mut req = Request::builder().uri(p.url("/"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (s, _, _) = within(
        "GET",
        send(&http1_client(), req.body(Full::new(Bytes::new())).unwrap()),
    )
    .await;
    s.as_u16()
}

async fn halt(p: &TestProxy, body: Option<Value>) -> Value {
    let (s, v) = admin_json(p, Method::PUT, "/faults/halt", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn lift(p: &TestProxy) {
    let (s, v) = admin_json(p, Method::DELETE, "/faults/halt", None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"halted": false})));
}

async fn faults(p: &TestProxy) -> Value {
    admin_json(p, Method::GET, "/faults", None).await.1
}

async fn add_toxic(p: &TestProxy, proxy: &str, name: &str) -> (StatusCode, Value) {
    admin_json(
        p,
        Method::POST,
        &format!("/proxies/{proxy}/toxics"),
        Some(json!({"name": name, "type": "latency", "attributes": {"latency": 100}})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_removes_every_fault_and_refuses_new_ones_naming_who_halted() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{ retry: { max_attempts: 1 } }", "")).await;
    for id in ["a", "b"] {
        let (s, v) = admin_json(
            &p,
            Method::POST,
            "/faults",
            Some(json!({"id": id, "abort": {"status": 503}})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    assert_eq!(status_with(&p, &[]).await, 503);

    let v = halt(
        &p,
        Some(json!({"by": "chaos-monkey", "reason": "checkout SLO burning"})),
    )
    .await;
    assert_eq!(v["halted"], true, "{v}");
    assert_eq!(v["removed"], 2, "{v}");
    assert_eq!(v["by"], "chaos-monkey", "{v}");
    assert_eq!(v["reason"], "checkout SLO burning", "{v}");
    let since = v["since"].as_str().expect("since").to_owned();
    assert!(
        since.len() == 24 && since.ends_with('Z') && since.as_bytes()[10] == b'T',
        "RFC 3339: {since}"
    );
    assert_eq!(status_with(&p, &[]).await, 200);
    assert_eq!(faults(&p).await, json!([]), "GET /faults keeps its shape");

    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(json!({"abort": {"status": 503}})),
    )
    .await;
    assert_eq!(s, StatusCode::LOCKED, "{v}");
    let e = v["error"].as_str().expect("an error message");
    for part in [
        "halted",
        "by chaos-monkey",
        "checkout SLO burning",
        "DELETE /faults/halt",
    ] {
        assert!(e.contains(part), "{part} missing from {e}");
    }
    assert_eq!(faults(&p).await, json!([]));
    assert_eq!(status_with(&p, &[]).await, 200);

    // The state is visible, and a second halt keeps the first's record.
    let (s, v) = admin_json(&p, Method::GET, "/faults/halt", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"halted": true, "by": "chaos-monkey", "reason": "checkout SLO burning", "since": since})
    );
    let v = halt(&p, Some(json!({"by": "someone-else"}))).await;
    assert_eq!(
        (&v["by"], &v["since"]),
        (&json!("chaos-monkey"), &json!(since))
    );
    assert_eq!(v["removed"], 0);
    let (_, _, body) = within(
        "metrics",
        get(&http1_client(), &p.admin_url("/metrics").await),
    )
    .await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("ordo_faults_halted 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifting_the_halt_allows_adds_again() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{ retry: { max_attempts: 1 } }", "")).await;
    // No body: an anonymous halt.
    let v = halt(&p, None).await;
    assert_eq!((&v["halted"], &v["by"]), (&json!(true), &Value::Null));
    lift(&p).await;
    lift(&p).await;
    let (s, v) = admin_json(&p, Method::GET, "/faults/halt", None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"halted": false})));
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(json!({"id": "back", "abort": {"status": 503}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(status_with(&p, &[]).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_halt_bodies_and_the_reserved_id_are_refused_with_every_problem_named() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let (s, v) = admin_json(
        &p,
        Method::PUT,
        "/faults/halt",
        Some(json!({"by": "", "reason": "x".repeat(300)})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let fields: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["by", "reason"], "{v}");
    let (s, v) = admin_json(&p, Method::PUT, "/faults/halt", Some(json!({"who": "me"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = admin_json(&p, Method::GET, "/faults/halt", None).await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"halted": false})),
        "not halted"
    );
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/faults",
        Some(json!({"id": "halt", "abort": {"status": 503}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["problems"][0]["field"], "id", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_add_is_refused_while_halted() {
    let p = TestProxy::start("admin: { address: 127.0.0.1:0 }\nlisteners: []\n").await;
    tcp_proxy(&p, "db", dead_addr().await).await;
    let (s, v) = add_toxic(&p, "db", "slow").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v = halt(&p, Some(json!({"by": "alice"}))).await;
    assert_eq!(v["removed"], 1, "the toxic: {v}");
    let (s, v) = add_toxic(&p, "db", "slow").await;
    assert_eq!(s, StatusCode::LOCKED, "{v}");
    assert_eq!(v["status"], 423, "Toxiproxy's error shape: {v}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("by alice") && e.contains("DELETE /faults/halt"),
        "{e}"
    );
    let (_, v) = admin_json(&p, Method::GET, "/proxies/db/toxics", None).await;
    assert_eq!(v, json!([]));
    lift(&p).await;
    let (s, v) = add_toxic(&p, "db", "slow").await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_racing_a_halt_never_leave_a_fault_active_after_it_returns() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    tcp_proxy(&p, "db", dead_addr().await).await;
    let (mut added, mut refused) = (0, 0);
    for round in 0..25 {
        lift(&p).await;
        let adds = (0..6).map(|i| {
            let p = &p;
            async move {
                let (s, v) = if i % 2 == 0 {
                    admin_json(
                        p,
                        Method::POST,
                        "/faults",
                        Some(json!({"id": format!("r{round}-{i}"), "abort": {"status": 503}})),
                    )
                    .await
                } else {
                    add_toxic(p, "db", &format!("r{round}-{i}")).await
                };
                assert!(
                    matches!(s, StatusCode::CREATED | StatusCode::OK | StatusCode::LOCKED),
                    "round {round}, add {i}: {s} {v}"
                );
                s == StatusCode::LOCKED
            }
        });
        let halted = async {
            // Let some adds start first.
            tokio::time::sleep(Duration::from_millis(round % 4)).await;
            halt(&p, Some(json!({"by": "race"}))).await;
            // Whatever the adds still in flight do, none is active now.
            assert_eq!(faults(&p).await, json!([]), "round {round}");
            assert_eq!(
                admin_json(&p, Method::GET, "/proxies/db/toxics", None)
                    .await
                    .1,
                json!([]),
                "round {round}"
            );
        };
        let (outcomes, ()) = tokio::join!(join_all(adds), halted);
        for was_refused in outcomes {
            if was_refused {
                refused += 1;
            } else {
                added += 1;
            }
        }
        assert_eq!(faults(&p).await, json!([]), "round {round}, after the adds");
        assert_eq!(
            admin_json(&p, Method::GET, "/proxies/db/toxics", None)
                .await
                .1,
            json!([]),
            "round {round}, after the adds"
        );
        assert_eq!(status_with(&p, &[]).await, 200, "round {round}");
    }
    assert_eq!(added + refused, 25 * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_halt_and_applies_no_declared_fault_or_toxic() {
    let up = Upstream::builder().name("u").start().await;
    let db = dead_addr().await;
    let config = |status: u16, latency: u32| {
        simple(&[&up], "{ retry: { max_attempts: 1 } }", "")
            + &format!(
                "faults:\n  declared:\n    - id: cfg\n      abort: {{ status: {status} }}\n\
                 tcp_proxies:\n  - name: db\n    listen: 127.0.0.1:0\n    upstream: {db}\n    \
                 toxics: [ {{ type: latency, attributes: {{ latency: {latency} }} }} ]\n"
            )
    };
    let p = TestProxy::start(&config(501, 100)).await;
    assert_eq!(status_with(&p, &[]).await, 501);
    let v = halt(&p, Some(json!({"by": "ops"}))).await;
    assert_eq!(v["removed"], 2, "the declared fault and toxic: {v}");
    p.reload(&config(502, 200)).await.unwrap();
    let (_, v) = admin_json(&p, Method::GET, "/faults/halt", None).await;
    assert_eq!((&v["halted"], &v["by"]), (&json!(true), &json!("ops")));
    assert_eq!(status_with(&p, &[]).await, 200);
    assert_eq!(faults(&p).await, json!([]));
    let (_, v) = admin_json(&p, Method::GET, "/proxies/db/toxics", None).await;
    assert_eq!(v, json!([]), "the recreated proxy came back without toxics");
    // Lifted, declared faults come back at the next reload.
    lift(&p).await;
    assert_eq!(status_with(&p, &[]).await, 200);
    p.reload(&config(503, 300)).await.unwrap();
    assert_eq!(status_with(&p, &[]).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_fault_headers_are_ignored_while_halted() {
    let up = Upstream::builder().name("u").start().await;
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}
listeners:
  - name: edge
    address: 127.0.0.1:0
    fault_headers: envoy
    routes: [ {{ name: all, cluster: c }} ]
clusters:
  - name: c
    endpoints: [ {{ address: {} }} ]
",
        up.addr()
    );
    let p = TestProxy::start(&yaml).await;
    let abort = [("x-envoy-fault-abort-request", "418")];
    assert_eq!(status_with(&p, &abort).await, 418);
    halt(&p, None).await;
    assert_eq!(status_with(&p, &abort).await, 200);
    lift(&p).await;
    assert_eq!(status_with(&p, &abort).await, 418);
}

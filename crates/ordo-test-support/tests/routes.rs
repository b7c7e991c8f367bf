//! The routes beside the behaviours: health, upgrades, the control API, the
//! protocols spoken, raw malformed bytes, and shutdown.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Full;
use ordo_test_support::client::{self, TestClient};
use ordo_test_support::{Behaviour, Echoed, Stats, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Fails the test instead of hanging it.
async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 10s"))
}

async fn put(http: &TestClient, url: &str, json: &'static str) -> (StatusCode, Bytes) {
    let request = Request::builder()
        .method(Method::PUT)
        .uri(url)
        .body(Full::new(Bytes::from_static(json.as_bytes())))
        .expect("valid request");
    let (status, _, body) = bounded("PUT", client::send(http, request)).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_set_healthy_whatever_the_behaviour() {
    let up = Upstream::builder()
        .name("h")
        .behaviour(Behaviour::Reset)
        .start()
        .await;
    let http = client::http1_client();

    let (status, headers, body) = bounded("health", client::get(&http, &up.url("/health"))).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    assert_eq!(headers["x-upstream"], "h");

    up.set_healthy(false);
    let (status, _, _) = bounded("health", client::get(&http, &up.url("/health"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    up.set_healthy(true);
    let (status, _, _) = bounded("health", client::get(&http, &up.url("/health"))).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(up.health_hits(), 3);
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_answers_101_then_echoes_raw_bytes() {
    let up = Upstream::builder().name("ws").start().await;
    let mut stream = bounded("connect", TcpStream::connect(up.addr()))
        .await
        .expect("connect");

    let handshake =
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    bounded("write", stream.write_all(handshake.as_bytes()))
        .await
        .expect("write handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        bounded("read head", stream.read_exact(&mut byte))
            .await
            .expect("read head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("ASCII head");
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols"),
        "{head}"
    );
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("x-upstream: ws"), "{head}");

    for message in [&b"ping"[..], b"\x00\xffbinary too"] {
        bounded("write", stream.write_all(message))
            .await
            .expect("write");
        let mut echoed = vec![0; message.len()];
        bounded("read echo", stream.read_exact(&mut echoed))
            .await
            .expect("read echo");
        assert_eq!(echoed, message);
    }
    assert_eq!(up.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_without_an_upgrade_asks_for_one() {
    let up = Upstream::builder().start().await;
    let (status, _, body) = bounded(
        "GET /ws",
        client::get(&client::http1_client(), &up.url("/ws")),
    )
    .await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
    assert!(String::from_utf8_lossy(&body).contains("Upgrade: websocket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_is_served_by_default() {
    let up = Upstream::builder().behaviour(Behaviour::Echo).start().await;

    let (status, headers, body) =
        bounded("GET", client::get(&client::http2_client(), &up.url("/h2"))).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-upstream"], "upstream");
    let echoed: Echoed = serde_json::from_slice(&body).expect("Echoed JSON");
    assert_eq!(echoed.version, "HTTP/2.0");
    assert_eq!(
        up.last_request().expect("recorded").version,
        Version::HTTP_2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_can_be_turned_off_or_made_the_only_protocol() {
    let h1 = Upstream::builder().http2(false).start().await;
    let h2 = Upstream::builder().http2_only().start().await;

    let result = bounded(
        "h2 to h1-only",
        client::try_get(&client::http2_client(), &h1.url("/")),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    let result = bounded(
        "h1 to h2-only",
        client::try_get(&client::http1_client(), &h2.url("/")),
    )
    .await;
    assert!(result.is_err(), "{result:?}");

    let (status, _, _) = bounded("h1", client::get(&client::http1_client(), &h1.url("/"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = bounded("h2", client::get(&client::http2_client(), &h2.url("/"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_switches_behaviour_at_runtime() {
    let up = Upstream::builder().control(true).start().await;
    let http = client::http1_client();
    let control = up.url("/__ordo/behaviour");

    assert_eq!(
        put(&http, &control, r#"{"fail_ratio":1.0,"fail_status":429}"#)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, _, _) = bounded("GET", client::get(&http, &up.url("/"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    assert_eq!(put(&http, &control, "{}").await.0, StatusCode::NO_CONTENT);
    let (status, _, _) = bounded("GET", client::get(&http, &up.url("/"))).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = put(&http, &control, r#"{"fail_ratio":2}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("fail_ratio must be between 0.0 and 1.0"));
    let (status, body) = put(&http, &control, r#"{"delay":1}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("delay_ms"));

    let (status, headers, _) = bounded("GET control", client::get(&http, &control)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "PUT");

    assert_eq!(up.hits(), 2, "control requests are not hits");
}

async fn post(http: &TestClient, url: &str) -> StatusCode {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    bounded("POST", client::send(http, request)).await.0
}

async fn stats(http: &TestClient, up: &Upstream) -> Stats {
    let (status, headers, body) =
        bounded("GET stats", client::get(http, &up.url("/__ordo/stats"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_slice(&body).expect("Stats JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_reports_counters_and_resets_them() {
    let up = Upstream::builder().name("s").control(true).start().await;
    let http = client::http1_client();

    for _ in 0..3 {
        bounded("GET /", client::get(&http, &up.url("/anything"))).await;
    }
    bounded("GET /health", client::get(&http, &up.url("/health"))).await;
    let (status, _) = put(&http, &up.url("/__ordo/behaviour"), "{}").await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let first = stats(&http, &up).await;
    assert_eq!(
        first,
        Stats {
            name: "s".to_owned(),
            hits: 3,
            health_hits: 1,
            in_flight: 0,
            max_in_flight: 1,
        },
        "/health and control requests are not hits"
    );
    assert_eq!(
        stats(&http, &up).await,
        first,
        "reading stats counts nothing"
    );
    assert_eq!(up.stats(), first);

    // The raw JSON has exactly the documented fields.
    let (_, _, body) = bounded("GET stats", client::get(&http, &up.url("/__ordo/stats"))).await;
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let mut keys: Vec<_> = json
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["health_hits", "hits", "in_flight", "max_in_flight", "name"]
    );

    assert_eq!(
        post(&http, &up.url("/__ordo/stats/reset")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        stats(&http, &up).await,
        Stats {
            name: "s".to_owned(),
            ..Stats::default()
        }
    );
    bounded("GET /", client::get(&http, &up.url("/"))).await;
    assert_eq!(stats(&http, &up).await.hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_requests_in_flight_and_reset_keeps_them() {
    let up = Upstream::builder()
        .control(true)
        .behaviour(Behaviour::Delay(Duration::from_millis(300)))
        .start()
        .await;
    let http = client::http1_client();

    let slow = {
        let (http, url) = (http.clone(), up.url("/"));
        tokio::spawn(async move { client::get(&http, &url).await })
    };
    bounded("the request to arrive", async {
        while up.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let during = stats(&http, &up).await;
    assert_eq!(
        (during.hits, during.in_flight, during.max_in_flight),
        (1, 1, 1)
    );

    // A reset zeroes the counts but not the gauge: the slow request is still there.
    assert_eq!(
        post(&http, &up.url("/__ordo/stats/reset")).await,
        StatusCode::NO_CONTENT
    );
    let after_reset = stats(&http, &up).await;
    assert_eq!(
        (
            after_reset.hits,
            after_reset.in_flight,
            after_reset.max_in_flight
        ),
        (0, 1, 1)
    );

    let (status, _, _) = bounded("the slow request", slow).await.expect("task");
    assert_eq!(status, StatusCode::OK);
    let done = stats(&http, &up).await;
    assert_eq!((done.hits, done.in_flight, done.max_in_flight), (0, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_paths_answer_405_to_other_methods_and_404_to_unknown_ones() {
    let up = Upstream::builder().control(true).start().await;
    let http = client::http1_client();

    let (status, _) = put(&http, &up.url("/__ordo/stats"), "{}").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, headers, _) = bounded(
        "GET reset",
        client::get(&http, &up.url("/__ordo/stats/reset")),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
    assert_eq!(
        post(&http, &up.url("/__ordo/stats")).await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (status, _, body) =
        bounded("GET unknown", client::get(&http, &up.url("/__ordo/nope"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&body).contains("GET /__ordo/stats"));
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_is_off_unless_enabled() {
    let up = Upstream::builder().start().await;
    let http = client::http1_client();

    let (status, _) = put(&http, &up.url("/__ordo/behaviour"), r#"{"fail_ratio":1.0}"#).await;
    assert_eq!(status, StatusCode::OK, "an ordinary request");
    let (status, _, _) = bounded("GET", client::get(&http, &up.url("/"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = bounded("GET", client::get(&http, &up.url("/__ordo/stats"))).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"upstream"[..]));
    assert_eq!(
        up.hits(),
        3,
        "without the control API, /__ordo/ paths are ordinary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_gets_400_over_a_raw_socket() {
    let up = Upstream::builder().start().await;

    let reply = bounded(
        "raw",
        client::raw_exchange(
            up.addr(),
            b"NOT HTTP AT ALL\r\n\r\n",
            Duration::from_secs(5),
        ),
    )
    .await;

    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_open_connections_and_stops_accepting() {
    let up = Upstream::builder().start().await;
    let addr = up.addr();
    let mut idle = bounded("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    bounded(
        "write",
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await
    .expect("write");
    let mut buf = vec![0; 1024];
    let n = bounded("read", idle.read(&mut buf)).await.expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    bounded("shutdown", up.shutdown()).await;

    let n = bounded("read after shutdown", idle.read(&mut buf)).await;
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "the kept-alive connection is closed: {n:?}"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens any more"
    );
}

//! Each behaviour, observed through a real hyper client over a real socket.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Full;
use ordo_test_support::client::{self, RequestError};
use ordo_test_support::{Behaviour, Echoed, Upstream};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

/// Fails the test instead of hanging it.
async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 10s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_answers_with_the_name_and_counts_hits() {
    let up = Upstream::builder().name("a").start().await;
    let http = client::http1_client();

    for _ in 0..3 {
        let (status, headers, body) = bounded("GET /", client::get(&http, &up.url("/"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-upstream"], "a");
        assert_eq!(body, "a");
    }
    bounded("GET /health", client::get(&http, &up.url("/health"))).await;

    assert_eq!(up.hits(), 3);
    assert_eq!(up.health_hits(), 1);
    assert_eq!(up.in_flight(), 0);
    bounded("shutdown", up.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_with_that_status_and_set_behaviour_switches_back() {
    let up = Upstream::builder()
        .name("b")
        .behaviour(Behaviour::Status(502))
        .start()
        .await;
    let http = client::http1_client();

    let (status, headers, _) = bounded("GET", client::get(&http, &up.url("/"))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["x-upstream"], "b");

    up.set_behaviour(Behaviour::Ok);
    let (status, _, _) = bounded("GET", client::get(&http, &up.url("/"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn delay_answers_ok_after_the_delay_on_a_paused_clock() {
    let up = Upstream::builder()
        .behaviour(Behaviour::Delay(Duration::from_secs(30)))
        .start()
        .await;
    let http = client::http1_client();

    let started = Instant::now();
    // The guard is longer than the delay: auto-advance fires the delay first.
    let (status, _, _) = timeout(Duration::from_secs(300), client::get(&http, &up.url("/")))
        .await
        .expect("the delayed request finishes");

    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_reads_the_request_then_closes_without_answering() {
    let up = Upstream::builder()
        .behaviour(Behaviour::Reset)
        .start()
        .await;
    let http = client::http1_client();

    let result = bounded("GET", client::try_get(&http, &up.url("/reset-me"))).await;
    assert!(
        matches!(result, Err(RequestError::Request(_))),
        "{result:?}"
    );

    let raw = b"GET /raw HTTP/1.1\r\nHost: x\r\n\r\n";
    let reply = bounded(
        "raw",
        client::raw_exchange(up.addr(), raw, Duration::from_secs(5)),
    )
    .await;
    assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));

    assert_eq!(up.hits(), 2);
    assert_eq!(up.last_request().expect("recorded").uri, "/raw");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_closes_an_http2_connection_too() {
    let up = Upstream::builder()
        .behaviour(Behaviour::Reset)
        .start()
        .await;
    let http = client::http2_client();

    let result = bounded("GET", client::try_get(&http, &up.url("/"))).await;
    assert!(
        matches!(result, Err(RequestError::Request(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mid_body_fails_while_the_body_is_read() {
    let up = Upstream::builder()
        .behaviour(Behaviour::ResetMidBody)
        .start()
        .await;
    let http = client::http1_client();

    let result = bounded("GET", client::try_get(&http, &up.url("/"))).await;
    assert!(
        matches!(
            result,
            Err(RequestError::Body {
                status: StatusCode::OK,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mid_body_announces_a_million_bytes_and_sends_fewer() {
    let up = Upstream::builder()
        .behaviour(Behaviour::ResetMidBody)
        .start()
        .await;

    let raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let reply = bounded(
        "raw",
        client::raw_exchange(up.addr(), raw, Duration::from_secs(5)),
    )
    .await;
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("content-length: 1000000"), "{text}");
    assert!(
        reply.len() > 1024 && reply.len() < 1_000_000,
        "{} bytes",
        reply.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_ratio_half_fails_exactly_every_second_request() {
    let up = Upstream::builder()
        .behaviour(Behaviour::FailRatio {
            ratio: 0.5,
            status: 503,
        })
        .start()
        .await;
    let http = client::http1_client();

    let mut statuses = Vec::new();
    for _ in 0..100 {
        let (status, _, _) = bounded("GET", client::get(&http, &up.url("/"))).await;
        statuses.push(status);
    }

    let failures = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failures.count(), 50);
    for (i, status) in statuses.iter().enumerate() {
        let expected = if i % 2 == 1 { 503 } else { 200 };
        assert_eq!(status.as_u16(), expected, "request {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_ratio_resets_exactly_that_fraction() {
    let up = Upstream::builder()
        .behaviour(Behaviour::ResetRatio(0.25))
        .start()
        .await;
    let http = client::http1_client();

    let mut resets = 0;
    for _ in 0..20 {
        if bounded("GET", client::try_get(&http, &up.url("/")))
            .await
            .is_err()
        {
            resets += 1;
        }
    }
    assert_eq!(resets, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_describes_the_request_it_received() {
    let up = Upstream::builder()
        .name("echo")
        .behaviour(Behaviour::Echo)
        .start()
        .await;
    let http = client::http1_client();
    let request = Request::builder()
        .method(Method::POST)
        .uri(up.url("/items?id=7"))
        .header("x-test", "one")
        .header("x-test", "two")
        .body(Full::new(Bytes::from_static(b"hello")))
        .expect("valid request");

    let (status, headers, body) = bounded("POST", client::send(&http, request)).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let echoed: Echoed = serde_json::from_slice(&body).expect("Echoed JSON");
    assert_eq!(echoed.upstream, "echo");
    assert_eq!(echoed.method, "POST");
    assert_eq!(echoed.path, "/items");
    assert_eq!(echoed.query.as_deref(), Some("id=7"));
    assert_eq!(echoed.version, "HTTP/1.1");
    assert_eq!(echoed.headers["x-test"], "one, two");
    assert_eq!(echoed.body_len, 5);

    let recorded = up.last_request().expect("recorded");
    assert_eq!(recorded.method, Method::POST);
    assert_eq!(recorded.version, Version::HTTP_11);
    assert_eq!(recorded.headers.get_all("x-test").iter().count(), 2);
    assert_eq!(recorded.body, "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sends_a_chunked_body_of_all_chunks() {
    let up = Upstream::builder()
        .behaviour(Behaviour::Stream {
            chunks: 5,
            chunk_bytes: 100,
            every: Duration::from_millis(5),
        })
        .start()
        .await;
    let http = client::http1_client();

    let (status, headers, body) = bounded("GET", client::get(&http, &up.url("/"))).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["transfer-encoding"], "chunked");
    assert_eq!(body.len(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_serves_one_at_a_time_and_queues_the_rest() {
    let service_time = Duration::from_millis(50);
    let up = Upstream::builder()
        .behaviour(Behaviour::Capacity {
            max_concurrent: 1,
            service_time,
        })
        .start()
        .await;
    let http = client::http1_client();
    let url = up.url("/");

    let started = Instant::now();
    let mut requests = JoinSet::new();
    for _ in 0..4 {
        let (http, url) = (http.clone(), url.clone());
        requests.spawn(async move { client::get(&http, &url).await.0 });
    }
    let statuses = bounded("4 GETs", requests.join_all()).await;

    assert_eq!(statuses, [StatusCode::OK; 4]);
    // One slot: the four service times cannot overlap.
    assert!(
        started.elapsed() >= service_time * 4,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(up.hits(), 4);
}

//! ordo's own HTTP/1 server, over raw TCP: pipelined requests, HTTP/1.0
//! keep-alive, chunked request bodies, `Expect: 100-continue`, `HEAD`,
//! heads it refuses (with the reason header), bodies it did not read, and
//! clients that leave or stall half way through a head.

use std::time::Duration;

use ordo_test_support::Echoed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::deadline::within;
use crate::support::*;

const PATIENCE: Duration = Duration::from_secs(5);

/// Reads from `s` until `want` has arrived (or the peer closes), and
/// returns everything read.
async fn read_until(s: &mut TcpStream, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        match s.read(&mut buf).await {
            Ok(n @ 1..) => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The echoed requests in a raw answer, in order.
fn echoes(raw: &str) -> Vec<Echoed> {
    raw.split("\r\n\r\n")
        .filter_map(|part| {
            let json = &part[part.find('{')?..=part.rfind('}')?];
            serde_json::from_str(json).ok()
        })
        .collect()
}

async fn echo_proxy() -> (Upstream, TestProxy) {
    let up = upstream("u", Behaviour::Echo).await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    (up, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (up, p) = echo_proxy().await;
    let raw = within(
        "pipelined",
        raw_exchange(
            p.addr,
            b"GET /first HTTP/1.1\r\nhost: x\r\n\r\n\
              GET /second HTTP/1.1\r\nhost: x\r\n\r\n\
              GET /third HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            PATIENCE,
        ),
    )
    .await;
    let raw = String::from_utf8_lossy(&raw);
    assert_eq!(raw.matches("HTTP/1.1 200").count(), 3, "{raw}");
    let paths: Vec<_> = echoes(&raw).into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["/first", "/second", "/third"]);
    assert!(raw.ends_with('}'), "closed after the last: {raw}");
    assert_eq!(up.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_0_client_keeps_its_connection_only_when_it_asks() {
    let (_up, p) = echo_proxy().await;
    // Without keep-alive: answered, then closed.
    let raw = within(
        "1.0 close",
        raw_exchange(p.addr, b"GET /a HTTP/1.0\r\n\r\n", PATIENCE),
    )
    .await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.starts_with("HTTP/1.0 200"),
        "answered in its version: {raw}"
    );
    assert!(
        raw.to_ascii_lowercase().contains("connection: close"),
        "{raw}"
    );
    // With keep-alive: two requests on one connection.
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    for path in ["/b", "/c"] {
        let req = format!("GET {path} HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let answer = within("1.0 keep-alive", read_until(&mut s, "}")).await;
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("connection: keep-alive"),
            "{answer}"
        );
        assert_eq!(echoes(&answer)[0].path, path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_body_reaches_the_upstream_whole() {
    let (_up, p) = echo_proxy().await;
    let raw = within(
        "chunked body",
        raw_exchange(
            p.addr,
            b"POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
              5;note=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            PATIENCE,
        ),
    )
    .await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let echoed = &echoes(&raw)[0];
    assert_eq!((echoed.method.as_str(), echoed.body_len), ("POST", 11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (_up, p) = echo_proxy().await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"PUT /x HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let interim = within("100 continue", read_until(&mut s, "\r\n\r\n")).await;
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    s.write_all(b"abcde").await.unwrap();
    let answer = within("final answer", read_until(&mut s, "}")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let echoed = &echoes(&answer)[0];
    assert_eq!(echoed.body_len, 5);
    assert!(
        !echoed.headers.contains_key("expect"),
        "the expectation was met here, not passed on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_response_keeps_its_length_and_sends_no_body() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let head = within("HEAD", read_until(&mut s, "\r\n\r\n")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-length: 1\r\n"), "{head}");
    // The next answer on the connection starts right after the head: no
    // body came between.
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut rest = String::new();
    within("GET after HEAD", s.read_to_string(&mut rest))
        .await
        .unwrap();
    let next = format!("{head}{rest}");
    let second = &next[next.find("\r\n\r\n").unwrap() + 4..];
    assert!(second.starts_with("HTTP/1.1 200"), "{next}");
    assert!(second.ends_with("\r\n\r\nu"), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordos_own_answer_to_head_declares_its_length_and_sends_no_body() {
    let up = upstream("u", Behaviour::Echo).await;
    // Only `/only` has a route: ordo answers anything else by itself.
    let config = format!(
        "listeners:
  - name: edge
    address: 127.0.0.1:0
    routes:
      - name: only
        match: {{ path: {{ exact: /only }} }}
        cluster: c
clusters:
  - name: c
    endpoints: [ {{ address: {} }} ]
",
        up.addr()
    );
    let p = TestProxy::start(&config).await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(
        b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = String::new();
    within("HEAD to ordo", s.read_to_string(&mut raw))
        .await
        .unwrap();
    let message = "no route of this listener matches the request\n";
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 404"), "{raw}");
    assert!(head.contains("x-ordo-reason: no-route"), "{raw}");
    assert!(
        head.contains(&format!("content-length: {}", message.len())),
        "the length a GET would get: {raw}"
    );
    assert_eq!(head.matches("content-length").count(), 1, "{raw}");
    // The next answer starts right after the head: no body came between.
    assert!(rest.starts_with("HTTP/1.1 404"), "{raw}");
    assert!(rest.ends_with(message), "{raw}");
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_request_is_refused_and_what_follows_it_is_not_read_as_a_request() {
    let (up, p) = echo_proxy().await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    // The bytes after a CONNECT were meant for the tunnel: were they read as
    // the next request, a client could slip one past whatever vetted the
    // CONNECT.
    s.write_all(
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n\
          GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = String::new();
    within("CONNECT", s.read_to_string(&mut raw)).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 501"), "{raw}");
    assert!(
        raw.contains("x-ordo-reason: connect-not-supported"),
        "{raw}"
    );
    assert!(raw.contains("connection: close"), "{raw}");
    assert!(
        raw.ends_with("tunnels\n"),
        "one answer, then the end: {raw}"
    );
    assert_eq!(up.hits(), 0, "nothing reaches the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_sending_after_a_refusal_is_read_not_reset() {
    let (up, p) = echo_proxy().await;
    let cases: [(&str, &[u8], &str); 2] = [
        (
            "CONNECT",
            b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n",
            "HTTP/1.1 501",
        ),
        (
            "malformed head",
            b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
            "HTTP/1.1 400",
        ),
    ];
    for (what, head, status) in cases {
        let mut s = TcpStream::connect(p.addr).await.unwrap();
        s.write_all(head).await.unwrap();
        // The answer, and the end of the proxy's side.
        let mut raw = Vec::new();
        within(what, s.read_to_end(&mut raw)).await.unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.starts_with(status), "{what}: {raw}");
        // A client that had more to send (tunnel bytes, a body) goes on
        // sending: the proxy reads and drops it for a while rather than
        // resetting the connection, which fails these writes (and, on some
        // systems, loses the answer not yet read).
        let more = [b'x'; 16 * 1024];
        for n in 0..3 {
            within(what, s.write_all(&more))
                .await
                .unwrap_or_else(|e| panic!("{what}: write {n} after the answer: {e}"));
            tokio::task::yield_now().await;
        }
        s.shutdown().await.unwrap();
    }
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_that_could_smuggle_a_request_are_refused_with_the_reason() {
    let (up, p) = echo_proxy().await;
    let cases: [(&str, &[u8]); 3] = [
        (
            "content-length with transfer-encoding",
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "lengths that disagree",
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\nabcde",
        ),
        (
            "a coding after chunked",
            b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, gzip\r\n\r\n",
        ),
    ];
    for (what, bytes) in cases {
        let raw = within(what, raw_exchange(p.addr, bytes, PATIENCE)).await;
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.starts_with("HTTP/1.1 400"), "{what}: {raw}");
        assert!(raw.contains("x-ordo-reason: bad-request"), "{what}: {raw}");
        assert!(raw.contains("connection: close"), "{what}: {raw}");
    }
    assert_eq!(up.hits(), 0, "nothing ambiguous reaches the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_head_is_refused_with_the_reason() {
    let (up, p) = echo_proxy().await;
    let big = "a".repeat(70 * 1024);
    let req = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n");
    let raw = within("oversized", raw_exchange(p.addr, req.as_bytes(), PATIENCE)).await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 431"), "{raw}");
    assert!(
        raw.contains("x-ordo-reason: request-headers-too-large"),
        "{raw}"
    );
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_body_left_unread_is_dropped_and_the_connection_kept() {
    let up = upstream("u", Behaviour::Echo).await;
    let p = TestProxy::start(&with_listener(&up, "    max_request_body: 4")).await;
    let raw = within(
        "unread body, then another request",
        raw_exchange(
            p.addr,
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n0123456789\
              GET /after HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            PATIENCE,
        ),
    )
    .await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    let second = &raw[raw.find("\r\n\r\n").unwrap()..];
    assert!(second.contains("HTTP/1.1 200"), "{raw}");
    assert_eq!(echoes(second)[0].path, "/after");
    assert_eq!(up.hits(), 1, "only the second request went upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_left_unread_closes_the_connection_after_the_answer() {
    let up = upstream("u", Behaviour::Echo).await;
    let p = TestProxy::start(&with_listener(&up, "    max_request_body: 4")).await;
    let raw = within(
        "large unread body",
        raw_exchange(
            p.addr,
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n0123456789",
            PATIENCE,
        ),
    )
    .await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("connection: close"), "{raw}");
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_in_an_unread_body_is_closed_when_idle() {
    // Answered 413 by its length; then the rest of the body never comes:
    // the connection is closed once idle, not drained forever.
    let up = upstream("u", Behaviour::Echo).await;
    let settings =
        "    max_request_body: 4\n    header_read_timeout: 200ms\n    idle_timeout: 300ms";
    let p = TestProxy::start(&with_listener(&up, settings)).await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n01234")
        .await
        .unwrap();
    let answer = within("413", read_until(&mut s, "\r\n\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a stalled body kept the connection open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_response_is_dropped_once_idle() {
    // A long streamed response the client never reads: the proxy's writes
    // stop moving, the connection goes idle, and it is dropped rather than
    // waited for.
    let up = upstream(
        "u",
        Behaviour::Stream {
            chunks: 2_000,
            chunk_bytes: 64 * 1024,
            every: Duration::from_millis(5),
        },
    )
    .await;
    let settings = "    header_read_timeout: 200ms\n    idle_timeout: 300ms";
    let config = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        with_listener(&up, settings)
    );
    let p = TestProxy::start(&config).await;
    let open = async || sample(&metrics(&p).await, "ordo_proxy_downstream_connections", &[]);
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        eventually(PATIENCE, async || open().await == Some(1.0)).await,
        "the connection is open"
    );
    assert!(
        eventually(PATIENCE, async || open().await == Some(0.0)).await,
        "a client that never reads kept its connection"
    );
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_left_half_sent_after_a_request_is_cut_off_in_time() {
    // The start of a second head came with the first request, then nothing:
    // the header timeout runs from the first answer, not never.
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(&up, "    header_read_timeout: 300ms")).await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\nGE")
        .await
        .unwrap();
    let answer = within("first answer", read_until(&mut s, "\r\n\r\nu")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Closed by the proxy well before the idle timeout (60 s by default).
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the half-sent head kept the connection open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_cancels_its_request_upstream() {
    let up = upstream("slow", Behaviour::Delay(Duration::from_secs(30))).await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let in_flight = async || sample(&metrics(&p).await, "ordo_proxy_endpoint_in_flight", &[]);
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        eventually(PATIENCE, async || in_flight().await == Some(1.0)).await,
        "the request reached the upstream"
    );
    drop(s);
    assert!(
        eventually(PATIENCE, async || in_flight().await == Some(0.0)).await,
        "the request was still in flight after its client left"
    );
}

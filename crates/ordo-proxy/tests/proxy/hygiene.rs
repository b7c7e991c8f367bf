//! What the proxy does with requests and responses that are broken, huge,
//! slow or streamed: malformed requests get 400, oversized header blocks
//! 431, slow clients are cut off, broken upstream bodies break only their
//! own request, bodies stream both ways, and the proxy keeps serving.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use ordo_test_support::Echoed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::deadline::within;
use crate::support::*;

/// The status line of a raw HTTP/1 response, or what came instead.
fn status_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines().next().unwrap_or("<nothing>").to_owned()
}

/// Reads until the peer closes (or breaks) the connection.
async fn read_to_close(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(1..) = s.read(&mut buf).await {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_the_proxy_keeps_serving() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let cases: [(&str, &[u8]); 3] = [
        ("garbage request line", b"THIS IS NOT HTTP\r\n\r\n"),
        (
            "bad header syntax",
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        ),
        (
            "invalid content-length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: twelve\r\n\r\n",
        ),
    ];
    for (what, bytes) in cases {
        let raw = within(what, raw_exchange(p.addr, bytes, Duration::from_secs(2))).await;
        assert!(
            status_line(&raw).starts_with("HTTP/1.1 400"),
            "{what}: got {:?}",
            status_line(&raw)
        );
    }
    assert_eq!(up.hits(), 0, "nothing malformed reaches the upstream");
    let (s, h, _) = within("GET after garbage", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "u".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_header_block_gets_431() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(&up, "    max_header_bytes: 8192")).await;
    let big = "a".repeat(20 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let raw = within(
        "oversized headers",
        raw_exchange(p.addr, req.as_bytes(), Duration::from_secs(2)),
    )
    .await;
    assert!(
        status_line(&raw).starts_with("HTTP/1.1 431"),
        "got {:?}",
        status_line(&raw)
    );
    assert_eq!(up.hits(), 0);
    let (s, _, _) = within("GET after 431", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_headers_get_431() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(&up, "    max_headers: 10")).await;
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..30 {
        req.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    req.push_str("\r\n");
    let raw = within(
        "too many headers",
        raw_exchange(p.addr, req.as_bytes(), Duration::from_secs(2)),
    )
    .await;
    assert!(
        status_line(&raw).starts_with("HTTP/1.1 431"),
        "got {:?}",
        status_line(&raw)
    );
    // A request within the limit still passes.
    let (s, _, _) = within("GET with few headers", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(&up, "    header_read_timeout: 300ms")).await;
    let mut slow = within("connect", TcpStream::connect(p.addr))
        .await
        .expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write half a request");
    let started = tokio::time::Instant::now();
    // Others are served while the slow client hangs on.
    let client = http1_client();
    for _ in 0..3 {
        let (s, _, _) = within("GET beside a slow client", get(&client, &p.url("/"))).await;
        assert_eq!(s, 200);
    }
    tokio::time::timeout(Duration::from_secs(2), read_to_close(&mut slow))
        .await
        .expect("the proxy closes a connection whose headers do not arrive in time");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "closed too early"
    );
    assert_eq!(up.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_on_a_kept_alive_connection_is_cut_off_too() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(&up, "    header_read_timeout: 300ms")).await;
    let mut tcp = within("connect", TcpStream::connect(p.addr)).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut tcp, Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The second request's head never ends.
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(2), read_to_close(&mut tcp))
        .await
        .expect("a head that does not arrive in time closes the connection");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed too early"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_slower_than_the_header_timeout_is_not_cut_off() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(&up, "    header_read_timeout: 100ms")).await;
    let mut tcp = within("connect", TcpStream::connect(p.addr)).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        .await
        .unwrap();
    // The body trickles in over four times the header timeout.
    for b in b"hello".chunks(1) {
        tokio::time::sleep(Duration::from_millis(80)).await;
        tcp.write_all(b).await.unwrap();
    }
    let head = read_head(&mut tcp, Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_outlives_the_header_timeout_until_idle_timeout() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(
        &up,
        "    header_read_timeout: 100ms\n    idle_timeout: 10s",
    ))
    .await;
    let mut tcp = within("connect", TcpStream::connect(p.addr)).await.unwrap();
    for _ in 0..2 {
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let head = read_head(&mut tcp, Duration::from_secs(5)).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Quiet for several header timeouts: an idle connection, not a
        // slow head.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_connects_and_sends_nothing_is_cut_off() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&with_listener(&up, "    header_read_timeout: 300ms")).await;
    let mut silent = within("connect", TcpStream::connect(p.addr))
        .await
        .expect("connect");
    tokio::time::timeout(Duration::from_secs(2), read_to_close(&mut silent))
        .await
        .expect("the proxy closes a connection that sends nothing within header_read_timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_reset_mid_body_breaks_only_that_response() {
    let up = upstream("u", Behaviour::ResetMidBody).await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let client = http1_client();
    match within("GET a breaking body", try_get(&client, &p.url("/"))).await {
        // The head passed before the body broke: the client must see the
        // break, never a complete-looking body.
        Err(ordo_test_support::client::RequestError::Body { status, .. }) => {
            assert_eq!(status, 200)
        }
        Ok((status, _, body)) => panic!(
            "a body cut off upstream arrived as complete: {status}, {} bytes",
            body.len()
        ),
        Err(e) => panic!("expected the body to break after the head: {e}"),
    }
    up.set_behaviour(Behaviour::Ok);
    let (s, h, _) = within("GET after a broken body", get(&client, &p.url("/"))).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "u".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_response_arrives_whole() {
    let up = upstream(
        "u",
        Behaviour::Stream {
            chunks: 8,
            chunk_bytes: 3000,
            every: Duration::from_millis(10),
        },
    )
    .await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    for client in [http1_client(), http2_client()] {
        let (s, _, body) = within("GET a stream", get(&client, &p.url("/"))).await;
        assert_eq!(s, 200);
        assert_eq!(body.len(), 8 * 3000);
        assert!(body.iter().all(|b| *b == b'x'));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_larger_than_the_retry_buffer_streams_to_the_upstream() {
    let up = upstream("u", Behaviour::Echo).await;
    let p = TestProxy::start(&simple(&[&up], "{retry: {max_buffered_body: 65536}}", "")).await;
    let body = Bytes::from(vec![7u8; 1 << 20]);
    for client in [http1_client(), http2_client()] {
        let req = http::Request::post(p.url("/upload"))
            .body(Full::new(body.clone()))
            .expect("request");
        let (s, _, echoed) = within("POST 1 MiB", send(&client, req)).await;
        assert_eq!(s, 200);
        let echoed: Echoed = serde_json::from_slice(&echoed).expect("echo JSON");
        assert_eq!(echoed.body_len, 1 << 20);
        assert_eq!(echoed.method, "POST");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_gets_503_connect_failure() {
    let yaml = one_endpoint(dead_addr().await, "{}", "");
    let p = TestProxy::start(&yaml).await;
    let (s, h, body) = within("GET a dead endpoint", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(
        (s.as_u16(), reason(&h)),
        (503, "connect-failure"),
        "{body:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_gets_504_upstream_timeout() {
    let up = upstream("u", Behaviour::Delay(Duration::from_secs(5))).await;
    let p = TestProxy::start(&simple(&[&up], "{timeout: 200ms}", "")).await;
    let started = tokio::time::Instant::now();
    let (s, h, _) = within("GET a slow upstream", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((s.as_u16(), reason(&h)), (504, "upstream-timeout"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // The per-try timeout, without retries, answers the same way.
    let yaml = simple(
        &[&up],
        "{timeout: 5s, per_try_timeout: 200ms, retry: {max_attempts: 1}}",
        "",
    );
    let p = TestProxy::start(&yaml).await;
    let (s, h, _) = within(
        "GET past the per-try timeout",
        get(&http1_client(), &p.url("/")),
    )
    .await;
    assert_eq!((s.as_u16(), reason(&h)), (504, "upstream-timeout"));
}

/// An upstream that answers every request on every connection with the
/// same raw bytes, for responses the fixture cannot make.
async fn raw_upstream(response: &'static [u8]) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    head.extend_from_slice(&buf[..n]);
                    if head.windows(4).any(|w| w == b"\r\n\r\n") {
                        head.clear();
                        if s.write_all(response).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_of_the_upstream_response_are_removed() {
    let addr = raw_upstream(
        b"HTTP/1.1 200 OK\r\n\
          Content-Length: 2\r\n\
          Keep-Alive: timeout=5\r\n\
          Proxy-Authenticate: Basic realm=\"upstream\"\r\n\
          Connection: x-conn-private\r\n\
          X-Conn-Private: 1\r\n\
          X-Kept: 1\r\n\
          \r\n\
          ok",
    )
    .await;
    let yaml = one_endpoint(addr, "{}", "");
    let p = TestProxy::start(&yaml).await;
    let (s, h, body) = within("GET", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((s.as_u16(), &body[..]), (200, &b"ok"[..]));
    for gone in ["keep-alive", "proxy-authenticate", "x-conn-private"] {
        assert!(h.get(gone).is_none(), "{gone} passed: {h:?}");
    }
    assert_eq!(h["x-kept"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_listener_limit_get_413() {
    let up = upstream("u", Behaviour::Echo).await;
    let p = TestProxy::start(&with_listener(&up, "    max_request_body: 1000")).await;
    // Too large by its content-length: refused before anything is sent.
    let req = http::Request::post(p.url("/"))
        .body(Full::new(Bytes::from(vec![b'x'; 2000])))
        .unwrap();
    let (s, h, _) = within("sized POST", send(&http1_client(), req)).await;
    assert_eq!((s.as_u16(), reason(&h)), (413, "request-body-too-large"));
    assert_eq!(up.hits(), 0);
    // Within the limit: forwarded.
    let req = http::Request::post(p.url("/"))
        .body(Full::new(Bytes::from(vec![b'x'; 900])))
        .unwrap();
    let (s, _, body) = within("small POST", send(&http1_client(), req)).await;
    assert_eq!(s, 200);
    let echoed: Echoed = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed.body_len, 900);
    // Too large without a length (chunked): cut off as it streams.
    let mut tcp = within("connect", TcpStream::connect(p.addr)).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 800, "y".repeat(800));
    let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(chunk.as_bytes()).await.unwrap();
    tcp.write_all(chunk.as_bytes()).await.unwrap();
    let text = read_head(&mut tcp, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.contains("x-ordo-reason: request-body-too-large"),
        "{text}"
    );
    // The endpoint was not blamed for the client's body.
    let status = p.proxy.runtime().clusters()[0].status();
    assert!(status.endpoints.iter().all(|e| !e.ejected && e.available));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_but_a_slow_answer_is_awaited() {
    let up = upstream("u", Behaviour::Delay(Duration::from_millis(900))).await;
    let p = TestProxy::start(&with_listener(
        &up,
        "    idle_timeout: 200ms\n    header_read_timeout: 100ms",
    ))
    .await;
    let mut tcp = within("connect", TcpStream::connect(p.addr)).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The upstream takes longer than the idle timeout: the answer still comes.
    let head = read_head(&mut tcp, Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Then nothing moves: the proxy closes the connection by itself.
    let started = tokio::time::Instant::now();
    let closed = within("idle close", async {
        let mut buf = [0u8; 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    let _: () = closed;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed after {:?}",
        started.elapsed()
    );
}

//! TCP proxies with toxics, driven through the Toxiproxy-compatible admin
//! API, against real TCP servers on port 0: each toxic does what it says to
//! open connections and new ones, in the direction it names, for its share
//! of connections; bad requests get Toxiproxy's error codes.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::deadline::within;
use crate::support::*;

/// A server that echoes every byte back.
async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A server that writes `bytes` to each connection, then closes it.
async fn say_and_close(bytes: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(bytes).await;
        }
    });
    addr
}

/// A proxy with only an admin listener.
async fn admin_only() -> TestProxy {
    TestProxy::start("admin: { address: 127.0.0.1:0 }\nlisteners: []\n").await
}

async fn toxic(p: &TestProxy, proxy: &str, spec: Value) {
    let (s, v) = admin_json(
        p,
        Method::POST,
        &format!("/proxies/{proxy}/toxics"),
        Some(spec),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// Writes `msg` and reads back as many bytes; the time it took.
async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Duration {
    let t = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    within("echo", s.read_exact(&mut got)).await.unwrap();
    assert_eq!(got, msg);
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pass_both_ways_and_latency_applies_to_open_connections() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "echo", echo_server().await).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(round_trip(&mut s, b"hello").await < Duration::from_millis(150));
    toxic(
        &p,
        "echo",
        json!({"type": "latency", "attributes": {"latency": 200, "jitter": 0}}),
    )
    .await;
    // The toxic reaches the connection already open, in the default
    // (downstream) direction.
    assert!(round_trip(&mut s, b"slow").await >= Duration::from_millis(200));
    let (st, _) = admin_json(
        &p,
        Method::DELETE,
        "/proxies/echo/toxics/latency_downstream",
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(round_trip(&mut s, b"fast again").await < Duration::from_millis(150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_the_rate() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "bw", echo_server().await).await;
    toxic(
        &p,
        "bw",
        json!({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100}}),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let msg = vec![b'x'; 50_000];
    let took = round_trip(&mut s, &msg).await;
    // 50 kB at 100 kB/s (Toxiproxy's KB is 1000 bytes).
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_data_and_closes_the_connection() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "t", echo_server().await).await;
    toxic(
        &p,
        "t",
        json!({"type": "timeout", "attributes": {"timeout": 150}}),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let t = Instant::now();
    s.write_all(b"lost").await.unwrap();
    let mut buf = [0u8; 16];
    let n = within("closed", s.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "no data passes");
    held_at_least(t, 130);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_resets_the_connection() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "r", echo_server().await).await;
    toxic(
        &p,
        "r",
        json!({"type": "reset_peer", "attributes": {"timeout": 200}}),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // Data passes until the timeout, then the connection is reset.
    round_trip(&mut s, b"x").await;
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let e = within("reset", s.read(&mut buf))
        .await
        .expect_err("a reset is an error, not an orderly close");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    held_at_least(t, 150);

    // With no timeout, nothing passes: the reset comes at once (on the
    // connect, the write or the read).
    let (s, _) = admin_json(
        &p,
        Method::POST,
        "/proxies/r/toxics/reset_peer_downstream",
        Some(json!({"attributes": {"timeout": 0}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let outcome = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"y").await?;
        let mut buf = [0u8; 16];
        s.read(&mut buf).await
    };
    match within("reset at once", outcome).await {
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        ),
        Ok(n) => panic!("read {n} bytes instead of a reset"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_cuts_data_into_small_pieces() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "s", echo_server().await).await;
    toxic(
        &p,
        "s",
        json!({"type": "slicer", "attributes": {"average_size": 100, "size_variation": 20, "delay": 2000}}),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[b'y'; 2000]).await.unwrap();
    let mut reads = 0;
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < 2000 {
        let n = within("slices", s.read(&mut buf)).await.unwrap();
        assert!(n > 0);
        assert!(n <= 120, "a slice of {n} bytes");
        got += n;
        reads += 1;
    }
    assert!(reads >= 16, "{reads} reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_so_many_bytes() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "l", echo_server().await).await;
    toxic(
        &p,
        "l",
        json!({"type": "limit_data", "attributes": {"bytes": 10}}),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"0123456789abcdef").await.unwrap();
    let mut got = Vec::new();
    within("limited", s.read_to_end(&mut got)).await.ok();
    assert_eq!(got, b"0123456789");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_close() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "c", say_and_close(b"bye").await).await;
    toxic(
        &p,
        "c",
        json!({"type": "slow_close", "attributes": {"delay": 300}}),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    within("close", s.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"bye");
    held_at_least(t, 280);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_zero_never_applies_and_upstream_toxics_leave_downstream_alone() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "z", echo_server().await).await;
    toxic(
        &p,
        "z",
        json!({"name": "never", "type": "latency", "toxicity": 0.0, "attributes": {"latency": 500}}),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(round_trip(&mut s, b"x").await < Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_proxy_refuses_connections_and_comes_back_on_its_port() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "d", echo_server().await).await;
    let mut open = TcpStream::connect(addr).await.unwrap();
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/proxies/d",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!((s, v["enabled"].clone()), (StatusCode::OK, json!(false)));
    // Open connections are closed, new ones refused.
    let mut buf = [0u8; 4];
    assert_eq!(within("closed", open.read(&mut buf)).await.unwrap_or(0), 0);
    assert!(TcpStream::connect(addr).await.is_err());
    let (s, v) = admin_json(&p, Method::POST, "/reset", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let mut again = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut again, b"back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_toxiproxys_error_codes() {
    let p = admin_only().await;
    tcp_proxy(&p, "e", echo_server().await).await;
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/proxies",
        Some(json!({"name": "e", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"})),
    )
    .await;
    assert_eq!((s, v["status"].clone()), (StatusCode::CONFLICT, json!(409)));
    let (s, v) = admin_json(&p, Method::GET, "/proxies/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/proxies/e/toxics",
        Some(json!({"type": "teleport"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("not a toxic"), "{v}");
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/proxies/e/toxics",
        Some(json!({"type": "latency", "stream": "sideways", "toxicity": 2.0})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("stream") && e.contains("toxicity"), "{v}");
    toxic(
        &p,
        "e",
        json!({"type": "latency", "attributes": {"latency": 1}}),
    )
    .await;
    let (s, _) = admin_json(
        &p,
        Method::POST,
        "/proxies/e/toxics",
        Some(json!({"type": "latency"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = admin_json(&p, Method::POST, "/proxies", Some(json!({"name": "x"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The fault halt clears toxics too.
    let (s, v) = admin_json(&p, Method::DELETE, "/faults", None).await;
    assert_eq!((s, v["removed"].clone()), (StatusCode::OK, json!(1)));
    let (_, v) = admin_json(&p, Method::GET, "/proxies/e/toxics", None).await;
    assert_eq!(v, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_proxies_declared_in_config_start_with_their_toxics() {
    let up = echo_server().await;
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}
listeners: []
tcp_proxies:
  - name: db
    listen: 127.0.0.1:0
    upstream: {up}
    toxics:
      - {{ type: latency, attributes: {{ latency: 150 }} }}
"
    );
    let p = TestProxy::start(&yaml).await;
    let (_, v) = admin_json(&p, Method::GET, "/proxies", None).await;
    let addr: SocketAddr = v["db"]["listen"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["db"]["toxics"][0]["name"], "latency_downstream");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(round_trip(&mut s, b"q").await >= Duration::from_millis(150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_upstream_or_a_quick_disable_and_enable_keeps_the_port() {
    let p = admin_only().await;
    let first = echo_server().await;
    let second = echo_server().await;
    let addr = tcp_proxy(&p, "m", first).await;
    let (s, v) = admin_json(
        &p,
        Method::POST,
        "/proxies/m",
        Some(json!({"upstream": second.to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["listen"], addr.to_string());
    assert_eq!(v["enabled"], true);
    let mut c = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut c, b"moved").await;
    for on in [false, true, false, true] {
        let (s, v) = admin_json(&p, Method::POST, "/proxies/m", Some(json!({"enabled": on}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let mut c = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut c, b"back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_counts_from_when_the_toxic_was_added() {
    let p = admin_only().await;
    let addr = tcp_proxy(&p, "late", echo_server().await).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut s, &[b'a'; 5000]).await;
    toxic(
        &p,
        "late",
        json!({"type": "limit_data", "attributes": {"bytes": 10}}),
    )
    .await;
    s.write_all(b"0123456789abcdef").await.unwrap();
    let mut got = Vec::new();
    within("limited", s.read_to_end(&mut got)).await.ok();
    assert_eq!(got, b"0123456789");
}

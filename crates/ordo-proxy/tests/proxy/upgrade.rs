//! Protocol upgrades (WebSocket and the like): the proxy passes the
//! `101 Switching Protocols` back and then splices the two connections,
//! bytes flowing both ways.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::deadline::within;
use crate::support::*;

/// Reads until the end of a response head; returns the head and any bytes
/// that came after it.
async fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.expect("read the response head");
        assert!(
            n > 0,
            "closed before the head ended: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(end + 4);
            return (String::from_utf8_lossy(&got).into_owned(), rest);
        }
    }
}

/// Reads exactly `n` bytes, starting with `already`.
async fn read_n(s: &mut TcpStream, mut already: Vec<u8>, n: usize) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    while already.len() < n {
        let got = s.read(&mut buf).await.expect("read echoed bytes");
        assert!(got > 0, "closed after {} of {n} bytes", already.len());
        already.extend_from_slice(&buf[..got]);
    }
    already
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_passes_and_bytes_echo_both_ways() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let mut s = within("connect", TcpStream::connect(p.addr))
        .await
        .expect("connect");
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await
    .expect("write the upgrade request");
    let (head, rest) = within("101", read_head(&mut s)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(lower.contains("connection: upgrade"), "{head}");
    assert!(lower.contains("x-upstream: u"), "{head}");
    assert!(rest.is_empty(), "bytes before anything was sent: {rest:?}");

    // Several messages, one of them larger than a socket read.
    let mut messages = vec![b"hello".to_vec(), b" through the proxy".to_vec()];
    messages.push((0..100_000u32).map(|i| (i % 251) as u8).collect());
    for m in messages {
        s.write_all(&m)
            .await
            .expect("write on the upgraded connection");
        let back = within("echo", read_n(&mut s, Vec::new(), m.len())).await;
        assert_eq!(back, m);
    }

    // The client closing its side ends the tunnel: the echo closes too.
    s.shutdown().await.expect("shutdown");
    let mut buf = [0u8; 64];
    let n = within("close", s.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "the tunnel closes after the client does");

    // The proxy still serves plain requests.
    let (st, _, _) = within("GET after the tunnel", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(st, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_the_upstream_refuses_is_an_ordinary_response() {
    // `/ws` without the upgrade headers: the fixture answers 426.
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let (s, h, _) = within("GET /ws", get(&http1_client(), &p.url("/ws"))).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (426, "u".to_owned()));
}

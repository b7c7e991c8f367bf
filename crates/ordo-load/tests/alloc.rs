//! Heap blocks per request: ordo-load against a bare hyper client sending
//! the same requests to the same server, in one process.
//!
//! dhat's allocator counts every block this process allocates, the
//! in-process upstream's included; the bare client's run counts the same
//! server work, so the difference is what the generator adds per request
//! (its task, the request's headers, the completion report, the pool).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http::header::{HOST, HeaderValue};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use ordo_load::{Load, LoadSpec};
use ordo_test_support::Upstream;
use tokio::net::TcpStream;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const REQUESTS: u64 = 1_000;

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// `n` GETs, one after another on one keep-alive connection, each built
/// with as little as hyper allows.
async fn bare_hyper(addr: SocketAddr, n: u64) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid host");
    for _ in 0..n {
        send.ready().await.expect("ready");
        let mut request = Request::new(Full::new(Bytes::new()));
        request.headers_mut().insert(HOST, host.clone());
        let response = send.send_request(request).await.expect("a response");
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.expect("a body frame");
        }
    }
}

async fn ordo_load(url: String, n: u64) {
    let spec = LoadSpec {
        max_requests: Some(n),
        ..LoadSpec::new(url, 500.0)
    };
    let report = Load::start(spec).expect("a valid spec").finish().await;
    assert_eq!(report.snapshot.total.ok, n);
}

#[tokio::test]
async fn the_generator_adds_few_heap_blocks_per_request() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let up = Upstream::builder().start().await;
    // Warm up lazy statics and the server's buffers.
    bare_hyper(up.addr(), 10).await;
    ordo_load(up.url("/"), 10).await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    let before = blocks();
    bare_hyper(up.addr(), REQUESTS).await;
    let bare = blocks() - before;

    let before = blocks();
    ordo_load(up.url("/"), REQUESTS).await;
    let load = blocks() - before;

    let per_request = |b: u64| b as f64 / REQUESTS as f64;
    let extra = per_request(load) - per_request(bare);
    println!(
        "blocks per request, server included: bare hyper {:.1}, ordo-load {:.1}, extra {extra:.1}",
        per_request(bare),
        per_request(load)
    );
    assert!(extra <= 3.0, "ordo-load adds {extra:.1} blocks per request");
    up.shutdown().await;
}

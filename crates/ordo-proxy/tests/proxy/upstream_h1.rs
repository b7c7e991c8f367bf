//! ordo's HTTP/1 upstream client against upstreams that answer with
//! hand-written bytes: every way RFC 9112 delimits a body, interim
//! responses, malformed answers, request bodies framed for this hop, and
//! keep-alive connections the upstream closes as a request arrives.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use ordo_test_support::raw::{RawReply, RawUpstream};

use crate::deadline::{PATIENCE, within};
use crate::support::*;

/// A proxy with one route to `up`, no retries unless `policy` says so.
async fn proxy_to(up: &RawUpstream, policy: &str) -> TestProxy {
    TestProxy::start(&one_endpoint(up.addr(), policy, "")).await
}

const NO_RETRY: &str = "{ retry: { max_attempts: 1 } }";

/// `request` on a connection of its own; everything the proxy answered
/// until it closed (send `Connection: close`).
async fn exchange(p: &TestProxy, request: &str) -> String {
    let raw = within(
        "raw exchange",
        raw_exchange(p.addr, request.as_bytes(), PATIENCE),
    )
    .await;
    String::from_utf8_lossy(&raw).into_owned()
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[tokio::test]
async fn chunked_bodies_and_their_trailers_pass_and_the_connection_is_reused() {
    let up = RawUpstream::start(vec![RawReply::keep(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n\
         5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n",
    )])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let answer = exchange(
        &p,
        "GET / HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{answer}");
    assert!(
        answer.contains("hello") && answer.contains(" world"),
        "{answer}"
    );
    assert!(
        lower.contains("x-sum: 11"),
        "trailers reach the client: {answer}"
    );
    let (status, _, body) = within("second", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
    assert_eq!(up.connections(), 1, "the connection went back to the pool");
}

#[tokio::test]
async fn a_body_delimited_by_close_passes_and_its_connection_is_not_reused() {
    let up = RawUpstream::start(vec![RawReply::close(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the very end",
    )])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let client = http1_client();
    let (status, _, body) = within("first", get(&client, &p.url("/"))).await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (200, &b"until the very end"[..])
    );
    let (status, _, body) = within("second", get(&client, &p.url("/"))).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
    assert_eq!(up.connections(), 2);
}

#[tokio::test]
async fn an_http_1_0_answer_without_keep_alive_is_not_reused() {
    let up = RawUpstream::start(vec![
        RawReply::keep("HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nabc"),
        RawReply::keep("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 3\r\n\r\ndef"),
    ])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let client = http1_client();
    for want in ["abc", "def", "ok"] {
        let (status, _, body) = within("get", get(&client, &p.url("/"))).await;
        assert_eq!((status.as_u16(), text(&body).as_str()), (200, want));
    }
    // The first connection was closed after "abc"; the second, kept alive
    // by its header, also carried "ok".
    assert_eq!(up.connections(), 2);
}

#[tokio::test]
async fn interim_responses_are_skipped() {
    let up = RawUpstream::start(vec![RawReply::keep(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
         HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone",
    )])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let (status, _, body) = within("get", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((status.as_u16(), &body[..]), (201, &b"done"[..]));
}

#[tokio::test]
async fn malformed_answers_get_502_upstream_protocol_error_and_the_proxy_carries_on() {
    let huge = format!(
        "HTTP/1.1 200 OK\r\nx-big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let bad = [
        "HTTP/1.1 2x0 OK\r\n\r\n".to_owned(),
        "SSH-2.0-OpenSSH_9.2\r\n\r\n".to_owned(),
        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabc".to_owned(),
        "HTTP/1.1 200 OK\r\ncontent-length: -3\r\n\r\n".to_owned(),
        "HTTP/1.1 200 OK\r\nbad header\r\n\r\n".to_owned(),
        huge,
    ];
    let up = RawUpstream::start(bad.iter().map(RawReply::close).collect()).await;
    let p = proxy_to(&up, NO_RETRY).await;
    let client = http1_client();
    for b in &bad {
        let (status, headers, _) = within("get", get(&client, &p.url("/"))).await;
        assert_eq!(status.as_u16(), 502, "{}", &b[..b.len().min(60)]);
        assert_eq!(headers["x-ordo-reason"], "upstream-protocol-error");
    }
    let (status, _, body) = within("after", get(&client, &p.url("/"))).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
}

#[tokio::test]
async fn a_body_cut_short_breaks_only_its_own_response() {
    let up = RawUpstream::start(vec![RawReply::close(
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b",
    )])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let client = http1_client();
    // The head may or may not have left before the break; either way the
    // client must see the break, never a complete-looking body.
    if let Ok((status, _, body)) = within("get", try_get(&client, &p.url("/"))).await {
        panic!("a truncated body arrived as complete: {status}, {body:?}");
    }
    let (status, _, _) = within("after", get(&client, &p.url("/"))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_large_body_streams_through_in_pieces() {
    let body: String = (0..300_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let up = RawUpstream::start(vec![RawReply::keep(format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ))])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let (status, headers, got) = within("get", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], "300000");
    assert!(got == body.as_bytes(), "the body arrives unchanged");
    let (_, _, again) = within("again", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(&again[..], b"ok");
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn head_and_204_answers_have_no_body_and_keep_the_connection() {
    let up = RawUpstream::start(vec![
        RawReply::keep("HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"),
        RawReply::keep("HTTP/1.1 204 No Content\r\n\r\n"),
    ])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let client = http1_client();
    let head = Request::builder()
        .method(Method::HEAD)
        .uri(p.url("/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = within("head", send(&client, head)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], "1234");
    assert!(body.is_empty());
    let (status, _, body) = within("204", get(&client, &p.url("/"))).await;
    assert_eq!(status, 204);
    assert!(body.is_empty());
    let (status, _, _) = within("after", get(&client, &p.url("/"))).await;
    assert_eq!(status, 200);
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn a_pooled_connection_closed_as_a_get_arrives_is_retried_on_a_new_one() {
    let up = RawUpstream::start(vec![
        RawReply::keep("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst"),
        RawReply::hang_up(),
    ])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let client = http1_client();
    let (_, _, body) = within("first", get(&client, &p.url("/"))).await;
    assert_eq!(&body[..], b"first");
    // The pooled connection is closed by the upstream once the request is
    // on it: sent again on a new connection, not counted as a failure.
    let (status, headers, body) = within("second", get(&client, &p.url("/"))).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
    assert!(headers.get("x-ordo-reason").is_none());
    assert_eq!(up.connections(), 2);
    assert_eq!(up.requests().len(), 3);
}

#[tokio::test]
async fn a_post_on_a_pooled_connection_that_closes_is_not_sent_twice() {
    let up = RawUpstream::start(vec![
        RawReply::keep("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst"),
        RawReply::hang_up(),
    ])
    .await;
    let p = proxy_to(&up, "{}").await;
    let client = http1_client();
    let (_, _, body) = within("first", get(&client, &p.url("/"))).await;
    assert_eq!(&body[..], b"first");
    let post = Request::builder()
        .method(Method::POST)
        .uri(p.url("/"))
        .body(Full::new(Bytes::from_static(b"pay once")))
        .unwrap();
    let (status, headers, _) = within("post", send(&client, post)).await;
    assert_eq!(status, 502);
    assert_eq!(headers["x-ordo-reason"], "upstream-reset");
    assert_eq!(up.requests().len(), 2, "the POST reached the upstream once");
}

#[tokio::test]
async fn request_bodies_are_framed_for_this_hop() {
    let up = RawUpstream::start(vec![]).await;
    let p = proxy_to(&up, NO_RETRY).await;
    // A body with a length keeps it.
    exchange(
        &p,
        "POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
    )
    .await;
    // A chunked body goes on chunked (not buffered: its length is unknown).
    exchange(
        &p,
        "POST /b HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .await;
    // An empty POST says so; a GET carries no framing at all.
    exchange(
        &p,
        "POST /c HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    exchange(
        &p,
        "GET /d HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let seen: Vec<String> = up.requests().iter().map(|r| text(r)).collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen[0].starts_with("POST /a HTTP/1.1\r\n"), "{}", seen[0]);
    assert!(
        seen[0].ends_with("content-length: 5\r\n\r\nhello"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].contains("transfer-encoding: chunked\r\n"),
        "{}",
        seen[1]
    );
    assert!(!seen[1].contains("content-length"), "{}", seen[1]);
    let body = &seen[1][seen[1].find("\r\n\r\n").unwrap() + 4..];
    let decoded: String = body
        .split("\r\n")
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|c| c.get(1).copied())
        .collect();
    assert_eq!(decoded, "abcde", "{body:?}");
    assert!(
        seen[2].ends_with("content-length: 0\r\n\r\n"),
        "{}",
        seen[2]
    );
    for r in &seen {
        assert!(
            !r.contains("connection: close"),
            "hop-by-hop forwarded: {r}"
        );
    }
    assert!(!seen[3].contains("content-length") && !seen[3].contains("transfer-encoding"));
}

#[tokio::test]
async fn an_answer_sent_before_the_upload_was_read_reaches_the_client() {
    let up = RawUpstream::start(vec![
        RawReply::keep(
            "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo big\n",
        )
        .before_body(),
    ])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let post = Request::builder()
        .method(Method::POST)
        .uri(p.url("/upload"))
        .body(Full::new(Bytes::from(vec![b'x'; 512 * 1024])))
        .unwrap();
    let (status, _, body) = within("post", send(&http1_client(), post)).await;
    assert_eq!((status.as_u16(), &body[..]), (413, &b"too big\n"[..]));
}

#[tokio::test]
async fn an_early_answer_ends_an_upload_the_upstream_stopped_reading() {
    let up = RawUpstream::start(vec![
        RawReply::keep("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big\n")
            .ignoring_body(),
    ])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    // Far more than the socket buffers hold: without watching for the
    // answer, the proxy would wait on a write that never completes.
    let post = Request::builder()
        .method(Method::POST)
        .uri(p.url("/upload"))
        .body(Full::new(Bytes::from(vec![b'x'; 64 * 1024 * 1024])))
        .unwrap();
    let (status, _, body) = within("post", send(&http1_client(), post)).await;
    assert_eq!((status.as_u16(), &body[..]), (413, &b"too big\n"[..]));
    // The connection, with half a request on it, is not reused.
    let (status, _, _) = within("after", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(status, 200);
    assert_eq!(up.connections(), 2);
}

#[tokio::test]
async fn content_length_beside_transfer_encoding_is_dropped() {
    let up = RawUpstream::start(vec![RawReply::keep(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 100\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
    )])
    .await;
    let p = proxy_to(&up, NO_RETRY).await;
    let (status, headers, body) = within("get", get(&http1_client(), &p.url("/"))).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"hello"[..]));
    assert!(headers.get("content-length").is_none(), "{headers:?}");
    let (_, _, _) = within("again", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(up.connections(), 2, "not reused after an ambiguous length");
}

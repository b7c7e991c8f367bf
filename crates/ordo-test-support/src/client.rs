//! The client side of the fixtures: hyper clients for HTTP/1.1 and HTTP/2
//! (prior knowledge), one-call requests that return status, headers and the
//! whole body, and [`raw_exchange`] for bytes no well-behaved client would send.
//!
//! None of these time out on their own (a timer would fire early on a paused
//! clock); wrap awaits that could hang in `tokio::time::timeout`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// The client type the helpers take: plain HTTP, buffered request bodies.
pub type TestClient = Client<HttpConnector, Full<Bytes>>;

/// A pooled HTTP/1.1 client.
pub fn http1_client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An HTTP/2 client that speaks it with prior knowledge (no upgrade, no TLS).
pub fn http2_client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// How a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The URL did not parse.
    #[error("invalid url {url:?}: {source}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it did not parse.
        source: http::uri::InvalidUri,
    },
    /// No response head arrived: refused, reset, closed before answering.
    #[error("request failed before a response arrived: {0}")]
    Request(#[source] hyper_util::client::legacy::Error),
    /// The response head arrived but the body broke off.
    #[error("response body failed after status {status}: {source}")]
    Body {
        /// Status of the response whose body failed.
        status: StatusCode,
        /// What hyper saw.
        source: hyper::Error,
    },
}

/// `GET url`, returning status, headers and the whole body.
///
/// # Panics
/// If the request or the body fails; use [`try_get`] to inspect failures.
pub async fn get(client: &TestClient, url: &str) -> (StatusCode, HeaderMap, Bytes) {
    try_get(client, url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `GET url`, returning status, headers and the whole body, or how it failed.
pub async fn try_get(
    client: &TestClient,
    url: &str,
) -> Result<(StatusCode, HeaderMap, Bytes), RequestError> {
    let uri = url.parse().map_err(|source| RequestError::Url {
        url: url.to_owned(),
        source,
    })?;
    let request = Request::get::<http::Uri>(uri)
        .body(Full::default())
        .expect("a GET with a parsed URI is a valid request");
    try_send(client, request).await
}

/// Sends `request`, returning status, headers and the whole body.
///
/// # Panics
/// If the request or the body fails; use [`try_send`] to inspect failures.
pub async fn send(
    client: &TestClient,
    request: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, Bytes) {
    let target = format!("{} {}", request.method(), request.uri());
    try_send(client, request)
        .await
        .unwrap_or_else(|e| panic!("{target}: {e}"))
}

/// Sends `request`, returning status, headers and the whole body, or how it failed.
pub async fn try_send(
    client: &TestClient,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Bytes), RequestError> {
    let response = client
        .request(request)
        .await
        .map_err(RequestError::Request)?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|source| RequestError::Body {
            status: parts.status,
            source,
        })?
        .to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// Writes `bytes` on a fresh TCP connection to `addr` and returns everything
/// read back until the peer closes, the connection fails, or `read_timeout`
/// (from the end of the write) passes.
///
/// # Panics
/// If the connection cannot be opened.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], read_timeout: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    if let Err(e) = stream.write_all(bytes).await {
        // The server may close early on garbage; still read what it said.
        tracing::debug!(%addr, error = %e, "raw write failed");
    }
    let deadline = Instant::now() + read_timeout;
    let mut received = Vec::new();
    let mut buf = [0; 8 * 1024];
    while let Ok(Ok(n @ 1..)) = timeout_at(deadline, stream.read(&mut buf)).await {
        received.extend_from_slice(&buf[..n]);
    }
    received
}

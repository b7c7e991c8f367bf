//! HTTP/2 end to end: cleartext by prior knowledge to HTTP/1 and HTTP/2
//! upstreams, and over TLS where ALPN picks the version.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ordo_test_support::Echoed;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::deadline::within;
use crate::support::*;

/// A config of one listener (with `listener` settings at its indentation)
/// routing to one endpoint, whose cluster has `cluster` settings.
fn config(up: &Upstream, listener: &str, cluster: &str) -> String {
    format!(
        "listeners:
  - name: edge
    address: 127.0.0.1:0
{listener}
    routes:
      - name: all
        cluster: c
clusters:
  - name: c
    endpoints: [ {{ address: {addr} }} ]
{cluster}
",
        addr = up.addr()
    )
}

/// Sends a GET and returns the response's version and the upstream's echo.
async fn echo_through(client: &TestClient, url: &str) -> (Version, Echoed) {
    let req = Request::get(url).body(Default::default()).expect("request");
    let resp = within("GET", client.request(req)).await.expect("response");
    let version = resp.version();
    assert_eq!(resp.status(), 200);
    let body = within("body", resp.into_body().collect())
        .await
        .expect("body")
        .to_bytes();
    (version, serde_json::from_slice(&body).expect("echo JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_reaches_an_http1_upstream() {
    let up = Upstream::builder()
        .name("u")
        .http2(false)
        .behaviour(Behaviour::Echo)
        .start()
        .await;
    let p = TestProxy::start(&config(&up, "", "")).await;
    let (version, echoed) = echo_through(&http2_client(), &p.url("/h2?x=1")).await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(echoed.version, "HTTP/1.1");
    assert_eq!(
        (echoed.path.as_str(), echoed.query.as_deref()),
        ("/h2", Some("x=1"))
    );
    assert!(
        echoed.headers.contains_key("host"),
        "HTTP/1 needs a Host: {echoed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_reaches_an_http2_upstream() {
    let up = Upstream::builder()
        .name("u")
        .http2_only()
        .behaviour(Behaviour::Echo)
        .start()
        .await;
    let p = TestProxy::start(&config(&up, "", "    protocol: http2")).await;
    for client in [http2_client(), http1_client()] {
        let (_, echoed) = echo_through(&client, &p.url("/h2")).await;
        assert_eq!(echoed.version, "HTTP/2.0");
        assert_eq!(echoed.path, "/h2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_speaks_only_the_versions_it_allows() {
    let up = Upstream::builder().name("u").start().await;
    let p = TestProxy::start(&config(&up, "    protocols: [http1]", "")).await;
    let r = within("h2c GET", try_get(&http2_client(), &p.url("/"))).await;
    assert!(r.is_err(), "an http1-only listener answered HTTP/2: {r:?}");
    let (s, _, _) = within("h1 GET", get(&http1_client(), &p.url("/"))).await;
    assert_eq!(s, 200);
    let p = TestProxy::start(&config(&up, "    protocols: [http2]", "")).await;
    let r = within("h1 GET", try_get(&http1_client(), &p.url("/"))).await;
    assert!(r.is_err(), "an http2-only listener answered HTTP/1: {r:?}");
    let (s, _, _) = within("h2c GET", get(&http2_client(), &p.url("/"))).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordos_own_answer_to_an_http2_head_declares_its_length_and_sends_no_data() {
    let up = Upstream::builder().name("u").start().await;
    let only = config(&up, "", "").replace(
        "      - name: all\n",
        "      - name: all\n        match: { path: { exact: /only } }\n",
    );
    let p = TestProxy::start(&only).await;
    let client = http2_client();
    let head = Request::head(p.url("/elsewhere"))
        .body(Default::default())
        .expect("request");
    // A DATA frame on an answer to HEAD is a protocol error the client
    // would report here.
    let (status, headers, body) = within("h2c HEAD", try_send(&client, head))
        .await
        .expect("HEAD answered cleanly");
    assert_eq!(status, 404);
    assert_eq!(headers["x-ordo-reason"], "no-route");
    assert!(body.is_empty());
    let (_, _, get_body) = within("h2c GET", get(&client, &p.url("/elsewhere"))).await;
    assert_eq!(
        headers["content-length"],
        get_body.len().to_string().as_str(),
        "the length a GET gets"
    );
    assert_eq!(up.hits(), 0);
}

/// A self-signed certificate for `localhost`, its PEM files in a fresh
/// folder, and a client config that trusts it.
struct Cert {
    cert: PathBuf,
    key: PathBuf,
    roots: RootCertStore,
}

fn self_signed() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let dir = temp_dir();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    let mut roots = RootCertStore::empty();
    roots.add(ck.cert.der().clone()).expect("trust the cert");
    Cert { cert, key, roots }
}

fn tls_listener(c: &Cert, protocols: &str) -> String {
    format!(
        "    tls: {{ cert: '{}', key: '{}' }}\n{protocols}",
        c.cert.display(),
        c.key.display()
    )
}

/// Connects with TLS offering `alpn`, returning the stream and the
/// protocol the server picked.
async fn tls_connect(c: &Cert, addr: std::net::SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(c.roots.clone())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    within(
        "TLS handshake",
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake")
}

fn alpn(s: &TlsStream<TcpStream>) -> Option<&[u8]> {
    s.get_ref().1.alpn_protocol()
}

/// One GET over an established stream with the given HTTP version, returning the
/// upstream's echo.
async fn get_over(tls: TlsStream<TcpStream>, version: Version) -> Echoed {
    let io = TokioIo::new(tls);
    let resp = if version == Version::HTTP_2 {
        let (mut send, conn) = within(
            "h2 handshake",
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io),
        )
        .await
        .expect("h2 handshake");
        tokio::spawn(conn);
        let req = Request::get("https://localhost/tls")
            .body(Empty::<Bytes>::new())
            .expect("request");
        within("h2 request", send.send_request(req))
            .await
            .expect("h2 response")
    } else {
        let (mut send, conn) = within("h1 handshake", hyper::client::conn::http1::handshake(io))
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        let req = Request::get("/tls")
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .expect("request");
        within("h1 request", send.send_request(req))
            .await
            .expect("h1 response")
    };
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), version);
    let body = within("body", resp.into_body().collect())
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&body).expect("echo JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_picks_h2_when_the_client_offers_it() {
    let up = upstream("u", Behaviour::Echo).await;
    let cert = self_signed();
    let p = TestProxy::start(&config(&up, &tls_listener(&cert, ""), "")).await;
    let tls = tls_connect(&cert, p.addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn(&tls), Some(&b"h2"[..]));
    let echoed = get_over(tls, Version::HTTP_2).await;
    assert_eq!(echoed.path, "/tls");
    assert_eq!(echoed.headers["x-forwarded-proto"], "https");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_settles_on_http1_when_only_one_side_speaks_h2() {
    let up = upstream("u", Behaviour::Echo).await;
    let cert = self_signed();

    // The client offers only http/1.1 to a listener that speaks both.
    let p = TestProxy::start(&config(&up, &tls_listener(&cert, ""), "")).await;
    let tls = tls_connect(&cert, p.addr, &[b"http/1.1"]).await;
    assert_eq!(alpn(&tls), Some(&b"http/1.1"[..]));
    let echoed = get_over(tls, Version::HTTP_11).await;
    assert_eq!(echoed.headers["x-forwarded-proto"], "https");

    // An http1-only listener picks http/1.1 from a client that offers both.
    let p = TestProxy::start(&config(
        &up,
        &tls_listener(&cert, "    protocols: [http1]"),
        "",
    ))
    .await;
    let tls = tls_connect(&cert, p.addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn(&tls), Some(&b"http/1.1"[..]));
    let echoed = get_over(tls, Version::HTTP_11).await;
    assert_eq!(echoed.path, "/tls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_silent_after_the_handshake_is_cut_off() {
    use tokio::io::AsyncReadExt;
    let up = Upstream::builder().name("u").start().await;
    let cert = self_signed();
    for (offer, label) in [
        (&[&b"h2"[..]][..], "h2"),
        (&[&b"http/1.1"[..]][..], "http/1.1"),
        (&[][..], "no ALPN"),
    ] {
        let listener = tls_listener(&cert, "    header_read_timeout: 300ms");
        let p = TestProxy::start(&config(&up, &listener, "")).await;
        let mut tls = tls_connect(&cert, p.addr, offer).await;
        let started = tokio::time::Instant::now();
        let mut buf = [0u8; 256];
        // Whatever the server sends (an HTTP/2 preface, say), the
        // connection must end on its own well before the deadline.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(3), async {
            while let Ok(1..) = tls.read(&mut buf).await {}
        })
        .await;
        assert!(closed.is_ok(), "{label}: the silent connection stayed open");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(250),
            "{label}: closed too early"
        );
    }
}

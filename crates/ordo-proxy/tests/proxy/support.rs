//! Starting a proxy from a YAML string, on port 0, with its config in a
//! file of its own so reloads work as in production.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ordo_config::ConfigErrors;
use ordo_config::proxy::ProxyConfig;
use ordo_proxy::{Proxy, ProxyOptions};

pub use ordo_test_support::client::{
    TestClient, get, http1_client, http2_client, raw_exchange, send, try_get, try_send,
};
pub use ordo_test_support::upstream::{Behaviour, Upstream};

/// A proxy under test.
pub struct TestProxy {
    pub proxy: Arc<Proxy>,
    /// The first listener's address (the admin's, when there is none).
    pub addr: SocketAddr,
    pub file: PathBuf,
}

/// A fresh folder for a test's files.
pub fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ordo-proxy-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl TestProxy {
    /// Writes `yaml` to a file, loads it and starts the proxy.
    pub async fn start(yaml: &str) -> TestProxy {
        Self::try_start(yaml)
            .await
            .unwrap_or_else(|e| panic!("proxy did not start:\n{e}"))
    }

    pub async fn try_start(yaml: &str) -> Result<TestProxy, ConfigErrors> {
        let file = temp_dir().join("proxy.yaml");
        std::fs::write(&file, yaml).expect("write config");
        let doc = ordo_config::load::<ProxyConfig>(&file)?;
        let first = doc.config.listeners.first().map(|l| l.name.clone());
        let proxy = Proxy::start(
            doc,
            ProxyOptions {
                config_path: Some(file.clone()),
                ..Default::default()
            },
        )
        .await?;
        // Without HTTP listeners (TCP proxies only), the admin address.
        let addr = match first {
            Some(name) => proxy
                .listener_addr(&name)
                .await
                .expect("first listener bound"),
            None => proxy.admin_addr().await.expect("an admin listener"),
        };
        Ok(TestProxy { proxy, addr, file })
    }

    /// `http://<first listener><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Rewrites the config file and reloads it.
    pub async fn reload(&self, yaml: &str) -> Result<(), ConfigErrors> {
        std::fs::write(&self.file, yaml).expect("write config");
        self.proxy.reload_from_file().await
    }

    /// The admin endpoint's base URL.
    pub async fn admin_url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.proxy.admin_addr().await.expect("admin configured")
        )
    }
}

/// Starts an upstream named `name` that behaves as `behaviour`.
pub async fn upstream(name: &str, behaviour: Behaviour) -> Upstream {
    Upstream::builder()
        .name(name)
        .behaviour(behaviour)
        .start()
        .await
}

/// An address nothing listens on (bound, then let go).
pub async fn dead_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr")
}

/// Like [`simple`], for one endpoint given by its address.
pub fn one_endpoint(addr: SocketAddr, policy: &str, extra: &str) -> String {
    format!(
        "listeners:
  - name: edge
    address: 127.0.0.1:0
    routes:
      - name: all
        cluster: c
        policy: {policy}
clusters:
  - name: c
    endpoints: [ {{ address: {addr} }} ]
{extra}
"
    )
}

/// Starts `n` upstreams named `name0..`.
pub async fn upstreams(name: &str, n: usize) -> Vec<Upstream> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(Upstream::builder().name(format!("{name}{i}")).start().await);
    }
    v
}

/// YAML lines `- address: <addr>` for a cluster's endpoints.
pub fn endpoints(ups: &[&Upstream]) -> String {
    ups.iter()
        .map(|u| format!("\n      - address: {}", u.addr()))
        .collect()
}

/// A listener with its own settings (YAML at the listener's indentation)
/// in front of `up`.
pub fn with_listener(up: &Upstream, settings: &str) -> String {
    format!(
        "listeners:
  - name: edge
    address: 127.0.0.1:0
{settings}
    routes:
      - name: all
        cluster: c
clusters:
  - name: c
    endpoints: [ {{ address: {} }} ]
",
        up.addr()
    )
}

/// A config with one listener `edge` on port 0, one route `all` to
/// cluster `c`, the route's `policy` and the cluster's `extra` settings
/// (YAML at the cluster's indentation).
pub fn simple(ups: &[&Upstream], policy: &str, extra: &str) -> String {
    format!(
        "admin: {{ address: 127.0.0.1:0 }}
listeners:
  - name: edge
    address: 127.0.0.1:0
    routes:
      - name: all
        cluster: c
        policy: {policy}
clusters:
  - name: c
    endpoints:{eps}
{extra}
",
        eps = endpoints(ups),
    )
}

/// Reads a raw HTTP/1 response's head (status line and headers) from
/// `tcp`, for at most `within`.
pub async fn read_head(tcp: &mut tokio::net::TcpStream, within: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Polls `f` until it is true or `within` passes.
pub async fn eventually(within: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `x-ordo-reason` header, or "".
pub fn reason(h: &http::HeaderMap) -> &str {
    h.get("x-ordo-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The `x-upstream` header, or "".
pub fn upstream_of(h: &http::HeaderMap) -> String {
    h.get("x-upstream")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Sends `method path` with a JSON body (if any) to the proxy's admin API:
/// the status, and the answer as JSON (`Null` when it is not JSON).
pub async fn admin_json(
    p: &TestProxy,
    method: http::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (http::StatusCode, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(p.admin_url(path).await)
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .expect("a valid request");
    let answer = tokio::time::timeout(Duration::from_secs(10), send(&http1_client(), req))
        .await
        .unwrap_or_else(|_| panic!("admin {path}: no answer"));
    let (status, _, body) = answer;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// Asserts that at least `ms` milliseconds passed since `t` (a fault or a
/// timeout that must hold something back for that long).
#[track_caller]
pub fn held_at_least(t: tokio::time::Instant, ms: u64) {
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(ms),
        "over after {took:?}, before {ms} ms"
    );
}

/// Creates a TCP proxy to `upstream`; its listen address.
pub async fn tcp_proxy(p: &TestProxy, name: &str, upstream: SocketAddr) -> SocketAddr {
    let (s, v) = admin_json(
        p,
        http::Method::POST,
        "/proxies",
        Some(serde_json::json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()})),
    )
    .await;
    assert_eq!(s, http::StatusCode::CREATED, "{v}");
    v["listen"].as_str().unwrap().parse().unwrap()
}

/// The value of the first sample of `name` whose labels include every
/// `labels` pair.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (set, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let all = labels
            .iter()
            .all(|(k, v)| set.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        all.then(|| value.split_whitespace().next()?.parse().ok())?
    })
}

/// The proxy's `/metrics` text.
pub async fn metrics(p: &TestProxy) -> String {
    let (s, _, body) = crate::deadline::within(
        "GET /metrics",
        get(&http1_client(), &p.admin_url("/metrics").await),
    )
    .await;
    assert_eq!(s, 200);
    String::from_utf8(body.to_vec()).expect("metrics are UTF-8")
}

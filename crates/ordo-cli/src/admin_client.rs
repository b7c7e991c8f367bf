//! A small client for proxies' admin APIs: one JSON request, with a
//! deadline, and errors a person can act on.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An admin API client.
#[derive(Debug, Clone)]
pub(crate) struct AdminClient {
    http: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// An answer: its status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The API's error message (`{"error": ..., "problems": [...]}`), or the
    /// body as text.
    pub(crate) fn error_text(&self) -> String {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) else {
            return String::from_utf8_lossy(&self.body).trim().to_owned();
        };
        let mut out = v["error"].as_str().unwrap_or("error").to_owned();
        if let Some(problems) = v["problems"].as_array() {
            for p in problems {
                let field = p["field"].as_str().unwrap_or("");
                let message = p["message"].as_str().unwrap_or("");
                if field.is_empty() {
                    out.push_str(&format!("\n  {message}"));
                } else {
                    out.push_str(&format!("\n  {field}: {message}"));
                }
            }
        }
        out
    }
}

impl AdminClient {
    /// A client whose every request ends within `timeout`.
    pub(crate) fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        AdminClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `method` `path` on the admin API at `admin` (`host:port`, or a URL).
    pub(crate) async fn call(
        &self,
        admin: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, String> {
        let base = admin.trim_end_matches('/');
        let url = if base.starts_with("http://") {
            format!("{base}{path}")
        } else if base.starts_with("https://") {
            return Err(format!(
                "{admin}: the admin API speaks plain HTTP; use host:port"
            ));
        } else {
            format!("http://{base}{path}")
        };
        let mut req = Request::builder().method(method).uri(&url);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("{admin}: {e}"))?;
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| format!("{admin}: cannot reach the admin API: {}", cause(&e)))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{admin}: reading the answer: {e}"))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{admin}: no answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}

/// The innermost cause of an error, which says what went wrong
/// ("Connection refused") where the outer ones only say where.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

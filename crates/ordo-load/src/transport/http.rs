//! [`HttpTransport`]: requests over hyper-util's pooled HTTP/1.1 client with
//! keep-alive.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Transport;
use crate::error::ErrorKind;
use crate::spec::Target;

/// Sends the target's request on pooled keep-alive connections and reads
/// each response body to its end, so the connection can be reused.
#[derive(Debug)]
pub(crate) struct HttpTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    target: Target,
}

impl HttpTransport {
    /// A client for `target`. Needs a Tokio runtime when it sends.
    pub(crate) fn new(target: Target) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(target.connections)
            .build(connector);
        Self { client, target }
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let t = &self.target;
        let mut request = Request::new(Full::new(t.body.clone()));
        *request.method_mut() = t.method.clone();
        *request.uri_mut() = t.uri.clone();
        if !t.headers.is_empty() {
            *request.headers_mut() = t.headers.clone();
        }
        request
    }
}

impl Transport for HttpTransport {
    async fn send(&self) -> Result<u16, ErrorKind> {
        let response = self.client.request(self.request()).await.map_err(|e| {
            if e.is_connect() {
                ErrorKind::Connect
            } else {
                ErrorKind::Io
            }
        })?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| ErrorKind::Io)?;
        }
        Ok(status)
    }
}

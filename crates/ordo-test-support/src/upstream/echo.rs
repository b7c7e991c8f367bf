//! [`Echoed`]: the JSON body [`Behaviour::Echo`](super::Behaviour::Echo)
//! answers with, so a test can see what a proxy forwarded from the client side.

use std::collections::BTreeMap;

use http::request::Parts;
use serde::{Deserialize, Serialize};

/// The request as an echoing upstream saw it; parse the response body with
/// `serde_json::from_slice::<Echoed>(&body)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echoed {
    /// Name of the upstream that answered.
    pub upstream: String,
    /// Request method, e.g. `"GET"`.
    pub method: String,
    /// Request path, without the query.
    pub path: String,
    /// Query string, without the `?`.
    pub query: Option<String>,
    /// Protocol version, e.g. `"HTTP/1.1"` or `"HTTP/2.0"`.
    pub version: String,
    /// Request headers by lowercase name; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// Length of the request body in bytes.
    pub body_len: usize,
}

impl Echoed {
    /// Describes a request whose body was `body_len` bytes long.
    pub(crate) fn new(upstream: &str, parts: &Parts, body_len: usize) -> Self {
        let mut headers = BTreeMap::<String, String>::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        Self {
            upstream: upstream.to_owned(),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            version: format!("{:?}", parts.version),
            headers,
            body_len,
        }
    }
}

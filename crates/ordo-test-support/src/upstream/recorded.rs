//! [`Recorded`]: what the upstream saw of a request, for assertions on what a
//! proxy forwarded.

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

/// A request as the upstream received it.
///
/// The `uri` is what arrived on the wire: origin-form (`/path?q`) for
/// HTTP/1.1, with scheme and authority for HTTP/2.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Request method.
    pub method: Method,
    /// Request target.
    pub uri: Uri,
    /// Protocol version the request arrived with.
    pub version: Version,
    /// Request headers, as received.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
}

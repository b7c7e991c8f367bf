//! HTTP hygiene: hop-by-hop headers never cross the proxy, the client's
//! address and scheme are passed on, every request carries an id.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ordo_resilience::Rng;

/// The request id header, generated when absent and returned to the
/// client.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static REQUEST_ID_NAME: HeaderName = REQUEST_ID;
static X_FORWARDED_FOR_NAME: HeaderName = X_FORWARDED_FOR;
static X_FORWARDED_PROTO_NAME: HeaderName = X_FORWARDED_PROTO;
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that describe one connection, not the message (RFC 9110
/// §7.6.1), removed in both directions. (`Trailer` is not one of them: it
/// names the message's trailer fields, and the client side needs it to
/// pass trailers on.)
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// Which of the headers the proxy looks at a request carries, found in one
/// pass over its names (a few comparisons each) instead of a hash lookup
/// per header.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scan {
    /// A hop-by-hop header, or `Upgrade`: [`strip_hop_by_hop`] has work.
    pub(crate) connection_level: bool,
    /// `Upgrade`.
    pub(crate) upgrade: bool,
    /// `Host`.
    pub(crate) host: bool,
    /// `x-request-id`.
    pub(crate) request_id: bool,
    /// `X-Forwarded-For`.
    pub(crate) forwarded_for: bool,
    /// `X-Forwarded-Proto`.
    pub(crate) forwarded_proto: bool,
}

impl Scan {
    /// Looks at every name of `headers` once.
    pub(crate) fn of(headers: &HeaderMap) -> Scan {
        let mut scan = Scan::default();
        for name in headers.keys() {
            if *name == header::HOST {
                scan.host = true;
            } else if *name == header::UPGRADE {
                scan.upgrade = true;
                scan.connection_level = true;
            } else if HOP_BY_HOP.contains(name) {
                scan.connection_level = true;
            } else if *name == REQUEST_ID {
                scan.request_id = true;
            } else if *name == X_FORWARDED_FOR {
                scan.forwarded_for = true;
            } else if *name == X_FORWARDED_PROTO {
                scan.forwarded_proto = true;
            }
        }
        scan
    }
}

/// Removes hop-by-hop headers and those the `Connection` header names.
/// `Upgrade` (and `Connection: upgrade`) stay when `keep_upgrade`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of them: one pass over the names (cheap
    // comparisons) instead of a hash lookup for each of nine names.
    if !Scan::of(headers).connection_level {
        if keep_upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    if let Some(conn) = headers.get(header::CONNECTION) {
        // Rare: only allocate when the Connection header lists more than
        // the usual keep-alive / close / upgrade.
        let named: Vec<HeaderName> = conn
            .to_str()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| {
                !t.eq_ignore_ascii_case("keep-alive")
                    && !t.eq_ignore_ascii_case("close")
                    && !t.eq_ignore_ascii_case("upgrade")
                    && !t.is_empty()
            })
            .filter_map(|t| HeaderName::try_from(t).ok())
            .collect();
        for n in named {
            headers.remove(n);
        }
    }
    for h in &HOP_BY_HOP {
        if headers.contains_key(h) {
            headers.remove(h);
        }
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if headers.contains_key(header::UPGRADE) {
        headers.remove(header::UPGRADE);
    }
}

/// The client's address as a header value, made once per connection.
pub(crate) fn client_value(client: IpAddr) -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(client.to_string()))
        .expect("an IP address is a valid header value")
}

/// The headers this hop adds to a request when the client's map lacks
/// them: the request id, `X-Forwarded-For` and `X-Forwarded-Proto`. They
/// are kept beside the client's map instead of inserted into it, and the
/// HTTP/1 client writes them after the client's own: an insert that makes
/// a header map grow rehashes it, and the three inserts were about a
/// tenth of the proxy's user-space work per request (BENCHMARKS.md,
/// "Where ordo's time goes"). HTTP/2 requests, which need a map of their
/// own anyway, get them inserted ([`Added::insert_into`]).
/// The values are borrowed (from the request's id and the connection), so
/// nothing is cloned per request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Added<'a> {
    request_id: Option<&'a HeaderValue>,
    forwarded_for: Option<&'a HeaderValue>,
    forwarded_proto: Option<&'static HeaderValue>,
    /// The request's own headers carry `Host` (else the HTTP/1 client
    /// names the endpoint), as found by the [`Scan`].
    host_in_headers: bool,
}

static PROTO_HTTP: HeaderValue = HeaderValue::from_static("http");
static PROTO_HTTPS: HeaderValue = HeaderValue::from_static("https");

impl<'a> Added<'a> {
    /// The added headers, in the order they go on the wire.
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'static HeaderName, &'a HeaderValue)> {
        [
            (&REQUEST_ID_NAME, self.request_id),
            (&X_FORWARDED_FOR_NAME, self.forwarded_for),
            (&X_FORWARDED_PROTO_NAME, self.forwarded_proto),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
    }

    /// The value of the header named `name` (in any case) among the added
    /// ones.
    pub(crate) fn get(self, name: &str) -> Option<&'a HeaderValue> {
        self.iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether the request's headers carry `Host`.
    pub(crate) fn host_in_headers(self) -> bool {
        self.host_in_headers
    }

    /// Says that the request's headers carry `Host` (set after the scan).
    pub(crate) fn with_host(self, host_in_headers: bool) -> Self {
        Added {
            host_in_headers,
            ..self
        }
    }

    /// Inserts the added headers into `headers`.
    pub(crate) fn insert_into(self, headers: &mut HeaderMap) {
        for (name, value) in self.iter() {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// What this hop adds to a request: `request_id` (from [`request_id`])
/// when it was made here, and unless `client` is `None`, `X-Forwarded-For`
/// with the client's address (`client`, from [`client_value`]) appended
/// and `X-Forwarded-Proto` with the scheme. A header the client sent
/// itself is changed in `headers` (rare); one it lacks goes in the returned
/// [`Added`].
pub(crate) fn forwarding<'a>(
    headers: &mut HeaderMap,
    scan: Scan,
    request_id: Option<&'a RequestId>,
    client: Option<&'a HeaderValue>,
    tls: bool,
) -> Added<'a> {
    let mut added = Added {
        request_id: match request_id {
            Some(RequestId::Made(id)) => Some(id),
            Some(RequestId::Sent(_)) | None => None,
        },
        ..Added::default()
    };
    let Some(client) = client else {
        return added;
    };
    match scan
        .forwarded_for
        .then(|| headers.get(&X_FORWARDED_FOR))
        .flatten()
    {
        Some(prev) => {
            let mut s = Vec::with_capacity(prev.len() + 2 + client.len());
            s.extend_from_slice(prev.as_bytes());
            if !s.is_empty() {
                s.extend_from_slice(b", ");
            }
            s.extend_from_slice(client.as_bytes());
            if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(s)) {
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
        None => added.forwarded_for = Some(client),
    }
    let proto = if tls { &PROTO_HTTPS } else { &PROTO_HTTP };
    if scan.forwarded_proto {
        headers.insert(X_FORWARDED_PROTO, proto.clone());
    } else {
        added.forwarded_proto = Some(proto);
    }
    added
}

/// A request's id, and where it came from.
#[derive(Debug, Clone)]
pub(crate) enum RequestId {
    /// The client's own, in its headers.
    Sent(HeaderValue),
    /// Made here: the client sent none, or none that is sensible.
    Made(HeaderValue),
}

impl RequestId {
    /// The id's value.
    pub(crate) fn value(&self) -> &HeaderValue {
        match self {
            RequestId::Sent(v) | RequestId::Made(v) => v,
        }
    }

    /// The id's value, owned.
    pub(crate) fn into_value(self) -> HeaderValue {
        match self {
            RequestId::Sent(v) | RequestId::Made(v) => v,
        }
    }
}

/// The request's id: the client's `x-request-id` if it is sensible
/// (visible ASCII, at most 128 bytes), else a new random one. A client's
/// id that is not sensible is removed from `headers` (the new one replaces
/// it on the way out).
pub(crate) fn request_id(headers: &mut HeaderMap, scan: Scan, rng: &Rng) -> RequestId {
    if let Some(v) = scan.request_id.then(|| headers.get(&REQUEST_ID)).flatten() {
        if !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic()) {
            return RequestId::Sent(v.clone());
        }
        headers.remove(&REQUEST_ID);
    }
    RequestId::Made(new_id(rng))
}

fn new_id(rng: &Rng) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    let bytes = [rng.next_u64().to_be_bytes(), rng.next_u64().to_be_bytes()];
    for (pair, b) in buf.chunks_exact_mut(2).zip(bytes.iter().flatten()) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    HeaderValue::from_bytes(&buf).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(KEEP_ALIVE, HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn one_pass_finds_what_the_proxy_looks_at() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        h.insert(header::HOST, HeaderValue::from_static("a"));
        let scan = Scan::of(&h);
        assert!(scan.host && !scan.connection_level && !scan.upgrade && !scan.request_id);
        h.insert(REQUEST_ID, HeaderValue::from_static("id"));
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        let scan = Scan::of(&h);
        assert!(scan.request_id && scan.forwarded_for && scan.forwarded_proto);
        assert!(scan.connection_level && !scan.upgrade);
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let scan = Scan::of(&h);
        assert!(scan.upgrade && scan.connection_level);
        let mut h = HeaderMap::new();
        h.insert(KEEP_ALIVE, HeaderValue::from_static("timeout=5"));
        assert!(Scan::of(&h).connection_level);
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        let id = RequestId::Made(HeaderValue::from_static("id-1"));
        let client = client_value("127.0.0.1".parse().unwrap());
        let scan = Scan::of(&h);
        let added = forwarding(&mut h, scan, Some(&id), Some(&client), true);
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.1, 127.0.0.1");
        let listed: Vec<_> = added.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        assert_eq!(
            listed,
            [
                ("x-request-id", "id-1".parse().unwrap()),
                ("x-forwarded-proto", "https".parse().unwrap())
            ]
        );
    }

    #[test]
    fn forwarding_headers_the_client_lacks_are_added_beside_its_map() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("a"));
        let client = client_value("::1".parse().unwrap());
        let sent = RequestId::Sent(HeaderValue::from_static("abc"));
        let scan = Scan::of(&h);
        let added = forwarding(&mut h, scan, Some(&sent), Some(&client), false);
        assert_eq!(h.len(), 1, "the client's map is left as it was");
        assert_eq!(added.get("x-forwarded-for").unwrap(), "::1");
        assert_eq!(added.get("X-Forwarded-Proto").unwrap(), "http");
        assert!(
            added.get("x-request-id").is_none(),
            "the client's id is in its map"
        );
        added.insert_into(&mut h);
        assert_eq!(h.len(), 3);
        assert_eq!(h[&X_FORWARDED_FOR], "::1");
    }

    #[test]
    fn a_clients_forwarded_proto_is_replaced_in_place() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("gopher"));
        let client = client_value("127.0.0.1".parse().unwrap());
        let id = RequestId::Made(new_id(&Rng::seeded(1)));
        let scan = Scan::of(&h);
        let added = forwarding(&mut h, scan, Some(&id), Some(&client), true);
        assert_eq!(h[&X_FORWARDED_PROTO], "https");
        assert!(added.get("X-Forwarded-Proto").is_none());
    }

    #[test]
    fn request_id_kept_or_made() {
        let rng = Rng::seeded(1);
        let mut h = HeaderMap::new();
        let scan = Scan::of(&h);
        let RequestId::Made(id) = request_id(&mut h, scan, &rng) else {
            panic!("no id was sent");
        };
        assert_eq!(id.len(), 32);
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        let scan = Scan::of(&h);
        assert!(matches!(request_id(&mut h, scan, &rng), RequestId::Sent(v) if v == "abc-123"));
        // Not sensible: replaced, and the client's is gone from the map.
        h.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        let scan = Scan::of(&h);
        assert!(matches!(request_id(&mut h, scan, &rng), RequestId::Made(_)));
        assert!(!h.contains_key(&REQUEST_ID));
    }
}

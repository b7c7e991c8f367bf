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

/// Removes hop-by-hop headers and those the `Connection` header names.
/// `Upgrade` (and `Connection: upgrade`) stay when `keep_upgrade`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of them: one pass over the names (cheap
    // comparisons) instead of a hash lookup for each of nine names.
    let any = headers
        .keys()
        .any(|k| *k == header::UPGRADE || HOP_BY_HOP.iter().any(|h| h == k));
    if !any {
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

/// Whether an HTTP/1 request asks to switch protocols.
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The client's address as a header value, made once per connection.
pub(crate) fn client_value(client: IpAddr) -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(client.to_string()))
        .expect("an IP address is a valid header value")
}

/// Appends the client's address (`client`, from [`client_value`]) to
/// `X-Forwarded-For` and sets `X-Forwarded-Proto`.
pub(crate) fn set_forwarded(headers: &mut HeaderMap, client: &HeaderValue, tls: bool) {
    match headers.get(&X_FORWARDED_FOR) {
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
        None => {
            headers.insert(X_FORWARDED_FOR, client.clone());
        }
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
}

/// The request's id: the client's `x-request-id` if it is sensible
/// (visible ASCII, at most 128 bytes), else a new random one, set on the
/// request.
pub(crate) fn request_id(headers: &mut HeaderMap, rng: &Rng) -> HeaderValue {
    if let Some(v) = headers.get(&REQUEST_ID)
        && !v.is_empty()
        && v.len() <= 128
        && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    {
        return v.clone();
    }
    let id = new_id(rng);
    headers.insert(REQUEST_ID, id.clone());
    id
}

fn new_id(rng: &Rng) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    for (half, word) in [rng.next_u64(), rng.next_u64()].into_iter().enumerate() {
        for i in 0..16 {
            buf[half * 16 + i] = HEX[((word >> (60 - 4 * i)) & 0xf) as usize];
        }
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
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        set_forwarded(&mut h, &client_value("127.0.0.1".parse().unwrap()), true);
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.1, 127.0.0.1");
        assert_eq!(h[&X_FORWARDED_PROTO], "https");
    }

    #[test]
    fn request_id_kept_or_made() {
        let rng = Rng::seeded(1);
        let mut h = HeaderMap::new();
        let id = request_id(&mut h, &rng);
        assert_eq!(id.len(), 32);
        assert_eq!(h[&REQUEST_ID], id);
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&mut h, &rng), "abc-123");
    }
}

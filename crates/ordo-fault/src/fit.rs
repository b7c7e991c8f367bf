//! The FIT request context: `x-ordo-fit: <scenario>[, <scenario> ...]`.
//!
//! A request carrying the header is in scope of the named scenarios'
//! faults, on every hop of its call chain: each proxy passes the header on
//! to the upstream, and each service copies it from the request it is
//! handling onto the requests it makes while handling it (as it does with
//! a tracing header; ordo-resilience's `fit` module does this for Rust
//! services). A fault scoped to a scenario can so break a dependency two
//! hops down for one test user's requests and for nobody else.
//!
//! Scenario names are 1 to 64 letters, digits, `.`, `_` or `-`; a header
//! holds at most [`MAX_TAGS`] of them. A malformed tag is ignored (and puts
//! its request in no scenario's scope), never an error for the request.

use http::HeaderMap;
use http::header::HeaderName;

/// The FIT context header.
pub const HEADER: HeaderName = HeaderName::from_static("x-ordo-fit");
/// Most scenario tags read from one request.
pub const MAX_TAGS: usize = 16;
/// Longest scenario tag.
pub const MAX_TAG: usize = 64;

/// Whether `tag` is a well-formed scenario name.
pub fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The well-formed scenario tags of a header value, in order, at most
/// [`MAX_TAGS`].
pub fn tags(value: &[u8]) -> impl Iterator<Item = &str> {
    value
        .split(|b| *b == b',')
        .filter_map(|t| std::str::from_utf8(t).ok())
        .map(str::trim)
        .filter(|t| is_tag(t))
        .take(MAX_TAGS)
}

/// Whether the request's headers put it in `scenario`'s scope.
pub fn in_scenario(headers: &HeaderMap, scenario: &str) -> bool {
    headers
        .get_all(HEADER)
        .iter()
        .any(|v| tags(v.as_bytes()).any(|t| t == scenario))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn tags_are_read_from_a_list_and_bad_ones_skipped() {
        let t: Vec<_> = tags(b" checkout , bad tag,ok-2,,x.y_z").collect();
        assert_eq!(t, ["checkout", "ok-2", "x.y_z"]);
        let long = "a".repeat(65);
        assert_eq!(tags(long.as_bytes()).count(), 0);
        let many = vec!["t"; 40].join(",");
        assert_eq!(tags(many.as_bytes()).count(), MAX_TAGS);
    }

    #[test]
    fn a_request_is_in_scope_of_its_tags_only() {
        let mut h = HeaderMap::new();
        assert!(!in_scenario(&h, "checkout"));
        h.append(HEADER, HeaderValue::from_static("search"));
        h.append(HEADER, HeaderValue::from_static("checkout, login"));
        assert!(in_scenario(&h, "checkout"));
        assert!(in_scenario(&h, "search"));
        assert!(!in_scenario(&h, "check"));
    }
}

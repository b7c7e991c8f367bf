//! Envoy's header-controlled faults, read from a request so tooling written
//! for Envoy's fault filter works against ordo unchanged.
//!
//! | header | meaning |
//! |---|---|
//! | `x-envoy-fault-delay-request` | delay the request this many milliseconds |
//! | `x-envoy-fault-delay-request-percentage` | ... for this share of such requests (of 100) |
//! | `x-envoy-fault-abort-request` | answer with this HTTP status (200 to 599) |
//! | `x-envoy-fault-abort-grpc-request` | answer with this gRPC status (trailers-only) |
//! | `x-envoy-fault-abort-request-percentage` | ... for this share (of 100) |
//! | `x-envoy-fault-throughput-response` | send the response body at this many KiB/s |
//! | `x-envoy-fault-throughput-response-percentage` | ... for this share (of 100) |
//!
//! As in Envoy, a share header is a numerator over 100 (absent: every
//! request), and a header whose value is not a valid number is ignored.

use std::time::Duration;

use http::HeaderMap;
use http::header::HeaderName;

use crate::Percent;

/// `x-envoy-fault-delay-request`.
pub const DELAY: HeaderName = HeaderName::from_static("x-envoy-fault-delay-request");
/// `x-envoy-fault-delay-request-percentage`.
pub const DELAY_PERCENT: HeaderName =
    HeaderName::from_static("x-envoy-fault-delay-request-percentage");
/// `x-envoy-fault-abort-request`.
pub const ABORT: HeaderName = HeaderName::from_static("x-envoy-fault-abort-request");
/// `x-envoy-fault-abort-grpc-request`.
pub const ABORT_GRPC: HeaderName = HeaderName::from_static("x-envoy-fault-abort-grpc-request");
/// `x-envoy-fault-abort-request-percentage`.
pub const ABORT_PERCENT: HeaderName =
    HeaderName::from_static("x-envoy-fault-abort-request-percentage");
/// `x-envoy-fault-throughput-response`.
pub const THROUGHPUT: HeaderName = HeaderName::from_static("x-envoy-fault-throughput-response");
/// `x-envoy-fault-throughput-response-percentage`.
pub const THROUGHPUT_PERCENT: HeaderName =
    HeaderName::from_static("x-envoy-fault-throughput-response-percentage");

/// Every header this module reads (to strip them before the upstream).
pub const ALL: [HeaderName; 7] = [
    DELAY,
    DELAY_PERCENT,
    ABORT,
    ABORT_GRPC,
    ABORT_PERCENT,
    THROUGHPUT,
    THROUGHPUT_PERCENT,
];

/// How an Envoy header abort answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// An HTTP status.
    Http(u16),
    /// A gRPC status, trailers-only.
    Grpc(u16),
}

/// The faults a request asked for in Envoy's headers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HeaderFaults {
    /// A delay, and the share of requests it applies to.
    pub delay: Option<(Duration, Percent)>,
    /// An abort, and its share.
    pub abort: Option<(Abort, Percent)>,
    /// A response rate in bytes per second, and its share.
    pub throughput: Option<(u64, Percent)>,
}

impl HeaderFaults {
    /// Whether the request asked for nothing.
    pub fn is_empty(&self) -> bool {
        self.delay.is_none() && self.abort.is_none() && self.throughput.is_none()
    }
}

/// The faults `headers` ask for. Cheap when there are none: one lookup per
/// header name.
pub fn read(headers: &HeaderMap) -> HeaderFaults {
    let number = |name: &HeaderName| -> Option<u64> {
        let v = headers.get(name)?.to_str().ok()?.trim();
        (!v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse().ok())
            .flatten()
    };
    let share = |name: &HeaderName| match number(name) {
        Some(n) => Percent::new(n as f64),
        None => Percent::ALL,
    };
    let delay = number(&DELAY).map(|ms| {
        (
            Duration::from_millis(ms).min(crate::delay::MAX),
            share(&DELAY_PERCENT),
        )
    });
    let abort = match (number(&ABORT), number(&ABORT_GRPC)) {
        (Some(s), _) if (200..600).contains(&s) => Some(Abort::Http(s as u16)),
        (_, Some(g)) if g <= 16 => Some(Abort::Grpc(g as u16)),
        _ => None,
    }
    .map(|a| (a, share(&ABORT_PERCENT)));
    let throughput = number(&THROUGHPUT)
        .filter(|k| *k > 0)
        .map(|kib| (kib.saturating_mul(1024), share(&THROUGHPUT_PERCENT)));
    HeaderFaults {
        delay,
        abort,
        throughput,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert((*n).clone(), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn nothing_asked_is_nothing() {
        assert!(read(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn each_header_is_read_with_its_share() {
        let f = read(&headers(&[
            (&DELAY, "250"),
            (&DELAY_PERCENT, "40"),
            (&ABORT, "503"),
            (&THROUGHPUT, "8"),
            (&THROUGHPUT_PERCENT, "500"),
        ]));
        assert_eq!(
            f.delay,
            Some((Duration::from_millis(250), Percent::new(40.0)))
        );
        assert_eq!(f.abort, Some((Abort::Http(503), Percent::ALL)));
        assert_eq!(f.throughput, Some((8192, Percent::ALL)));
    }

    #[test]
    fn grpc_aborts_and_bad_values_are_ignored() {
        let f = read(&headers(&[(&ABORT_GRPC, "14"), (&ABORT_PERCENT, "25")]));
        assert_eq!(f.abort, Some((Abort::Grpc(14), Percent::new(25.0))));
        let f = read(&headers(&[
            (&ABORT, "99"),
            (&DELAY, "-5"),
            (&THROUGHPUT, "0"),
        ]));
        assert!(f.is_empty(), "{f:?}");
        let f = read(&headers(&[(&DELAY, "12abc")]));
        assert!(f.is_empty());
    }
}

//! [`LoadSpec`]: what to send, how fast and for how long, and its validation.
//!
//! The spec is plain data, filled in by a CLI or a manifest. Fields a user
//! types (URL, method, headers) stay strings here so that
//! [`LoadSpec::validate`] can report every problem at once, each with the
//! field it belongs to, instead of failing on the first.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

use crate::schedule::Schedule;

/// The highest rate a spec may ask for, in requests per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// The lowest rate a spec may ask for: one request every 1,000 seconds.
pub const MIN_RATE: f64 = 0.001;
/// The highest [`LoadSpec::max_in_flight`] a spec may ask for.
pub const MAX_IN_FLIGHT: usize = 1_000_000;

/// A load to generate: requests to one URL at a constant arrival rate.
///
/// Start from [`LoadSpec::new`] and set the fields that differ from the
/// defaults:
///
/// ```
/// use std::time::Duration;
/// use ordo_load::LoadSpec;
///
/// let spec = LoadSpec {
///     duration: Some(Duration::from_secs(30)),
///     headers: vec![("accept".into(), "application/json".into())],
///     ..LoadSpec::new("http://127.0.0.1:8080/books", 200.0)
/// };
/// assert!(spec.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    /// The URL every request goes to. Only `http://` for now.
    pub url: String,
    /// The request method (default `GET`).
    pub method: String,
    /// Extra request headers, sent on every request in this order. `host`
    /// is set from the URL unless given here.
    pub headers: Vec<(String, String)>,
    /// The request body, sent on every request (default empty).
    pub body: Bytes,
    /// Requests per second, from [`MIN_RATE`] to [`MAX_RATE`]. Request `i` is
    /// due at `start + i / rate`, whatever happened to earlier requests.
    pub rate: f64,
    /// How long to schedule requests for; `None` runs until
    /// [`LoadRun::stop`](crate::LoadRun::stop). Requests due before the end
    /// are all sent, even when some wait for a slot past it.
    pub duration: Option<Duration>,
    /// The most requests to schedule; `None` for no limit. With a
    /// `duration` too, the run ends at whichever comes first.
    pub max_requests: Option<u64>,
    /// How long one request may take, from its actual send to the end of its
    /// response body, before it counts as a timeout (default 5 s).
    pub timeout: Duration,
    /// The most requests in flight at once (default 1024). When all are in
    /// flight, due requests wait for a slot; their latency still counts from
    /// their intended send time, so the wait shows in the percentiles
    /// instead of vanishing (coordinated omission).
    pub max_in_flight: usize,
    /// The most idle keep-alive connections kept open for reuse (default
    /// 1024). The client opens more while more requests are in flight, and
    /// closes those beyond this number when they fall idle.
    pub connections: usize,
}

impl LoadSpec {
    /// Default [`LoadSpec::timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default [`LoadSpec::max_in_flight`].
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
    /// Default [`LoadSpec::connections`].
    pub const DEFAULT_CONNECTIONS: usize = 1024;

    /// `GET url` at `rate` requests per second until stopped, with the
    /// default timeout, in-flight limit and connections.
    pub fn new(url: impl Into<String>, rate: f64) -> Self {
        Self {
            url: url.into(),
            method: "GET".into(),
            headers: Vec::new(),
            body: Bytes::new(),
            rate,
            duration: None,
            max_requests: None,
            timeout: Self::DEFAULT_TIMEOUT,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            connections: Self::DEFAULT_CONNECTIONS,
        }
    }

    /// Checks every field and returns all problems found, each naming its
    /// field (`rate`, `url`, `headers[1]`, ...).
    pub fn validate(&self) -> Result<(), SpecError> {
        self.compile().map(|_| ())
    }

    /// Validates and converts the spec into what a run needs.
    pub(crate) fn compile(&self) -> Result<(Target, Plan), SpecError> {
        let mut problems = Vec::new();
        let mut problem =
            |field: String, message: String| problems.push(Problem { field, message });

        let uri = match parse_url(&self.url) {
            Ok(uri) => Some(uri),
            Err(message) => {
                problem("url".into(), message);
                None
            }
        };
        let method = match Method::from_bytes(self.method.as_bytes()) {
            Ok(method) => Some(method),
            Err(_) => {
                problem(
                    "method".into(),
                    format!("{:?} is not an HTTP method", self.method),
                );
                None
            }
        };
        let mut headers = HeaderMap::new();
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{name:?} is not a valid header name"));
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("the value {value:?} is not a valid header value"));
            match (name, value) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                (Err(e), _) | (_, Err(e)) => problem(format!("headers[{i}]"), e),
            }
        }
        if !(self.rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&self.rate)) {
            problem(
                "rate".into(),
                format!(
                    "must be a number of requests per second from {MIN_RATE} to {MAX_RATE}, got {}",
                    self.rate
                ),
            );
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            problem(
                "duration".into(),
                "must be more than 0 (or none, to run until stopped)".into(),
            );
        }
        if self.max_requests == Some(0) {
            problem(
                "max_requests".into(),
                "must be at least 1 (or none, for no limit)".into(),
            );
        }
        if self.timeout.is_zero() {
            problem("timeout".into(), "must be more than 0".into());
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            problem(
                "max_in_flight".into(),
                format!(
                    "must be from 1 to {MAX_IN_FLIGHT}, got {}",
                    self.max_in_flight
                ),
            );
        }
        if self.connections == 0 {
            problem("connections".into(), "must be at least 1".into());
        }

        match (uri, method) {
            (Some(uri), Some(method)) if problems.is_empty() => {
                let limit = self.limit();
                Ok((
                    Target {
                        uri,
                        method,
                        headers,
                        body: self.body.clone(),
                        connections: self.connections,
                    },
                    Plan {
                        rate: self.rate,
                        limit,
                        timeout: self.timeout,
                        max_in_flight: self.max_in_flight,
                    },
                ))
            }
            _ => Err(SpecError { problems }),
        }
    }

    /// The number of requests the spec schedules, if bounded.
    fn limit(&self) -> Option<u64> {
        let by_duration = self
            .duration
            .map(|d| Schedule::offsets(self.rate).count_before(d));
        match (by_duration, self.max_requests) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Parses an `http://` URL with a host; anything else is an error message.
fn parse_url(url: &str) -> Result<Uri, String> {
    if url.trim().is_empty() {
        return Err("is empty; give a URL such as http://127.0.0.1:8080/".into());
    }
    if url.starts_with('/') {
        return Err(format!(
            "{url:?} is only a path; write the whole URL, such as http://127.0.0.1:8080{url}"
        ));
    }
    if !url.contains("://") {
        return Err(format!("{url:?} has no scheme; write it as http://{url}"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    match uri.scheme_str() {
        None => Err(format!("{url:?} has no scheme; write it as http://{url}")),
        Some("https") => Err(format!(
            "{url:?}: https is not supported yet; use an http:// URL"
        )),
        Some("http") if uri.host().is_none_or(str::is_empty) => Err(format!("{url:?} has no host")),
        Some("http") => Ok(uri),
        Some(other) => Err(format!(
            "{url:?}: the scheme {other:?} is not supported; use http://"
        )),
    }
}

/// Where and what to send: the validated request parts.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) uri: Uri,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) connections: usize,
}

/// When and how many: the validated schedule and limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Requests per second.
    pub(crate) rate: f64,
    /// Requests to schedule in all; `None` runs until stopped.
    pub(crate) limit: Option<u64>,
    /// Per request, from its actual send.
    pub(crate) timeout: Duration,
    /// Slots for requests in flight.
    pub(crate) max_in_flight: usize,
}

/// One problem with a [`LoadSpec`] field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field: `url`, `rate`, `headers[2]`, ...
    pub field: String,
    /// What is wrong with it and, where it helps, what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem [`LoadSpec::validate`] found (at least one).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The problems, in field order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid load spec: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(spec: &LoadSpec) -> Vec<String> {
        spec.validate()
            .expect_err("the spec is invalid")
            .problems
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    fn message(spec: &LoadSpec, field: &str) -> String {
        let err = spec.validate().expect_err("the spec is invalid");
        err.problems
            .into_iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("no problem with {field}"))
            .message
    }

    #[test]
    fn a_plain_spec_is_valid() {
        assert_eq!(
            LoadSpec::new("http://127.0.0.1:8080/", 200.0).validate(),
            Ok(())
        );
        assert_eq!(LoadSpec::new("http://localhost", 0.5).validate(), Ok(()));
    }

    #[test]
    fn rates_out_of_range_are_refused() {
        for rate in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2e6,
            1e-9,
        ] {
            let spec = LoadSpec::new("http://127.0.0.1/", rate);
            assert_eq!(fields(&spec), ["rate"], "rate {rate}");
            assert!(message(&spec, "rate").contains("requests per second"));
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        let cases = [
            (
                "127.0.0.1:8080/x",
                "no scheme; write it as http://127.0.0.1:8080/x",
            ),
            ("https://example.com/", "https is not supported yet"),
            ("ftp://example.com/", "not supported; use http://"),
            ("http://exa mple.com/", "not a valid URL"),
            ("http:///path", "not a valid URL"),
            ("", "is empty"),
            (
                "/just/a/path",
                "only a path; write the whole URL, such as http://127.0.0.1:8080/just/a/path",
            ),
        ];
        for (url, expected) in cases {
            let got = message(&LoadSpec::new(url, 1.0), "url");
            assert!(got.contains(expected), "{url:?}: {got}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let spec = LoadSpec {
            method: "GE T".into(),
            headers: vec![
                ("ok".into(), "fine".into()),
                ("bad name".into(), "v".into()),
                ("x".into(), "bad\nvalue".into()),
            ],
            duration: Some(Duration::ZERO),
            max_requests: Some(0),
            timeout: Duration::ZERO,
            max_in_flight: 0,
            connections: 0,
            ..LoadSpec::new("https://x/", 0.0)
        };
        assert_eq!(
            fields(&spec),
            [
                "url",
                "method",
                "headers[1]",
                "headers[2]",
                "rate",
                "duration",
                "max_requests",
                "timeout",
                "max_in_flight",
                "connections"
            ]
        );
        let text = spec.validate().unwrap_err().to_string();
        assert!(text.starts_with("invalid load spec: url: "), "{text}");
        assert!(text.contains("; timeout: must be more than 0"), "{text}");
    }

    #[test]
    fn duration_and_max_requests_bound_the_run() {
        let spec = |duration: Option<u64>, max: Option<u64>| LoadSpec {
            duration: duration.map(Duration::from_secs),
            max_requests: max,
            ..LoadSpec::new("http://h/", 100.0)
        };
        assert_eq!(spec(Some(10), None).limit(), Some(1000));
        assert_eq!(spec(Some(10), Some(5)).limit(), Some(5));
        assert_eq!(spec(None, Some(7)).limit(), Some(7));
        assert_eq!(spec(None, None).limit(), None);
        let third = LoadSpec {
            duration: Some(Duration::from_secs(1)),
            ..LoadSpec::new("http://h/", 3.0)
        };
        assert_eq!(third.limit(), Some(3));
    }
}

//! Runtime control for the bench server, under [`CONTROL_PREFIX`]:
//!
//! - `PUT /__ordo/behaviour` with a [`BehaviourSpec`] as JSON switches the
//!   behaviour without a restart (`204`), so a benchmark can make an upstream
//!   slow or failing mid-run. The binary's flags build the same spec, so both
//!   share one set of names and one validation.
//! - `GET /__ordo/stats` answers the counters as JSON ([`Stats`](super::Stats)), so a
//!   benchmark can count the requests each upstream received, whatever proxy
//!   sits in front.
//! - `POST /__ordo/stats/reset` zeroes them (`204`; see
//!   [`Upstream::reset_stats`](super::Upstream::reset_stats)).
//!
//! Served only when the builder enabled it
//! ([`UpstreamBuilder::control`](super::UpstreamBuilder::control)); control
//! requests are not counted in any counter.

use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::behaviour::{Behaviour, Profile};
use super::body::UpstreamBody;
use super::respond::reply;
use super::state::Shared;

/// Paths under this prefix belong to the control API.
pub(crate) const CONTROL_PREFIX: &str = "/__ordo/";
/// `PUT` a [`BehaviourSpec`] here.
pub(crate) const BEHAVIOUR_PATH: &str = "/__ordo/behaviour";
/// `GET` the [`Stats`](super::Stats) here.
pub(crate) const STATS_PATH: &str = "/__ordo/stats";
/// `POST` here to zero the counters.
pub(crate) const STATS_RESET_PATH: &str = "/__ordo/stats/reset";
/// Control bodies are a few fields; anything bigger is a mistake.
const MAX_SPEC_BYTES: usize = 64 * 1024;

/// A behaviour in the bench server's terms, as JSON (`PUT /__ordo/behaviour`)
/// or flags. Every field is optional; `{}` means [`Behaviour::Ok`], anything
/// else a [`Profile`].
///
/// ```
/// use ordo_test_support::{Behaviour, BehaviourSpec};
///
/// let spec = BehaviourSpec::parse(br#"{"fail_ratio":0.5,"fail_status":503}"#).unwrap();
/// assert!(matches!(spec.to_behaviour().unwrap(), Behaviour::Profile(_)));
/// assert_eq!(BehaviourSpec::parse(b"{}").unwrap().to_behaviour().unwrap(), Behaviour::Ok);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourSpec {
    /// Milliseconds to wait before answering.
    pub delay_ms: Option<u64>,
    /// Fraction of requests answered with `fail_status`, in `0.0..=1.0`.
    pub fail_ratio: Option<f64>,
    /// Status of failed requests (default 503); needs `fail_ratio`.
    pub fail_status: Option<u16>,
    /// Fraction of requests whose connection is closed without an answer.
    pub reset_ratio: Option<f64>,
    /// Requests served at once; the rest queue. Needs `service_ms`.
    pub capacity: Option<usize>,
    /// Milliseconds each request holds its capacity slot. Needs `capacity`.
    pub service_ms: Option<u64>,
    /// Send each request on to this base URL (a service with a dependency,
    /// passing the FIT context); the other fields must be absent.
    pub forward: Option<String>,
}

/// Why a [`BehaviourSpec`] was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The body is not a JSON spec.
    #[error(
        "expected a JSON object with any of delay_ms, fail_ratio, fail_status, \
         reset_ratio, capacity, service_ms, forward: {0}"
    )]
    Json(#[from] serde_json::Error),
    /// The fields parse but do not make sense together; every problem is listed.
    #[error("invalid behaviour: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl BehaviourSpec {
    /// Parses a JSON spec.
    pub fn parse(json: &[u8]) -> Result<Self, SpecError> {
        Ok(serde_json::from_slice(json)?)
    }

    /// The behaviour this spec describes, or every problem with it.
    pub fn to_behaviour(&self) -> Result<Behaviour, SpecError> {
        let mut problems = Vec::new();
        for (field, ratio) in [
            ("fail_ratio", self.fail_ratio),
            ("reset_ratio", self.reset_ratio),
        ] {
            if let Some(ratio) = ratio.filter(|r| !(0.0..=1.0).contains(r)) {
                problems.push(format!("{field} must be between 0.0 and 1.0, got {ratio}"));
            }
        }
        if let Some(status) = self.fail_status {
            if StatusCode::from_u16(status).is_err() {
                problems.push(format!("fail_status must be in 100..=999, got {status}"));
            }
            if self.fail_ratio.is_none() {
                problems.push("fail_status needs fail_ratio".to_owned());
            }
        }
        match (self.capacity, self.service_ms) {
            (Some(0), _) => problems.push("capacity must be at least 1".to_owned()),
            (Some(_), None) => problems.push("capacity needs service_ms".to_owned()),
            (None, Some(_)) => problems.push("service_ms needs capacity".to_owned()),
            _ => {}
        }
        if let Some(url) = &self.forward {
            if !url.starts_with("http://") || url.parse::<http::Uri>().is_err() {
                problems.push(format!("forward must be an http:// URL, got {url:?}"));
            }
            if *self
                != (Self {
                    forward: self.forward.clone(),
                    ..Self::default()
                })
            {
                problems.push("forward goes alone, without fault fields".to_owned());
            }
        }
        if !problems.is_empty() {
            return Err(SpecError::Invalid(problems));
        }
        if let Some(url) = &self.forward {
            return Ok(Behaviour::Forward(url.clone()));
        }
        if *self == Self::default() {
            return Ok(Behaviour::Ok);
        }
        let default = Profile::default();
        Ok(Behaviour::Profile(Profile {
            delay: Duration::from_millis(self.delay_ms.unwrap_or(0)),
            capacity: self
                .capacity
                .zip(self.service_ms)
                .map(|(n, ms)| (n, Duration::from_millis(ms))),
            reset_ratio: self.reset_ratio.unwrap_or(default.reset_ratio),
            fail_ratio: self.fail_ratio.unwrap_or(default.fail_ratio),
            fail_status: self.fail_status.unwrap_or(default.fail_status),
        }))
    }
}

/// Serves a request under [`CONTROL_PREFIX`].
pub(crate) async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<UpstreamBody> {
    let (path, method) = (req.uri().path(), req.method());
    match path {
        BEHAVIOUR_PATH if method == Method::PUT => put_behaviour(shared, req).await,
        STATS_PATH if method == Method::GET => stats(shared),
        STATS_RESET_PATH if method == Method::POST => {
            shared.reset_stats();
            reply(shared, StatusCode::NO_CONTENT, UpstreamBody::empty())
        }
        BEHAVIOUR_PATH => not_allowed(shared, "PUT", "takes PUT with a JSON behaviour"),
        STATS_PATH => not_allowed(shared, "GET", "takes GET"),
        STATS_RESET_PATH => not_allowed(shared, "POST", "takes POST"),
        _ => {
            let message = format!(
                "unknown control path; the control API is PUT {BEHAVIOUR_PATH}, \
                 GET {STATS_PATH} and POST {STATS_RESET_PATH}\n"
            );
            reply(shared, StatusCode::NOT_FOUND, UpstreamBody::full(message))
        }
    }
}

/// `405` naming the methods `path` takes.
fn not_allowed(shared: &Shared, allow: &'static str, what: &str) -> Response<UpstreamBody> {
    let mut response = reply(
        shared,
        StatusCode::METHOD_NOT_ALLOWED,
        UpstreamBody::full(format!("this control path {what}\n")),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// `GET /__ordo/stats`: the counters as JSON.
fn stats(shared: &Shared) -> Response<UpstreamBody> {
    let json = serde_json::to_vec(&shared.stats()).expect("Stats holds only a string and numbers");
    let mut response = reply(shared, StatusCode::OK, UpstreamBody::full(json));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `PUT /__ordo/behaviour`: parses, validates and applies a [`BehaviourSpec`].
async fn put_behaviour(shared: &Shared, req: Request<Incoming>) -> Response<UpstreamBody> {
    let body = match Limited::new(req.into_body(), MAX_SPEC_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            let message = format!("reading the behaviour (at most {MAX_SPEC_BYTES} bytes): {e}\n");
            return reply(shared, StatusCode::BAD_REQUEST, UpstreamBody::full(message));
        }
    };
    match BehaviourSpec::parse(&body).and_then(|spec| spec.to_behaviour()) {
        Ok(behaviour) => {
            tracing::info!(upstream = %shared.name, ?behaviour, "behaviour changed");
            shared.set_behaviour(behaviour);
            reply(shared, StatusCode::NO_CONTENT, UpstreamBody::empty())
        }
        Err(e) => reply(
            shared,
            StatusCode::BAD_REQUEST,
            UpstreamBody::full(format!("{e}\n")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{BehaviourSpec, SpecError};
    use crate::{Behaviour, Profile};

    fn behaviour(json: &str) -> Result<Behaviour, SpecError> {
        BehaviourSpec::parse(json.as_bytes())?.to_behaviour()
    }

    #[test]
    fn empty_spec_is_ok() {
        assert_eq!(behaviour("{}").unwrap(), Behaviour::Ok);
    }

    #[test]
    fn delay_spec_is_a_profile_with_only_a_delay() {
        let expected = Profile {
            delay: Duration::from_secs(1),
            ..Profile::default()
        };
        assert_eq!(
            behaviour(r#"{"delay_ms":1000}"#).unwrap(),
            Behaviour::Profile(expected)
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let err = behaviour(r#"{"fail_ratio":1.5,"fail_status":42,"capacity":0}"#).unwrap_err();
        let message = err.to_string();
        for expected in [
            "fail_ratio must be between",
            "fail_status must be in",
            "capacity must be at least 1",
        ] {
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = behaviour(r#"{"delay":5}"#).unwrap_err();
        assert!(matches!(err, SpecError::Json(_)), "{err}");
    }
}

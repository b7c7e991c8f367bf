//! The halt lock's API, on the admin listener (the lock itself is
//! `fault/halt.rs`):
//!
//! | method and path | does |
//! |---|---|
//! | `PUT /faults/halt` | removes every fault and every toxic, and refuses new ones (`423`) until lifted: `200 {"halted": true, "removed", "by", "reason", "since"}` |
//! | `GET /faults/halt` | `200 {"halted": true, "by", "reason", "since"}`, or `{"halted": false}` |
//! | `DELETE /faults/halt` | lifts it: `200 {"halted": false}` |
//!
//! The `PUT` body is optional: `{"by": "...", "reason": "..."}`, each at
//! most 256 bytes, without control characters. A `PUT` while halted keeps
//! the halt in force (its `by`, `reason` and `since`: how long injection has
//! been off is what an operator needs) and removes everything again; both
//! `PUT` and `DELETE` are idempotent.

use std::time::SystemTime;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::faults::error;
use super::{Proxied, gone};
use crate::fault::Halt;
use crate::proxy::Proxy;

/// Longest `by` or `reason`, in bytes.
const MAX_TEXT: usize = 256;

/// Largest body accepted, in bytes.
const MAX_BODY: usize = 4 * 1024;

pub(super) fn routes() -> Router<std::sync::Weak<Proxy>> {
    Router::new().route(
        "/faults/halt",
        put(halt)
            .get(state)
            .delete(lift)
            .layer(DefaultBodyLimit::max(MAX_BODY)),
    )
}

/// The wall clock, for the halt's `since` (people read it; nothing is
/// timed by it).
#[allow(clippy::disallowed_methods)] // the admin API's one wall-clock read
fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// What a `PUT` may say.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HaltRequest {
    by: Option<String>,
    reason: Option<String>,
}

impl HaltRequest {
    /// Parses an optional body; every problem with its field.
    fn parse(body: &[u8]) -> Result<HaltRequest, Vec<(String, String)>> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(HaltRequest::default());
        }
        let req: HaltRequest =
            serde_json::from_slice(body).map_err(|e| vec![("body".to_owned(), e.to_string())])?;
        let problems: Vec<(String, String)> = [("by", &req.by), ("reason", &req.reason)]
            .into_iter()
            .filter_map(|(field, v)| Some((field.to_owned(), text_problem(v.as_deref()?)?)))
            .collect();
        if problems.is_empty() {
            Ok(req)
        } else {
            Err(problems)
        }
    }
}

/// What is wrong with a `by` or `reason`, if anything.
fn text_problem(s: &str) -> Option<String> {
    if s.trim().is_empty() {
        Some("must not be blank (leave it out instead)".to_owned())
    } else if s.len() > MAX_TEXT {
        Some(format!("at most {MAX_TEXT} bytes, not {}", s.len()))
    } else if s.chars().any(char::is_control) {
        Some("must not contain control characters".to_owned())
    } else {
        None
    }
}

/// The halt state as the API shows it.
#[derive(Debug, Serialize)]
struct HaltView {
    halted: bool,
    /// Faults and toxics removed (`PUT` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    removed: Option<usize>,
    /// `by`, `reason` and `since` while halted (`null` when not given).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    halt: Option<HaltFields>,
}

#[derive(Debug, Serialize)]
struct HaltFields {
    by: Option<String>,
    reason: Option<String>,
    since: String,
}

impl HaltView {
    fn new(halt: Option<Halt>, removed: Option<usize>) -> HaltView {
        HaltView {
            halted: halt.is_some(),
            removed,
            halt: halt.map(|h| HaltFields {
                since: h.since_rfc3339(),
                by: h.by,
                reason: h.reason,
            }),
        }
    }
}

async fn halt(State(p): Proxied, body: Bytes) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    let req = match HaltRequest::parse(&body) {
        Ok(r) => r,
        Err(problems) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body is not a halt request (`{\"by\": \"...\", \"reason\": \"...\"}`, both optional)",
                problems,
            );
        }
    };
    let (halt, faults) = p.faults().halt(Halt {
        by: req.by,
        reason: req.reason,
        since: wall_now(),
    });
    // After the flag is up: a toxic added from now on is refused.
    let toxics = p.tcp().clear_toxics().await;
    Json(HaltView::new(Some(halt), Some(faults + toxics))).into_response()
}

async fn state(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    Json(HaltView::new(p.faults().halted(), None)).into_response()
}

async fn lift(State(p): Proxied) -> Response {
    let Some(p) = p.upgrade() else { return gone() };
    p.faults().lift();
    Json(HaltView::new(None, None)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_is_an_anonymous_halt() {
        for body in [&b""[..], b"  \n"] {
            let r = HaltRequest::parse(body).unwrap();
            assert_eq!((r.by, r.reason), (None, None));
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let long = "x".repeat(MAX_TEXT + 1);
        let body = serde_json::json!({"by": " ", "reason": long}).to_string();
        let problems = HaltRequest::parse(body.as_bytes()).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["by", "reason"], "{problems:?}");
        let problems = HaltRequest::parse(br#"{"by": "a\u0007b"}"#).unwrap_err();
        assert!(problems[0].1.contains("control"), "{problems:?}");
        let problems = HaltRequest::parse(br#"{"who": "me"}"#).unwrap_err();
        assert_eq!(problems[0].0, "body");
        assert!(problems[0].1.contains("who"), "{problems:?}");
        let r = HaltRequest::parse(br#"{"by": "alice", "reason": null}"#).unwrap();
        assert_eq!((r.by.as_deref(), r.reason), (Some("alice"), None));
    }
}

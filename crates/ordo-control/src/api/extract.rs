//! Extractors whose rejections are [`ApiError`]s: JSON bodies (with field paths), query
//! parameters (every problem at once, unknown names refused), the actor header and path
//! ids.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::ApiError;
use super::{ACTOR_HEADER, DEFAULT_ACTOR, DEFAULT_WAIT, MAX_BODY, MAX_WAIT};
use crate::Problem;

/// A JSON body of type `T`, parsed strictly (`deny_unknown_fields` on `T` refuses
/// unknown fields).
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

/// A JSON body of type `T`, or `None` when the body is empty.
#[derive(Debug)]
pub(crate) struct OptionalJson<T>(pub(crate) Option<T>);

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "the body must be JSON: send `Content-Type: application/json`, not `{essence}`"
                ),
            ));
        }
    }
    Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than the {MAX_BODY} bytes accepted"),
            )
        } else {
            ApiError::new(
                r.status(),
                format!("cannot read the body: {}", r.body_text()),
            )
        }
    })
}

/// Parses `bytes` as `T`, naming the field that is wrong.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "the request needs a JSON body",
            Vec::new(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| body_error(&e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| body_error(".", e))?;
    Ok(value)
}

fn body_error(path: &str, e: serde_json::Error) -> ApiError {
    match e.classify() {
        Category::Data => {
            let message = e.to_string();
            let field = field_of(path, &message);
            ApiError::invalid("invalid request body", vec![Problem::new(field, message)])
        }
        _ => ApiError::invalid(format!("the body is not valid JSON: {e}"), Vec::new()),
    }
}

/// The field a data error is about: its path (which names an unknown field itself), or
/// for a missing field, the field named in the message under that path.
fn field_of(path: &str, message: &str) -> String {
    let base = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(name) if base.is_empty() => name.to_owned(),
        Some(name) => format!("{base}.{name}"),
        None => base.to_owned(),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        parse(&bytes).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        parse(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// Who is acting: the `x-ordo-actor` header, or `api`.
#[derive(Debug)]
pub(crate) struct Actor(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.headers.get(ACTOR_HEADER) {
            None => Ok(Actor(DEFAULT_ACTOR.to_owned())),
            Some(v) => {
                let s = v.to_str().map_err(|_| {
                    ApiError::invalid(
                        "invalid actor",
                        vec![Problem::new(ACTOR_HEADER, "must be visible ASCII")],
                    )
                })?;
                if s.is_empty() || s.len() > crate::audit::MAX_NAME_LEN {
                    return Err(ApiError::invalid(
                        "invalid actor",
                        vec![Problem::new(
                            ACTOR_HEADER,
                            format!("must be 1 to {} bytes", crate::audit::MAX_NAME_LEN),
                        )],
                    ));
                }
                Ok(Actor(s.to_owned()))
            }
        }
    }
}

/// The one path parameter of a route (`{id}`, `{name}`).
#[derive(Debug)]
pub(crate) struct PathParam(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| PathParam(p))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))
    }
}

/// Query parameters, read one by one; [`Params::finish`] reports every problem and
/// every parameter the route does not know.
#[derive(Debug)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    problems: Vec<Problem>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|r| {
                ApiError::invalid(
                    format!("malformed query string: {}", r.body_text()),
                    Vec::new(),
                )
            })?;
        Ok(Params {
            pairs,
            problems: Vec::new(),
        })
    }
}

impl Params {
    /// The raw value of `name`, removed from the unread parameters.
    pub(crate) fn string(&mut self, name: &str) -> Option<String> {
        let mut found = None;
        let mut count = 0;
        self.pairs.retain(|(k, v)| {
            if k == name {
                count += 1;
                found = Some(v.clone());
                false
            } else {
                true
            }
        });
        if count > 1 {
            self.problems
                .push(Problem::new(name, "is given more than once"));
        }
        found
    }

    /// `name` parsed with `parse`, whose error becomes the problem's message.
    pub(crate) fn parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.string(name)?;
        match parse(&raw) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problems.push(Problem::new(name, message));
                None
            }
        }
    }

    /// `name` as a whole number.
    pub(crate) fn number<T: std::str::FromStr>(&mut self, name: &str) -> Option<T> {
        self.parsed(name, |s| {
            s.parse()
                .map_err(|_| format!("`{s}` is not a whole number in range"))
        })
    }

    /// The long-poll parameters: `index` and `wait`.
    pub(crate) fn poll(&mut self) -> Poll {
        let index = self.number("index");
        let wait = self
            .parsed("wait", |s| {
                let d = humantime::parse_duration(s)
                    .map_err(|e| format!("`{s}` is not a duration such as 30s or 2m ({e})"))?;
                if d > MAX_WAIT {
                    Err(format!("`{s}` is longer than the 5m a long-poll may wait"))
                } else {
                    Ok(d)
                }
            })
            .unwrap_or(DEFAULT_WAIT);
        Poll { index, wait }
    }

    /// Adds problems found by a later check, to report them with the rest.
    pub(crate) fn add(&mut self, problems: Vec<Problem>) {
        self.problems.extend(problems);
    }

    /// Fails with every problem found, and every parameter left unread.
    pub(crate) fn finish(mut self, known: &str) -> Result<(), ApiError> {
        for (k, _) in std::mem::take(&mut self.pairs) {
            self.problems.push(Problem::new(
                k,
                format!("is not a parameter of this route (it takes {known})"),
            ));
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("invalid query parameters", self.problems))
        }
    }
}

/// A long-poll's parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Poll {
    /// Wait until the index differs from this one; no waiting when absent.
    pub(crate) index: Option<u64>,
    /// How long to wait at most.
    pub(crate) wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    fn problem(body: &str) -> (String, Vec<String>) {
        let e = parse::<Body>(body.as_bytes()).expect_err("the body is wrong");
        (
            e.body.error,
            e.body.problems.into_iter().map(|p| p.field).collect(),
        )
    }

    #[test]
    fn body_errors_name_the_field() {
        assert_eq!(problem(r#"{}"#).1, ["name"]);
        assert_eq!(problem(r#"{"name":"a","x":1}"#).1, ["x"]);
        assert_eq!(problem(r#"{"name":1}"#).1, ["name"]);
        assert_eq!(problem(r#"{"name":"a","inner":{"n":"x"}}"#).1, ["inner.n"]);
        assert_eq!(problem(r#"{"name":"a","inner":{}}"#).1, ["inner.n"]);
        assert!(
            problem(r#"{"name":"#)
                .0
                .starts_with("the body is not valid JSON")
        );
        assert!(
            problem(r#"{"name":"a"} x"#)
                .0
                .starts_with("the body is not valid JSON")
        );
        assert_eq!(problem("").0, "the request needs a JSON body");
    }
}

//! Outcome classification: deciding from a call's result whether it
//! succeeded, failed, or should not count at all, whether it was slow, and
//! whether the dependency asked to be retried later.
//!
//! Circuit breakers, adaptive limits, throttling and retry all ask the same
//! question of a finished call, so they share one [`Classify`] trait.
//! [`DefaultClassifier`] treats every error as a failure except the local
//! rejections of other policies (see
//! [`ErrorKind::is_local_rejection`](crate::ErrorKind::is_local_rejection)).
//! [`HttpClassifier`] adds the status code of an [`http::Response`]: 5xx is a
//! failure, and `429` or `503` with `Retry-After` tells retry when to come
//! back.

use std::time::Duration;

use crate::error::ResilienceError;

/// What a finished call counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed: it counts against the dependency.
    Failure,
    /// The call says nothing about the dependency (for example, another
    /// policy rejected it locally): it is not counted.
    Ignored,
}

/// Decides what a finished call counts as.
///
/// Implementations must be cheap: they run once per call on the hot path.
pub trait Classify<Res, E> {
    /// Success, failure, or not counted.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;

    /// Whether a call that took `elapsed` counts as slow, given the policy's
    /// slow-call `threshold`. The default: longer than the threshold.
    fn is_slow(&self, _result: &Result<Res, E>, elapsed: Duration, threshold: Duration) -> bool {
        elapsed > threshold
    }

    /// When the dependency asked to be retried no sooner than some delay
    /// (HTTP `Retry-After`), that delay. Retry waits at least this long, and
    /// retries such a result even when it is not a failure.
    fn retry_after(&self, _result: &Result<Res, E>) -> Option<Duration> {
        None
    }
}

/// Every `Ok` is a success; every error is a failure, except local
/// rejections by other policies, which are ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl<Res, E: ResilienceError> Classify<Res, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        classify_error(result)
    }
}

#[inline]
fn classify_error<Res, E: ResilienceError>(result: &Result<Res, E>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) if e.kind().is_local_rejection() => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

/// A classifier made from a function; see [`classify_fn`].
#[derive(Clone, Copy)]
pub struct ClassifyFn<F>(F);

impl<F> std::fmt::Debug for ClassifyFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClassifyFn")
    }
}

/// Builds a classifier from a function of the result.
///
/// ```
/// use ordo_resilience::classify::{classify_fn, Classify, Outcome};
/// let c = classify_fn(|r: &Result<u16, std::io::Error>| match r {
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Failure,
/// });
/// assert_eq!(c.classify(&Ok(503)), Outcome::Failure);
/// ```
pub fn classify_fn<F>(f: F) -> ClassifyFn<F> {
    ClassifyFn(f)
}

impl<F, Res, E> Classify<Res, E> for ClassifyFn<F>
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        (self.0)(result)
    }
}

/// Classifies [`http::Response`]s by status code.
///
/// | status | outcome |
/// |---|---|
/// | 5xx | failure |
/// | statuses added with [`HttpClassifier::failure_status`] | failure |
/// | anything else | success |
/// | errors | as [`DefaultClassifier`] |
///
/// `429 Too Many Requests` and `503 Service Unavailable` carrying a
/// `Retry-After` header (delta-seconds, or an HTTP-date read against the
/// response's own `Date` header) yield that delay from
/// [`Classify::retry_after`]; retry decides whether it is short enough to
/// wait for.
#[derive(Debug, Clone, Default)]
pub struct HttpClassifier {
    extra_failures: [u16; 4],
}

impl HttpClassifier {
    /// The default HTTP classifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also count responses with this status as failures (for example `429`).
    /// Up to four extra statuses; further ones are ignored.
    pub fn failure_status(mut self, status: http::StatusCode) -> Self {
        if let Some(slot) = self.extra_failures.iter_mut().find(|s| **s == 0) {
            *slot = status.as_u16();
        }
        self
    }

    fn is_failure_status(&self, status: http::StatusCode) -> bool {
        status.is_server_error() || self.extra_failures.contains(&status.as_u16())
    }
}

impl<B, E: ResilienceError> Classify<http::Response<B>, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(resp) if self.is_failure_status(resp.status()) => Outcome::Failure,
            other => classify_error(other),
        }
    }

    fn retry_after(&self, result: &Result<http::Response<B>, E>) -> Option<Duration> {
        let resp = result.as_ref().ok()?;
        let status = resp.status();
        if status != http::StatusCode::TOO_MANY_REQUESTS
            && status != http::StatusCode::SERVICE_UNAVAILABLE
        {
            return None;
        }
        parse_retry_after(resp.headers())
    }
}

/// Parses a `Retry-After` header: delta-seconds, or an HTTP-date measured
/// from the response's `Date` header (a response without `Date` has no
/// reference time on the server's clock, so its HTTP-date is not used).
pub fn parse_retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let date = headers.get(http::header::DATE)?.to_str().ok()?;
    let now = httpdate::parse_http_date(date.trim()).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::bulkhead::BulkheadFull;

    fn resp(status: u16, headers: &[(&str, &str)]) -> http::Response<()> {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    type R = Result<http::Response<()>, Error<std::io::Error>>;

    #[test]
    fn http_5xx_is_failure_and_4xx_is_success() {
        let c = HttpClassifier::new();
        assert_eq!(c.classify(&R::Ok(resp(503, &[]))), Outcome::Failure);
        assert_eq!(c.classify(&R::Ok(resp(500, &[]))), Outcome::Failure);
        assert_eq!(c.classify(&R::Ok(resp(404, &[]))), Outcome::Success);
        assert_eq!(c.classify(&R::Ok(resp(200, &[]))), Outcome::Success);
        let c = c.failure_status(http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(c.classify(&R::Ok(resp(429, &[]))), Outcome::Failure);
    }

    #[test]
    fn local_rejections_are_ignored_and_inner_errors_fail() {
        let c = HttpClassifier::new();
        assert_eq!(
            c.classify(&R::Err(BulkheadFull::new(1).into())),
            Outcome::Ignored
        );
        assert_eq!(
            c.classify(&R::Err(Error::Inner(std::io::Error::other("x")))),
            Outcome::Failure
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let c = HttpClassifier::new();
        let r = R::Ok(resp(429, &[("retry-after", "3")]));
        assert_eq!(c.retry_after(&r), Some(Duration::from_secs(3)));
        let r = R::Ok(resp(
            503,
            &[
                ("retry-after", "Wed, 21 Oct 2015 07:28:10 GMT"),
                ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ],
        ));
        assert_eq!(c.retry_after(&r), Some(Duration::from_secs(10)));
        // Not read on other statuses, nor when unparseable.
        assert_eq!(
            c.retry_after(&R::Ok(resp(500, &[("retry-after", "3")]))),
            None
        );
        assert_eq!(
            c.retry_after(&R::Ok(resp(429, &[("retry-after", "soon")]))),
            None
        );
    }
}

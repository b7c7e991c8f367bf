//! One error type for every policy, and the trait that tells a policy's own
//! rejections apart from the wrapped service's failures.
//!
//! Each layer has its own small error (for example [`BulkheadFull`]) and
//! requires only that the wrapped service's error type can be built from it
//! (`S::Error: From<BulkheadFull>`). Both [`Error<E>`] and tower's boxed
//! error satisfy that for every layer, so a stack keeps a single error type
//! from the innermost service to the outermost layer: no nesting, and no
//! allocation on the success path.
//!
//! [`BulkheadFull`]: crate::bulkhead::BulkheadFull

use std::fmt;

use crate::bulkhead::BulkheadFull;
use crate::circuit_breaker::CircuitOpen;
use crate::limit::LimitExceeded;
use crate::rate_limit::RateLimited;
use crate::throttle::Throttled;
use crate::timeout::Elapsed;

/// A type-erased error, as tower uses between layers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error of a service wrapped in ordo's layers: either the service's own
/// error, or a policy's decision.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E = BoxError> {
    /// The wrapped service failed with its own error.
    Inner(E),
    /// A circuit breaker rejected the call.
    CircuitOpen(CircuitOpen),
    /// A bulkhead had no free slot within its wait.
    BulkheadFull(BulkheadFull),
    /// The call, or one attempt of it, ran out of time.
    Timeout(Elapsed),
    /// An adaptive concurrency limiter was at its limit.
    ConcurrencyLimited(LimitExceeded),
    /// Client-side adaptive throttling dropped the call locally.
    Throttled(Throttled),
    /// A rate limiter had no permit within its wait.
    RateLimited(RateLimited),
}

/// Which policy an error comes from, or that it comes from the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The wrapped service's own error.
    Inner,
    /// Rejected by a circuit breaker.
    CircuitOpen,
    /// Rejected by a bulkhead.
    BulkheadFull,
    /// A timeout fired.
    Timeout,
    /// Rejected by an adaptive concurrency limit.
    ConcurrencyLimited,
    /// Dropped by client-side adaptive throttling.
    Throttled,
    /// Rejected by a rate limiter.
    RateLimited,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Inner,
        ErrorKind::CircuitOpen,
        ErrorKind::BulkheadFull,
        ErrorKind::Timeout,
        ErrorKind::ConcurrencyLimited,
        ErrorKind::Throttled,
        ErrorKind::RateLimited,
    ];

    /// True for decisions a policy makes locally, without the call reaching
    /// the dependency: circuit open, bulkhead full, concurrency limited,
    /// throttled, rate limited.
    ///
    /// These say nothing about the dependency's health, so circuit breakers
    /// and limiters do not count them as failures, and retries do not retry
    /// them. A timeout is not a local rejection: the call was made and the
    /// dependency did not answer in time.
    pub const fn is_local_rejection(self) -> bool {
        !matches!(self, ErrorKind::Inner | ErrorKind::Timeout)
    }

    /// A short, stable name for logs, metrics labels and `x-ordo-reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Inner => "inner",
            ErrorKind::CircuitOpen => "circuit-open",
            ErrorKind::BulkheadFull => "bulkhead-full",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConcurrencyLimited => "concurrency-limited",
            ErrorKind::Throttled => "throttled",
            ErrorKind::RateLimited => "rate-limited",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by error types that can say which policy produced them.
///
/// Layers use it to keep their own and each other's local rejections out of
/// failure statistics. It is implemented for [`Error<E>`], for [`BoxError`]
/// (by downcasting) and for [`std::io::Error`] and
/// [`std::convert::Infallible`]. A custom error type that implements the
/// layers' `From` conversions implements it too, usually in a few lines.
pub trait ResilienceError {
    /// Which policy produced this error, or [`ErrorKind::Inner`].
    fn kind(&self) -> ErrorKind;
}

impl<E> ResilienceError for Error<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Inner(_) => ErrorKind::Inner,
            Error::CircuitOpen(_) => ErrorKind::CircuitOpen,
            Error::BulkheadFull(_) => ErrorKind::BulkheadFull,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::ConcurrencyLimited(_) => ErrorKind::ConcurrencyLimited,
            Error::Throttled(_) => ErrorKind::Throttled,
            Error::RateLimited(_) => ErrorKind::RateLimited,
        }
    }
}

impl ResilienceError for BoxError {
    fn kind(&self) -> ErrorKind {
        let e: &(dyn std::error::Error + 'static) = &**self;
        if e.is::<CircuitOpen>() {
            ErrorKind::CircuitOpen
        } else if e.is::<BulkheadFull>() {
            ErrorKind::BulkheadFull
        } else if e.is::<Elapsed>() {
            ErrorKind::Timeout
        } else if e.is::<LimitExceeded>() {
            ErrorKind::ConcurrencyLimited
        } else if e.is::<Throttled>() {
            ErrorKind::Throttled
        } else if e.is::<RateLimited>() {
            ErrorKind::RateLimited
        } else {
            ErrorKind::Inner
        }
    }
}

impl ResilienceError for std::io::Error {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Inner
    }
}

impl ResilienceError for std::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

impl<E> Error<E> {
    /// Which policy produced this error.
    pub fn kind(&self) -> ErrorKind {
        ResilienceError::kind(self)
    }

    /// The service's own error, if this is one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// True when a timeout fired.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// True when a policy rejected the call without making it (see
    /// [`ErrorKind::is_local_rejection`]).
    pub fn is_local_rejection(&self) -> bool {
        self.kind().is_local_rejection()
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Inner(e) => e.fmt(f),
            Error::CircuitOpen(e) => e.fmt(f),
            Error::BulkheadFull(e) => e.fmt(f),
            Error::Timeout(e) => e.fmt(f),
            Error::ConcurrencyLimited(e) => e.fmt(f),
            Error::Throttled(e) => e.fmt(f),
            Error::RateLimited(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }
}

/// A policy's configuration is invalid. Lists every problem found, each
/// with the field it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The policy being configured (`circuit_breaker`, `retry`, ...).
    pub policy: &'static str,
    /// Each problem: the field and what is wrong with it.
    pub problems: Vec<(String, String)>,
}

impl ConfigError {
    pub(crate) fn new(policy: &'static str) -> Self {
        ConfigError {
            policy,
            problems: Vec::new(),
        }
    }

    /// Records a problem with `field` unless `ok`.
    pub(crate) fn check(&mut self, ok: bool, field: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.problems.push((field.to_owned(), message()));
        }
    }

    /// Adds the problems of a nested policy's settings, under its name.
    pub(crate) fn absorb(&mut self, result: Result<(), ConfigError>) {
        if let Err(nested) = result {
            for (field, message) in nested.problems {
                self.problems
                    .push((format!("{}.{}", nested.policy, field), message));
            }
        }
    }

    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, message)) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}.{}: {}", self.policy, field, message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

macro_rules! from_rejection {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl<E> From<$ty> for Error<E> {
            fn from(e: $ty) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}

from_rejection! {
    CircuitOpen => CircuitOpen,
    BulkheadFull => BulkheadFull,
    Elapsed => Timeout,
    LimitExceeded => ConcurrencyLimited,
    Throttled => Throttled,
    RateLimited => RateLimited,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_errors_keep_their_kind() {
        let e: BoxError = BulkheadFull::new(3).into();
        assert_eq!(ResilienceError::kind(&e), ErrorKind::BulkheadFull);
        let e: BoxError = Elapsed::new(std::time::Duration::from_millis(5)).into();
        assert_eq!(ResilienceError::kind(&e), ErrorKind::Timeout);
        let e: BoxError = "boom".into();
        assert_eq!(ResilienceError::kind(&e), ErrorKind::Inner);
    }

    #[test]
    fn local_rejections_exclude_timeouts_and_inner_errors() {
        assert!(ErrorKind::CircuitOpen.is_local_rejection());
        assert!(ErrorKind::BulkheadFull.is_local_rejection());
        assert!(!ErrorKind::Timeout.is_local_rejection());
        assert!(!ErrorKind::Inner.is_local_rejection());
    }

    #[test]
    fn display_names_the_policy() {
        let e: Error<std::io::Error> = BulkheadFull::new(10).into();
        assert_eq!(e.to_string(), "bulkhead full: all 10 slots busy");
        assert!(e.is_local_rejection());
    }
}

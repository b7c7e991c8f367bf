//! The errors of this crate: [`LoadError`] when a run cannot start, and
//! [`ErrorKind`], the class of a request that got no response.

use crate::spec::SpecError;

/// Why [`Load::start`](crate::Load::start) refused to start a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The spec has problems; each names its field.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// `start` was called outside a Tokio runtime, which the run's tasks need.
    #[error("a load run needs a Tokio runtime: call Load::start from within one")]
    NoRuntime,
}

/// Why a request got no HTTP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No complete response within [`LoadSpec::timeout`](crate::LoadSpec::timeout).
    Timeout,
    /// The connection could not be opened (refused, unreachable, DNS).
    Connect,
    /// Any other transport or protocol failure: a reset or closed
    /// connection, a malformed response, a body cut short.
    Io,
}

impl ErrorKind {
    /// A short lowercase name: `timeout`, `connect` or `io`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Io => "io",
        }
    }
}

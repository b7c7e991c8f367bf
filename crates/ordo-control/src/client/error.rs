//! [`ClientError`]: what failed in a call to the control plane, and what to do about it.

use std::time::Duration;

use crate::Problem;

/// Why a call to the control plane failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL is not an `http://host:port` URL.
    #[error("invalid control plane URL `{url}`: {reason}; use http://host:port")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection, or it broke before an answer arrived.
    #[error(
        "cannot reach the control plane at {base}: {reason}; is it running, and is this its address?"
    )]
    Unreachable {
        /// The control plane's base URL.
        base: String,
        /// What the connection attempt met (`connection refused`, ...).
        reason: String,
    },
    /// No full answer within the call's timeout.
    #[error(
        "the control plane at {base} did not answer {request} within {}",
        humantime::format_duration(*after)
    )]
    Timeout {
        /// The control plane's base URL.
        base: String,
        /// The request (`GET /v1/services`).
        request: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The control plane answered with an error status.
    #[error("control plane answered {status}: {}", describe(error, problems))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's sentence.
        error: String,
        /// Each problem with the input, by field.
        problems: Vec<Problem>,
    },
    /// The answer could not be read as what this client expects.
    #[error(
        "the control plane at {base} answered {request} with something this client cannot \
         read ({reason}); are the client and the control plane the same ordo version?"
    )]
    Protocol {
        /// The control plane's base URL.
        base: String,
        /// The request.
        request: String,
        /// What was wrong.
        reason: String,
    },
}

fn describe(error: &str, problems: &[Problem]) -> String {
    if problems.is_empty() {
        error.to_owned()
    } else {
        crate::problem::join(problems)
    }
}

impl ClientError {
    /// The HTTP status, when the control plane answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the control plane answered `404`: for a heartbeat, the instance must
    /// register again.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the control plane could not be reached or did not answer in time (worth
    /// retrying later), as opposed to refusing the request.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
        )
    }
}

/// A short reason for a failed exchange: the OS's words for the deepest I/O error.
pub(super) fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest: &(dyn std::error::Error + 'static) = e;
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                std::io::ErrorKind::TimedOut => "connection timed out".into(),
                _ => io.to_string(),
            };
        }
        deepest = err;
        current = err.source();
    }
    deepest.to_string()
}

//! `PlatformError`: what a platform call can fail with.
//!
//! Failures of an instance (a crash, a command that does not exist, a health
//! check that never passes) are not errors of the call that started it: they
//! show in the instance's [`Phase`](crate::Phase) and the platform keeps
//! retrying with backoff. A `PlatformError` means the call itself was refused.

use std::io;

/// Why a platform call was refused.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// No service or instance by that name.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. "service `ratings`" or "instance `ratings-4`".
        what: String,
    },
    /// The spec (or an option) is unusable; nothing was started.
    #[error("invalid {field}: {message}")]
    InvalidSpec {
        /// The offending field's path, e.g. `health.interval` or `env[2].name`.
        field: String,
        /// What is wrong with it and what would be accepted.
        message: String,
    },
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What the platform was doing, e.g. "creating log directory /tmp/logs/web".
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl PlatformError {
    /// A [`PlatformError::NotFound`] for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        PlatformError::NotFound { what: what.into() }
    }

    /// A [`PlatformError::InvalidSpec`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        PlatformError::InvalidSpec {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`PlatformError::Io`] with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        PlatformError::Io {
            context: context.into(),
            source,
        }
    }
}

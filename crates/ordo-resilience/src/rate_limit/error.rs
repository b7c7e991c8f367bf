//! The rate limiter's rejection.

use std::fmt;
use std::time::Duration;

/// A rate limiter had no permit within its wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    retry_in: Duration,
}

impl RateLimited {
    /// A rejection; a permit frees up in `retry_in`.
    pub fn new(retry_in: Duration) -> Self {
        RateLimited { retry_in }
    }

    /// How long until a permit is free.
    pub fn retry_in(&self) -> Duration {
        self.retry_in
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited: next permit in {:?}", self.retry_in)
    }
}

impl std::error::Error for RateLimited {}

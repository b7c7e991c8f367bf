//! The adaptive concurrency limit's rejection.

use std::fmt;

/// An adaptive concurrency limit was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    limit: u32,
}

impl LimitExceeded {
    /// A rejection at a limit of `limit` calls in flight.
    pub fn new(limit: u32) -> Self {
        LimitExceeded { limit }
    }

    /// The limit at the time.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "concurrency limit reached: {} calls in flight",
            self.limit
        )
    }
}

impl std::error::Error for LimitExceeded {}

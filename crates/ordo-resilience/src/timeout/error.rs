//! The timeout's error.

use std::fmt;
use std::time::Duration;

/// A call ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    after: Duration,
}

impl Elapsed {
    /// A timeout of `after` fired.
    pub fn new(after: Duration) -> Self {
        Elapsed { after }
    }

    /// The timeout that fired.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.after)
    }
}

impl std::error::Error for Elapsed {}

//! The bulkhead's rejection.

use std::fmt;

/// A bulkhead had no free slot within its wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkheadFull {
    max_concurrent_calls: u32,
}

impl BulkheadFull {
    /// A rejection by a bulkhead of `max_concurrent_calls` slots.
    pub fn new(max_concurrent_calls: u32) -> Self {
        BulkheadFull {
            max_concurrent_calls,
        }
    }

    /// The bulkhead's size.
    pub fn max_concurrent_calls(&self) -> u32 {
        self.max_concurrent_calls
    }
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead full: all {} slots busy",
            self.max_concurrent_calls
        )
    }
}

impl std::error::Error for BulkheadFull {}

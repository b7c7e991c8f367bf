//! Adaptive throttling's rejection.

use std::fmt;

/// Client-side adaptive throttling dropped a call locally, because the
/// dependency has recently been refusing many of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttled {
    probability: f64,
}

impl Throttled {
    /// A drop made with this rejection probability.
    pub fn new(probability: f64) -> Self {
        Throttled { probability }
    }

    /// The rejection probability at the time.
    pub fn probability(&self) -> f64 {
        self.probability
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "throttled: dropping {:.0}% of calls while the dependency refuses them",
            self.probability * 100.0
        )
    }
}

impl std::error::Error for Throttled {}

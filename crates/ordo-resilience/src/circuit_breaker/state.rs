//! The states a circuit can be in.

use std::fmt;

/// The state of a circuit breaker.
///
/// `Closed`, `Open` and `HalfOpen` are the automatic states; the others are
/// set by hand and left only by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CircuitState {
    /// Calls flow; outcomes are recorded and can open the circuit.
    Closed = 0,
    /// Calls are rejected until the open wait is over.
    Open = 1,
    /// Trial calls test the dependency (probes, then a ramp); the rest are
    /// rejected.
    HalfOpen = 2,
    /// Every call is rejected until the circuit is closed by hand.
    ForcedOpen = 3,
    /// Every call flows and nothing is recorded.
    Disabled = 4,
    /// Every call flows; outcomes are recorded and reported, but the circuit
    /// never opens (a dry run of new thresholds).
    MetricsOnly = 5,
}

impl CircuitState {
    /// Every state, in the order of their numeric codes.
    pub const ALL: [CircuitState; 6] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
        CircuitState::ForcedOpen,
        CircuitState::Disabled,
        CircuitState::MetricsOnly,
    ];

    /// A short, stable name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
            CircuitState::ForcedOpen => "forced-open",
            CircuitState::Disabled => "disabled",
            CircuitState::MetricsOnly => "metrics-only",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

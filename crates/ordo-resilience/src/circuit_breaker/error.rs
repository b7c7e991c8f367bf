//! The circuit breaker's rejection.

use std::fmt;
use std::time::Duration;

use super::CircuitState;

/// A circuit breaker refused a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    state: CircuitState,
    why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Nanoseconds until trial calls.
    Waiting(u64),
    Forced,
    ProbesBusy,
    Ramping,
}

impl CircuitOpen {
    pub(crate) fn waiting(remaining: Duration) -> Self {
        CircuitOpen {
            state: CircuitState::Open,
            why: Why::Waiting(u64::try_from(remaining.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    pub(crate) fn forced() -> Self {
        CircuitOpen {
            state: CircuitState::ForcedOpen,
            why: Why::Forced,
        }
    }

    pub(crate) fn probes_busy() -> Self {
        CircuitOpen {
            state: CircuitState::HalfOpen,
            why: Why::ProbesBusy,
        }
    }

    pub(crate) fn ramping() -> Self {
        CircuitOpen {
            state: CircuitState::HalfOpen,
            why: Why::Ramping,
        }
    }

    /// The state the circuit was in.
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// For an open circuit: how long until trial calls are let through.
    pub fn retry_in(&self) -> Option<Duration> {
        match self.why {
            Why::Waiting(nanos) => Some(Duration::from_nanos(nanos)),
            _ => None,
        }
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.why {
            Why::Waiting(nanos) => write!(
                f,
                "circuit open: trial calls start in {:?}",
                Duration::from_nanos(nanos)
            ),
            Why::Forced => f.write_str("circuit forced open"),
            Why::ProbesBusy => f.write_str("circuit half-open: every trial permit is in use"),
            Why::Ramping => f.write_str("circuit half-open: call not admitted while ramping up"),
        }
    }
}

impl std::error::Error for CircuitOpen {}

//! Circuit breaker: stop calling a dependency that keeps failing, give it
//! time to recover, and let traffic back in gradually.
//!
//! # Why
//!
//! A dependency that fails or hangs ties up the caller's threads,
//! connections and patience for every call. Once most calls fail anyway,
//! failing them at once is kinder to both sides: the caller answers quickly
//! (often from a [fallback](crate::fallback)), and the dependency gets a
//! moment without load in which to recover.
//!
//! # How
//!
//! **Closed**, the breaker records each call's outcome (decided by a
//! [`Classify`](crate::classify::Classify)) in a sliding window: the last
//! N calls, the last T of time, or a run of consecutive failures. When the
//! window holds at least `minimum_calls` and the failure rate (or the
//! slow-call rate) reaches its threshold, the circuit **opens**: calls fail
//! at once with [`CircuitOpen`]. After the open wait (fixed, or growing on
//! each trip that follows a failed recovery) the next call turns the
//! circuit **half-open**: a few trial calls probe the dependency. If they
//! pass, the circuit ramps traffic back up in steps and then closes; if
//! not, it opens again. See [`HalfOpen`] for the probe deadline and the
//! ramp, which answer the two oldest complaints about Hystrix and
//! resilience4j: a hung probe that keeps the circuit half-open forever, and
//! the stampede when one lucky probe closes the circuit to full traffic.
//!
//! Other policies' local rejections (a full bulkhead, a rate limit) are not
//! failures of the dependency and are not counted, unless
//! [`count_rejections`](CircuitBreakerBuilder::count_rejections) says so.
//! A call that is dropped before it finishes is not counted either; a
//! dropped probe gives its permit back.
//!
//! By hand, a circuit can be forced open, disabled, put in metrics-only mode
//! (record and report, never open), or closed again: see [`CircuitBreaker`].
//!
//! # Cost
//!
//! In the closed state a call takes no lock and allocates nothing.
//! Admission is one atomic load; recording a success into a count window
//! full of successes is one more load, and any other outcome one or two
//! atomic adds. The tower layer also clones and drops one `Arc` per call
//! (its response future must own a handle on the circuit);
//! [`CircuitBreaker::try_acquire`] borrows instead. See `BENCHMARKS.md`.
//!
//! # Defaults
//!
//! | setting | default | resilience4j | Hystrix |
//! |---|---|---|---|
//! | window | last 100 calls | last 100 calls | last 10 s, 10 buckets |
//! | `minimum_calls` | 20 | 100 | 20 |
//! | `failure_rate_threshold` | 50 % | 50 % | 50 % |
//! | slow calls | off | 100 % slower than 60 s | off |
//! | open wait | 5 s, ×2 per repeated trip, at most 60 s | 60 s | 5 s |
//! | half-open probes | 5 | 10 | 1 |
//! | probe deadline | 10 s | none | none |
//! | ramp after probes | 10 %, 25 %, 50 % of calls, 1 s each | none | none |
//! | count other policies' rejections | no | yes (unless ignored) | n/a |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use ordo_resilience::{circuit_breaker::CircuitBreakerLayer, CircuitState, Error};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let breaker = CircuitBreakerLayer::builder()
//!     .count_window(10)
//!     .minimum_calls(5)
//!     .open_wait_fixed(Duration::from_secs(30))
//!     .build()
//!     .expect("valid settings");
//! let handle = breaker.breaker();
//! let mut svc = ServiceBuilder::new()
//!     .layer(breaker)
//!     .service(service_fn(|_: ()| async { Err::<(), _>(Error::Inner("down")) }));
//!
//! for _ in 0..5 {
//!     let _ = svc.ready().await.unwrap().call(()).await;
//! }
//! assert_eq!(handle.state(), CircuitState::Open);
//! let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
//! assert!(matches!(err, Error::CircuitOpen(_)));
//! # }
//! ```

mod circuit;
mod config;
mod error;
mod future;
mod layer;
mod service;
mod state;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use config::{CircuitBreakerConfig, HalfOpen, OpenWait, SlidingWindow, SlowCalls};
pub use error::CircuitOpen;
pub use future::ResponseFuture;
pub use layer::{CircuitBreakerBuilder, CircuitBreakerLayer};
pub use service::CircuitBreakerService;
pub use state::CircuitState;

pub(crate) use circuit::Circuit;

use crate::classify::Outcome;
pub use crate::window::Snapshot;

/// A handle on one circuit: read its state, change it by hand, or guard
/// calls that are not tower services. Cloning is cheap and every clone
/// controls the same circuit.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    circuit: Arc<Circuit>,
}

impl CircuitBreaker {
    /// A circuit with these settings, reporting to `telemetry`.
    pub fn new(
        config: CircuitBreakerConfig,
        telemetry: crate::Telemetry,
    ) -> Result<Self, crate::ConfigError> {
        config.validate()?;
        Ok(CircuitBreaker {
            circuit: Arc::new(Circuit::new(config, telemetry)),
        })
    }

    pub(crate) fn from_circuit(circuit: Arc<Circuit>) -> Self {
        CircuitBreaker { circuit }
    }

    /// Whether a call made now would be let through, without admitting it
    /// or changing anything: false while the circuit is forced open, or
    /// open and its wait lasts; true once the wait is over (the next
    /// `try_acquire` turns it half-open) and while half-open (where
    /// `try_acquire` still decides on its probes). For callers that choose
    /// among several circuits, as a load balancer does: skipping every
    /// circuit that reads `Open` would never let one half-open.
    #[inline]
    pub fn would_admit(&self) -> bool {
        self.circuit.peek_rejection().is_none()
    }

    /// The current state: one atomic load.
    ///
    /// An open circuit whose wait is over still reads `Open` until the next
    /// call turns it half-open.
    #[inline]
    pub fn state(&self) -> CircuitState {
        self.circuit.state()
    }

    /// What the window holds now.
    pub fn snapshot(&self) -> Snapshot {
        self.circuit.snapshot()
    }

    /// The settings.
    pub fn config(&self) -> &CircuitBreakerConfig {
        self.circuit.config()
    }

    /// The policy name it reports under.
    pub fn name(&self) -> &str {
        self.circuit.telemetry.name()
    }

    /// Rejects every call until [`close`](Self::close).
    pub fn force_open(&self) {
        self.circuit.force(CircuitState::ForcedOpen);
    }

    /// Lets every call through and records nothing, until changed by hand.
    pub fn disable(&self) {
        self.circuit.force(CircuitState::Disabled);
    }

    /// Records and reports every call but never opens, until changed by hand.
    pub fn metrics_only(&self) {
        self.circuit.force(CircuitState::MetricsOnly);
    }

    /// Closes the circuit with an empty window.
    pub fn close(&self) {
        self.circuit.force(CircuitState::Closed);
    }

    /// Opens the circuit as if it had tripped.
    pub fn open(&self) {
        self.circuit.force(CircuitState::Open);
    }

    /// Starts the half-open probes now.
    pub fn half_open(&self) {
        self.circuit.force(CircuitState::HalfOpen);
    }

    /// Asks to make one call. On `Ok`, make the call and report its outcome
    /// on the permit; dropping the permit without reporting counts as a
    /// cancelled call (nothing recorded, a probe's permit given back).
    ///
    /// ```
    /// use ordo_resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig::default(), Default::default()).unwrap();
    /// if let Ok(permit) = breaker.try_acquire() {
    ///     let ok = true; // make the call here
    ///     if ok { permit.success() } else { permit.failure() }
    /// }
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<CallPermit<'_>, CircuitOpen> {
        let permit = self.circuit.try_acquire()?;
        let start = self.circuit.times_calls().then(Instant::now);
        Ok(CallPermit {
            circuit: &self.circuit,
            permit,
            start,
            done: false,
        })
    }
}

/// Permission to make one call; see [`CircuitBreaker::try_acquire`].
#[derive(Debug)]
pub struct CallPermit<'a> {
    circuit: &'a Circuit,
    permit: circuit::Permit,
    start: Option<Instant>,
    done: bool,
}

impl CallPermit<'_> {
    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// Records `outcome`; slowness is measured from when the permit was
    /// granted.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        let (slow, now) = match (self.start, &self.circuit.config().slow_calls) {
            (Some(start), Some(s)) => {
                let now = Instant::now();
                (now.duration_since(start) > s.duration, Some(now))
            }
            _ => (false, None),
        };
        self.done = true;
        self.circuit.on_result(&self.permit, outcome, slow, now);
    }

    /// Records an outcome with a duration measured by the caller.
    pub fn record_with_duration(mut self, outcome: Outcome, elapsed: Duration) {
        let slow = self
            .circuit
            .config()
            .slow_calls
            .is_some_and(|s| elapsed > s.duration);
        self.done = true;
        self.circuit.on_result(&self.permit, outcome, slow, None);
    }
}

impl Drop for CallPermit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.circuit.on_cancel(&self.permit);
        }
    }
}

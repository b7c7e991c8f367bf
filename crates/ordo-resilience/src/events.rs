//! Events: what the policies decided, for anyone who wants to watch.
//!
//! Every layer reports its decisions (state transitions, rejections,
//! retries, fallbacks, hedges, limit changes) as an [`Event`] to the
//! listeners of its [`Telemetry`](crate::Telemetry). A listener is any
//! `Fn(&Event) + Send + Sync`; [`channel`] gives an async stream of owned
//! events. Successful calls that change nothing are not events, so a quiet
//! service costs nothing here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::circuit_breaker::CircuitState;
use crate::error::ErrorKind;
use crate::fallback::Cause;

/// One decision of one policy.
#[derive(Debug, Clone)]
pub struct Event {
    /// The name of the policy (the `policy` label of its metrics).
    pub policy: Arc<str>,
    /// When it happened.
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A circuit breaker changed state.
    CircuitTransition {
        /// The state it left.
        from: CircuitState,
        /// The state it entered.
        to: CircuitState,
    },
    /// A policy rejected a call without making it.
    Rejected {
        /// Which policy: circuit open, bulkhead full, limited, throttled or
        /// rate limited.
        reason: ErrorKind,
    },
    /// A call or an attempt ran out of time.
    TimedOut {
        /// The timeout that fired.
        after: Duration,
    },
    /// Retry will make another attempt after `delay`.
    Retry {
        /// The attempt about to be made (the first retry is attempt 2).
        attempt: u32,
        /// How long it waits first.
        delay: Duration,
    },
    /// Retry gave up and returned the last result.
    RetryGaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why it stopped.
        reason: GiveUp,
    },
    /// A fallback answered in place of the service.
    Fallback {
        /// What it replaced.
        cause: Cause,
    },
    /// Hedging sent another attempt while earlier ones were still running.
    Hedge {
        /// The attempt sent (the first hedge is attempt 2).
        attempt: u32,
        /// How long after the first attempt.
        after: Duration,
    },
    /// Hedging wanted to send an attempt but the budget said no.
    HedgeBudgetExhausted,
    /// An adaptive concurrency limit changed.
    LimitChanged {
        /// The old limit.
        from: u32,
        /// The new limit.
        to: u32,
    },
    /// A half-open probe ran past its deadline and was counted as a failure,
    /// releasing its permit.
    ProbeExpired,
}

/// Why retry stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUp {
    /// The maximum number of attempts was reached.
    Attempts,
    /// The retry budget was exhausted.
    Budget,
    /// The request is not idempotent and retrying it was not allowed.
    NotIdempotent,
    /// The request could not be cloned for another attempt.
    NotCloneable,
    /// The dependency asked to be retried later than retry waits.
    RetryAfterTooLong,
}

impl GiveUp {
    /// Every reason, in declaration order.
    pub const ALL: [GiveUp; 5] = [
        GiveUp::Attempts,
        GiveUp::Budget,
        GiveUp::NotIdempotent,
        GiveUp::NotCloneable,
        GiveUp::RetryAfterTooLong,
    ];

    /// A short, stable name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            GiveUp::Attempts => "attempts",
            GiveUp::Budget => "budget",
            GiveUp::NotIdempotent => "not-idempotent",
            GiveUp::NotCloneable => "not-cloneable",
            GiveUp::RetryAfterTooLong => "retry-after-too-long",
        }
    }
}

/// Something that observes events. Implemented for every
/// `Fn(&Event) + Send + Sync + 'static`.
///
/// Listeners run inline, on the task that made the decision: keep them
/// short and never block. To process events elsewhere, use [`channel`].
pub trait Listener: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync + 'static> Listener for F {
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

/// A listener that forwards events into an unbounded channel, and the
/// receiving end.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ordo_resilience::{events, Telemetry};
/// let (listener, mut rx) = events::channel();
/// let telemetry = Telemetry::new("payments").on_event(listener);
/// # drop(telemetry);
/// // ... build layers with `telemetry`, make calls, then:
/// while let Ok(event) = rx.try_recv() {
///     println!("{} {:?}", event.policy, event.kind);
/// }
/// # }
/// ```
pub fn channel() -> (ChannelListener, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (ChannelListener { tx }, rx)
}

/// The sending half made by [`channel`].
#[derive(Debug, Clone)]
pub struct ChannelListener {
    tx: mpsc::UnboundedSender<Event>,
}

impl Listener for ChannelListener {
    fn on_event(&self, event: &Event) {
        // A closed receiver means nobody is watching any more.
        let _ = self.tx.send(event.clone());
    }
}

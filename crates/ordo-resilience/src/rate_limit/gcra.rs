//! The generic cell rate algorithm over one atomic word.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::RateLimitConfig;
use crate::telemetry::Telemetry;

#[derive(Debug)]
pub(crate) struct Gcra {
    origin: Instant,
    /// The theoretical arrival time of the next call, in nanoseconds since
    /// `origin`.
    tat: AtomicU64,
    interval: u64,
    tolerance: u64,
    max_wait: u64,
    pub(crate) telemetry: Telemetry,
}

/// A reserved permit: the arrival time it moved from `start` to `end`, so
/// that an unused permit can be given back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    start: u64,
    end: u64,
}

/// The outcome of asking for a permit.
pub(crate) enum Reservation {
    /// Go now.
    Now(Token),
    /// A permit is reserved; go after this wait.
    After(Duration, Token),
    /// No permit within `max_wait`; one frees up after this.
    Denied(Duration),
}

impl Gcra {
    pub(crate) fn new(config: &RateLimitConfig, telemetry: Telemetry) -> Self {
        let interval = u64::try_from((config.period / config.rate).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        Gcra {
            origin: Instant::now(),
            tat: AtomicU64::new(0),
            interval,
            tolerance: interval.saturating_mul(u64::from(config.burst.max(1) - 1)),
            max_wait: u64::try_from(config.max_wait.as_nanos()).unwrap_or(u64::MAX),
            telemetry,
        }
    }

    /// Asks for a permit, reserving one up to `max_wait` ahead.
    #[inline]
    pub(crate) fn reserve(&self) -> Reservation {
        self.reserve_within(self.max_wait)
    }

    /// Asks for a permit now, reserving none ahead.
    #[inline]
    pub(crate) fn reserve_now(&self) -> Reservation {
        self.reserve_within(0)
    }

    fn reserve_within(&self, max_wait: u64) -> Reservation {
        let now = u64::try_from(
            Instant::now()
                .saturating_duration_since(self.origin)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX);
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let start = tat.max(now);
            // How early this call is beyond the burst allowance.
            let wait = start.saturating_sub(self.tolerance).saturating_sub(now);
            if wait > max_wait {
                return Reservation::Denied(Duration::from_nanos(wait));
            }
            let end = start.saturating_add(self.interval);
            match self
                .tat
                .compare_exchange_weak(tat, end, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // Giving the permit back restores the arrival time it
                    // found (not `start`, which may be `now`).
                    let token = Token { start: tat, end };
                    return if wait == 0 {
                        Reservation::Now(token)
                    } else {
                        Reservation::After(Duration::from_nanos(wait), token)
                    };
                }
                Err(actual) => tat = actual,
            }
        }
    }

    /// Gives back a permit that will not be used (its caller went away),
    /// unless later permits were reserved after it: those keep their place.
    pub(crate) fn refund(&self, token: Token) {
        let _ =
            self.tat
                .compare_exchange(token.end, token.start, Ordering::AcqRel, Ordering::Relaxed);
    }
}

//! The limiter shared by every clone of a limited service: the in-flight
//! count and the limit are atomics read on admission; the algorithm runs
//! under a short lock when a call finishes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, TryLockError};

use super::{LimitAlgorithm, Sample};
use crate::events::EventKind;
use crate::padded::Padded;
use crate::telemetry::Telemetry;

pub(crate) struct Limiter {
    in_flight: Padded<AtomicU32>,
    /// Read by every admission, written only when it changes: on a line of
    /// its own, away from the lock.
    limit: Padded<AtomicU32>,
    algorithm: Mutex<Box<dyn LimitAlgorithm>>,
    pub(crate) cancellation_is_drop: bool,
    pub(crate) telemetry: Telemetry,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("in_flight", &self.in_flight())
            .field("limit", &self.limit())
            .finish()
    }
}

impl Limiter {
    pub(crate) fn new(
        algorithm: Box<dyn LimitAlgorithm>,
        cancellation_is_drop: bool,
        telemetry: Telemetry,
    ) -> Self {
        let limit = algorithm.initial_limit().max(1);
        if let Some(m) = telemetry.metrics() {
            m.set_limit(limit);
        }
        Limiter {
            in_flight: Padded(AtomicU32::new(0)),
            limit: Padded(AtomicU32::new(limit)),
            algorithm: Mutex::new(algorithm),
            cancellation_is_drop,
            telemetry,
        }
    }

    pub(crate) fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Admits a call under the limit; returns the calls in flight with it.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Option<u32> {
        let limit = self.limit.load(Ordering::Relaxed);
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|n| n + 1)
    }

    /// A call ended without a sample.
    #[inline]
    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// A call ended with a sample.
    ///
    /// While another thread updates the algorithm, a sample without a drop
    /// is skipped rather than queued behind the lock: under high
    /// concurrency the algorithm still sees plenty of samples, and calls
    /// never wait on each other. Drops are never skipped.
    pub(crate) fn complete(&self, sample: Sample) {
        self.release();
        let (old, new) = {
            let mut algorithm = match self.algorithm.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::WouldBlock) if !sample.dropped => return,
                // A panic in an algorithm poisons the lock; the algorithm's
                // state is still a number, so carry on with it.
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => self
                    .algorithm
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
            let old = self.limit.load(Ordering::Relaxed);
            let new = algorithm.update(&sample).max(1);
            if new != old {
                self.limit.store(new, Ordering::Relaxed);
            }
            (old, new)
        };
        if old != new {
            self.telemetry
                .emit(EventKind::LimitChanged { from: old, to: new });
        }
    }
}

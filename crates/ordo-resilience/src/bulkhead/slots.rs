//! The bulkhead's slot counter: one atomic for the fast path, a `Notify`
//! for the callers that wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Notify;

use super::BulkheadConfig;
use crate::padded::Padded;
use crate::telemetry::Telemetry;

#[derive(Debug)]
pub(crate) struct Slots {
    in_flight: Padded<AtomicU32>,
    waiting: AtomicU32,
    notify: Arc<Notify>,
    pub(crate) config: BulkheadConfig,
    pub(crate) telemetry: Telemetry,
}

impl Slots {
    pub(crate) fn new(config: BulkheadConfig, telemetry: Telemetry) -> Self {
        Slots {
            in_flight: Padded(AtomicU32::new(0)),
            waiting: AtomicU32::new(0),
            notify: Arc::new(Notify::new()),
            config,
            telemetry,
        }
    }

    /// Takes a slot if one is free.
    #[inline]
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let max = self.config.max_concurrent_calls;
        // SeqCst pairs with `release`: a waiter that registered before a
        // release either sees the freed slot here or is notified.
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                slots: self.clone(),
            })
    }

    /// Registers a waiter, unless too many wait already.
    pub(crate) fn start_waiting(&self) -> bool {
        let max = self.config.max_waiting;
        self.waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn stop_waiting(&self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn notify(&self) -> &Arc<Notify> {
        &self.notify
    }

    /// Calls in flight now.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    #[inline]
    fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_one();
        }
    }
}

/// One taken slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
}

impl Drop for Slot {
    #[inline]
    fn drop(&mut self) {
        self.slots.release();
    }
}

//! The bulkhead without a service around it: take a permit, hold it for
//! the call, drop it when done. For callers that are not Tower services
//! (ordo's proxy runs its policies as named steps of one request).

use std::sync::Arc;

use super::slots::{Slot, Slots};
use super::{BulkheadConfig, BulkheadFull};
use crate::error::{ConfigError, ErrorKind};
use crate::events::EventKind;
use crate::telemetry::Telemetry;

/// A bulkhead's shared slots, used directly. Clones share the slots.
#[derive(Debug, Clone)]
pub struct Bulkhead {
    slots: Arc<Slots>,
}

/// A taken slot; the slot is freed when the permit is dropped.
#[derive(Debug)]
pub struct BulkheadPermit {
    _slot: Slot,
}

impl Bulkhead {
    /// A bulkhead with these settings.
    pub fn new(config: BulkheadConfig, telemetry: Telemetry) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Bulkhead {
            slots: Arc::new(Slots::new(config, telemetry)),
        })
    }

    pub(crate) fn from_slots(slots: Arc<Slots>) -> Self {
        Bulkhead { slots }
    }

    /// Calls holding a permit now.
    pub fn in_flight(&self) -> u32 {
        self.slots.in_flight()
    }

    /// The settings.
    pub fn config(&self) -> &BulkheadConfig {
        &self.slots.config
    }

    /// A permit if a slot is free now; never waits.
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit, BulkheadFull> {
        match self.slots.try_take() {
            Some(slot) => Ok(BulkheadPermit { _slot: slot }),
            None => Err(self.reject()),
        }
    }

    /// A permit, waiting for a slot up to the configured `max_wait` while
    /// fewer than `max_waiting` callers wait.
    pub async fn acquire(&self) -> Result<BulkheadPermit, BulkheadFull> {
        if let Some(slot) = self.slots.try_take() {
            return Ok(BulkheadPermit { _slot: slot });
        }
        let config = &self.slots.config;
        if config.max_wait.is_zero() || !self.slots.start_waiting() {
            return Err(self.reject());
        }
        let deadline = tokio::time::Instant::now() + config.max_wait;
        let result = loop {
            let notified = self.slots.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(slot) = self.slots.try_take() {
                break Ok(BulkheadPermit { _slot: slot });
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break match self.slots.try_take() {
                    Some(slot) => Ok(BulkheadPermit { _slot: slot }),
                    None => Err(()),
                };
            }
        };
        self.slots.stop_waiting();
        result.map_err(|()| self.reject())
    }

    fn reject(&self) -> BulkheadFull {
        self.slots.telemetry.emit(EventKind::Rejected {
            reason: ErrorKind::BulkheadFull,
        });
        BulkheadFull::new(self.slots.config.max_concurrent_calls)
    }
}

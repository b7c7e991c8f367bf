//! The adaptive limit without a service around it: take a permit, then say
//! how the call went. For callers that are not Tower services.

use std::sync::Arc;

use tokio::time::Instant;

use super::limiter::Limiter;
use super::{LimitExceeded, Sample};
use crate::error::ErrorKind;
use crate::events::EventKind;

/// An adaptive concurrency limit, used directly; from
/// [`ConcurrencyLimitLayer::limiter`](super::ConcurrencyLimitLayer::limiter).
/// Clones share the limit.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimiter {
    limiter: Arc<Limiter>,
}

/// One admitted call. Report how it went with [`success`](Self::success)
/// or [`dropped`](Self::dropped); a permit dropped unreported counts as a
/// cancellation (released without a sample, or as a drop when the limiter
/// was built with `cancellation_is_drop`).
#[derive(Debug)]
pub struct LimitPermit {
    limiter: Arc<Limiter>,
    start: Instant,
    in_flight: u32,
    done: bool,
}

impl ConcurrencyLimiter {
    pub(crate) fn new(limiter: Arc<Limiter>) -> Self {
        ConcurrencyLimiter { limiter }
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.limiter.limit()
    }

    /// Calls holding a permit now.
    pub fn in_flight(&self) -> u32 {
        self.limiter.in_flight()
    }

    /// A permit if the call fits under the limit.
    #[inline]
    pub fn try_acquire(&self) -> Result<LimitPermit, LimitExceeded> {
        match self.limiter.try_acquire() {
            Some(in_flight) => Ok(LimitPermit {
                limiter: self.limiter.clone(),
                start: Instant::now(),
                in_flight,
                done: false,
            }),
            None => {
                self.limiter.telemetry.emit(EventKind::Rejected {
                    reason: ErrorKind::ConcurrencyLimited,
                });
                Err(LimitExceeded::new(self.limiter.limit()))
            }
        }
    }
}

impl LimitPermit {
    /// The call succeeded; its latency is a sample.
    pub fn success(mut self) {
        self.finish(false);
    }

    /// The call failed in a way that signals overload (a timeout, a
    /// rejection by the dependency); the limit backs off.
    pub fn dropped(mut self) {
        self.finish(true);
    }

    /// The call says nothing about the dependency's load (a client error,
    /// say): release the slot without a sample.
    pub fn ignore(mut self) {
        self.done = true;
        self.limiter.release();
    }

    fn finish(&mut self, dropped: bool) {
        self.done = true;
        self.limiter.complete(Sample {
            rtt: self.start.elapsed(),
            in_flight: self.in_flight,
            dropped,
        });
    }
}

impl Drop for LimitPermit {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.limiter.cancellation_is_drop {
            self.finish(true);
        } else {
            self.limiter.release();
        }
    }
}

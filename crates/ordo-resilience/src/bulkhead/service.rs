//! The bulkhead service: takes a slot in `poll_ready`, hands it to the
//! response future in `call`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::futures::OwnedNotified;
use tokio::time::Sleep;
use tower_service::Service;

use super::slots::{Slot, Slots};
use super::{BulkheadFull, ResponseFuture};
use crate::error::ErrorKind;
use crate::events::EventKind;

/// A service behind a bulkhead; made by [`BulkheadLayer`](super::BulkheadLayer).
#[derive(Debug)]
pub struct BulkheadService<S> {
    inner: S,
    slots: Option<Arc<Slots>>,
    state: Readiness,
}

#[derive(Debug)]
enum Readiness {
    /// Nothing reserved yet.
    Idle,
    /// Waiting for a slot, until the timer fires.
    Waiting {
        notified: Pin<Box<OwnedNotified>>,
        timer: Pin<Box<Sleep>>,
    },
    /// A slot is reserved for the next call.
    Reserved(Slot),
    /// No slot: the next call is rejected.
    Full,
}

impl<S: Clone> Clone for BulkheadService<S> {
    fn clone(&self) -> Self {
        // A reservation belongs to the service that made it.
        BulkheadService {
            inner: self.inner.clone(),
            slots: self.slots.clone(),
            state: Readiness::Idle,
        }
    }
}

impl<S> BulkheadService<S> {
    pub(crate) fn new(inner: S, slots: Option<Arc<Slots>>) -> Self {
        BulkheadService {
            inner,
            slots,
            state: Readiness::Idle,
        }
    }

    /// Calls in flight through this bulkhead (shared by all clones).
    pub fn in_flight(&self) -> u32 {
        self.slots.as_ref().map_or(0, |s| s.in_flight())
    }
}

/// Reserves a slot in `state`, waiting within the bulkhead's limits.
fn wait_for_slot(slots: &Arc<Slots>, state: &mut Readiness, cx: &mut Context<'_>) -> Poll<()> {
    loop {
        match state {
            Readiness::Reserved(_) => return Poll::Ready(()),
            // Polled again after finding no slot: look again.
            Readiness::Full => {
                return match slots.try_take() {
                    Some(slot) => {
                        *state = Readiness::Reserved(slot);
                        Poll::Ready(())
                    }
                    None => Poll::Ready(()),
                };
            }
            Readiness::Idle => {
                if let Some(slot) = slots.try_take() {
                    *state = Readiness::Reserved(slot);
                } else if slots.config.max_wait.is_zero() || !slots.start_waiting() {
                    *state = Readiness::Full;
                } else {
                    let mut notified = Box::pin(slots.notify().clone().notified_owned());
                    notified.as_mut().enable();
                    *state = Readiness::Waiting {
                        notified,
                        timer: Box::pin(tokio::time::sleep(slots.config.max_wait)),
                    };
                }
            }
            Readiness::Waiting { notified, timer } => {
                // Check the slot after registering for notification, so
                // a release in between is not missed.
                if let Some(slot) = slots.try_take() {
                    slots.stop_waiting();
                    *state = Readiness::Reserved(slot);
                    continue;
                }
                if notified.as_mut().poll(cx).is_ready() {
                    let mut next = Box::pin(slots.notify().clone().notified_owned());
                    next.as_mut().enable();
                    *notified = next;
                    continue;
                }
                if timer.as_mut().poll(cx).is_ready() {
                    slots.stop_waiting();
                    *state = Readiness::Full;
                    continue;
                }
                return Poll::Pending;
            }
        }
    }
}

impl<S> Drop for BulkheadService<S> {
    fn drop(&mut self) {
        if let (Readiness::Waiting { .. }, Some(slots)) = (&self.state, &self.slots) {
            slots.stop_waiting();
        }
    }
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req>,
    S::Error: From<BulkheadFull>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let Some(slots) = &self.slots else {
            return self.inner.poll_ready(cx);
        };
        if wait_for_slot(slots, &mut self.state, cx).is_pending() {
            return Poll::Pending;
        }
        match self.state {
            // The call will be rejected without reaching the inner service.
            Readiness::Full => Poll::Ready(Ok(())),
            _ => self.inner.poll_ready(cx),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Some(slots) = &self.slots else {
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        let state = std::mem::replace(&mut self.state, Readiness::Idle);
        let slot = match state {
            Readiness::Reserved(slot) => Some(slot),
            // Called without poll_ready (or before it finished): try once.
            Readiness::Idle => slots.try_take(),
            Readiness::Waiting { .. } => {
                slots.stop_waiting();
                slots.try_take()
            }
            Readiness::Full => None,
        };
        match slot {
            Some(slot) => ResponseFuture::admitted(self.inner.call(req), slot),
            None => {
                slots.telemetry.emit(EventKind::Rejected {
                    reason: ErrorKind::BulkheadFull,
                });
                ResponseFuture::rejected(BulkheadFull::new(slots.config.max_concurrent_calls))
            }
        }
    }
}

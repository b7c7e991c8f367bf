//! The scheduler task, and the task each request runs in.
//!
//! The scheduler sleeps until the next request is due, takes a slot, spawns
//! the request and moves on; it never waits for a response. When it wakes
//! late (a busy runtime, or Tokio's 1 ms timer granularity at rates above
//! 1,000/s), it sends every request already due at once, each keeping its
//! own intended send time. When every slot is taken, it waits for one while
//! the schedule runs on: the requests it sends after the wait carry the
//! times they were due, so the wait is part of their latency.

use std::sync::Arc;

use tokio::task::coop::consume_budget;
use tokio::time::{Instant, sleep_until, timeout};

use super::Ctx;
use crate::error::ErrorKind;
use crate::record::Completion;
use crate::transport::Transport;

/// Sends requests on schedule until the run's limit or a stop.
pub(crate) async fn schedule<T: Transport>(ctx: Arc<Ctx<T>>) {
    let shared = &ctx.shared;
    let mut stop = shared.stop_signal();
    let sleep = sleep_until(shared.schedule.start());
    tokio::pin!(sleep);
    let mut now = Instant::now();
    let mut i: u64 = 0;
    loop {
        if shared.plan.limit.is_some_and(|limit| i >= limit) || shared.is_stopping() {
            break;
        }
        let due = shared.schedule.due(i);
        if due > now {
            now = Instant::now();
            if due > now {
                sleep.as_mut().reset(due);
                tokio::select! {
                    biased;
                    _ = stop.changed() => break,
                    () = &mut sleep => {}
                }
                now = Instant::now();
            }
        }
        match shared.slots.try_acquire() {
            Ok(slot) => slot.forget(),
            Err(_) => tokio::select! {
                biased;
                _ = stop.changed() => break,
                slot = shared.slots.acquire() => match slot {
                    Ok(slot) => slot.forget(),
                    Err(_) => break, // closed: never happens, the run owns the slots
                },
            },
        }
        shared.count_sent();
        tokio::spawn(request(Arc::clone(&ctx), due));
        i += 1;
        // Let request tasks and the recorder run during long catch-up bursts.
        consume_budget().await;
    }
    shared.scheduling_ended(i);
}

/// Sends one request and reports how it ended. Its slot is given back when
/// the task ends, however it ends.
async fn request<T: Transport>(ctx: Arc<Ctx<T>>, due: Instant) {
    let slot = Slot(ctx);
    let ctx = &slot.0;
    let sent = Instant::now();
    let outcome = match timeout(ctx.shared.plan.timeout, ctx.transport.send()).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ErrorKind::Timeout),
    };
    let done = Instant::now();
    // Fails only when the run was dropped, and nobody is counting any more.
    let _ = ctx.shared.completions.send(Completion {
        due,
        sent,
        done,
        outcome,
    });
}

/// A taken slot; dropping it gives the slot back.
struct Slot<T: Transport>(Arc<Ctx<T>>);

impl<T: Transport> Drop for Slot<T> {
    fn drop(&mut self) {
        self.0.shared.slots.add_permits(1);
    }
}

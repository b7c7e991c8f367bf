//! The recorder task: tallies completions in batches, closes one-second
//! intervals and publishes a snapshot as each closes.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use super::shared::Shared;
use crate::record::{Completion, INTERVAL};
use crate::snapshot::Snapshot;

/// Completions taken off the channel per lock of the accounts.
const BATCH: usize = 512;

/// Runs until `finish` fires, then tallies what is left and publishes the
/// final snapshot.
pub(crate) async fn record(
    shared: Arc<Shared>,
    mut completions: mpsc::UnboundedReceiver<Completion>,
    mut finish: oneshot::Receiver<()>,
    feed: watch::Sender<Snapshot>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut tick = interval_at(shared.schedule.start() + INTERVAL, INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let closed = tokio::select! {
            n = completions.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                shared.record(&mut batch, None)
            }
            _ = tick.tick() => {
                drain(&mut completions, &mut batch);
                shared.record(&mut batch, Some(Instant::now()))
            }
            _ = &mut finish => break,
        };
        if closed {
            publish(&shared, &feed);
        }
    }
    // Every request task has ended (finish() waited for their slots), so
    // what they reported is in the channel.
    drain(&mut completions, &mut batch);
    if shared.record(&mut batch, shared.ended()) {
        publish(&shared, &feed);
    }
    shared.mark_finished();
    publish(&shared, &feed);
}

fn drain(completions: &mut mpsc::UnboundedReceiver<Completion>, batch: &mut Vec<Completion>) {
    while let Ok(c) = completions.try_recv() {
        batch.push(c);
    }
}

fn publish(shared: &Shared, feed: &watch::Sender<Snapshot>) {
    feed.send_replace(shared.snapshot());
}

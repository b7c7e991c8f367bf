//! The sweeper: a task that evicts instances whose lease lapsed.
//!
//! It wakes every sweep interval (tokio time, so tests drive it on a paused clock) and
//! holds only a weak reference between sweeps, so it stops by itself once the registry
//! is dropped.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::Inner;

pub(super) fn spawn(inner: Weak<Inner>, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else { break };
            // Evictions run in a task of their own, so a dropped sweeper never leaves
            // an eviction half-applied.
            let sweep = tokio::spawn(async move { inner.sweep().await });
            match sweep.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "lease sweep failed; retrying next tick"),
                Err(e) => tracing::warn!(error = %e, "lease sweep task failed"),
            }
        }
    });
}

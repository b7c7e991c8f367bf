//! [`Load::start`] and the [`LoadRun`] it returns: a run's three kinds of
//! task and the handle that watches, stops and finishes them.
//!
//! - the scheduler (`scheduler.rs`) spawns each request when it is due;
//! - each request runs in its own task, under the per-request timeout, and
//!   reports its [`Completion`](crate::record::Completion) down a channel;
//! - the recorder (`recorder.rs`) tallies completions, closes one-second
//!   intervals and publishes snapshots.

mod recorder;
mod scheduler;
mod shared;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::shared::Shared;
use crate::error::LoadError;
use crate::report::Report;
use crate::snapshot::Snapshot;
use crate::spec::{LoadSpec, Plan};
use crate::transport::{HttpTransport, Transport};

/// The load generator's entry point.
#[derive(Debug)]
pub struct Load;

impl Load {
    /// Validates `spec` and starts sending: the first request goes out at
    /// once, the rest on schedule. Call it from within a Tokio runtime; the
    /// run's tasks are spawned on it.
    pub fn start(spec: LoadSpec) -> Result<LoadRun, LoadError> {
        let (target, plan) = spec.compile()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(LoadError::NoRuntime);
        }
        Ok(start_with(plan, HttpTransport::new(target)))
    }
}

/// What each request task needs: the run's state and the transport.
#[derive(Debug)]
pub(crate) struct Ctx<T> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) transport: T,
}

/// Starts a run of `plan` over `transport`, inside a Tokio runtime.
pub(crate) fn start_with<T: Transport>(plan: Plan, transport: T) -> LoadRun {
    let start = Instant::now();
    let (completions, completed) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(start, plan, completions));
    let (feed, feed_rx) = watch::channel(shared.snapshot());
    let (finish, finish_rx) = oneshot::channel();
    let recorder = tokio::spawn(recorder::record(
        Arc::clone(&shared),
        completed,
        finish_rx,
        feed,
    ));
    let ctx = Arc::new(Ctx {
        shared: Arc::clone(&shared),
        transport,
    });
    let scheduler = tokio::spawn(scheduler::schedule(ctx));
    LoadRun {
        shared,
        feed: feed_rx,
        scheduler: Some(scheduler),
        recorder: Some(recorder),
        finish: Some(finish),
    }
}

/// A running load. Watch it with [`snapshot`](LoadRun::snapshot) or
/// [`subscribe`](LoadRun::subscribe), end it with [`stop`](LoadRun::stop)
/// and [`finish`](LoadRun::finish).
///
/// Dropping a run without finishing it stops scheduling and tallying at
/// once; requests already in flight end on their own (within the timeout)
/// and are not counted.
#[derive(Debug)]
pub struct LoadRun {
    shared: Arc<Shared>,
    feed: watch::Receiver<Snapshot>,
    scheduler: Option<JoinHandle<()>>,
    recorder: Option<JoinHandle<()>>,
    finish: Option<oneshot::Sender<()>>,
}

impl LoadRun {
    /// Where the run stands now: cumulative counts and latencies, and those
    /// of the last whole second. Completions reported in the last few
    /// microseconds may not be tallied yet.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// A feed of snapshots: a new one as each second of the run closes, and
    /// a final one (with [`Snapshot::finished`] set) when the run ends, after
    /// which the feed closes. A slow reader sees the latest snapshot.
    ///
    /// ```no_run
    /// # async fn demo(run: ordo_load::LoadRun) {
    /// let mut feed = run.subscribe();
    /// while feed.changed().await.is_ok() {
    ///     println!("{}", ordo_load::summary_line(&feed.borrow_and_update()));
    /// }
    /// # }
    /// ```
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.feed.clone()
    }

    /// Sends no more requests. Requests in flight finish (or time out) and
    /// are counted; due requests still waiting for a slot are not sent and
    /// show as intended but not sent. Calling it again does nothing.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Waits for the run to end and returns its report: for a bounded run
    /// (a duration or `max_requests`), until every scheduled request has
    /// finished and the planned time has passed; for an unbounded one, it
    /// stops the run first. Either way it waits for requests in flight, each
    /// at most its timeout.
    pub async fn finish(mut self) -> Report {
        if self.shared.plan.limit.is_none() {
            self.shared.stop();
        }
        if let Some(scheduler) = self.scheduler.take()
            && let Err(e) = scheduler.await
        {
            tracing::error!(error = %e, "the load scheduler failed");
        }
        // Every slot free again means every request task has ended.
        let all = u32::try_from(self.shared.plan.max_in_flight)
            .expect("max_in_flight is validated to at most 1,000,000");
        if let Ok(slots) = self.shared.slots.acquire_many(all).await {
            slots.forget();
        }
        // A 10 s run lasts 10 s, so its per-second feed covers every second.
        if let Some(end) = self.shared.planned_end() {
            tokio::time::sleep_until(end).await;
        }
        self.shared.end();
        if let Some(finish) = self.finish.take() {
            let _ = finish.send(());
        }
        if let Some(recorder) = self.recorder.take()
            && let Err(e) = recorder.await
        {
            tracing::error!(error = %e, "the load recorder failed");
        }
        let accounts = self.shared.accounts();
        Report::new(
            self.shared.snapshot_of(&accounts, Instant::now()),
            accounts.total.histogram().clone(),
        )
    }
}

impl Drop for LoadRun {
    fn drop(&mut self) {
        if let Some(scheduler) = self.scheduler.take() {
            self.shared.stop();
            scheduler.abort();
        }
        if let Some(recorder) = self.recorder.take() {
            recorder.abort();
        }
    }
}

#[cfg(test)]
mod tests;

//! [`Shared`]: the state of one run that its scheduler, its request tasks,
//! its recorder and its [`LoadRun`](crate::LoadRun) handle all see.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::record::{Accounts, Completion, Progress};
use crate::schedule::Schedule;
use crate::snapshot::Snapshot;
use crate::spec::Plan;

/// One run's shared state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) schedule: Schedule,
    pub(crate) plan: Plan,
    /// Requests handed to the transport. Written by the scheduler only.
    sent: AtomicU64,
    /// Slots for requests in flight: the scheduler takes one per request,
    /// the request task gives it back when it ends.
    pub(crate) slots: Semaphore,
    /// Where request tasks report how they ended.
    pub(crate) completions: mpsc::UnboundedSender<Completion>,
    accounts: Mutex<Accounts>,
    stopping: AtomicBool,
    stop: watch::Sender<bool>,
    /// When `stop()` was first called.
    stopped_at: OnceLock<Instant>,
    /// Requests the schedule called for in all, set when the scheduler ends.
    scheduled: OnceLock<u64>,
    /// When the run ended (all requests finished), set by `finish()`.
    ended: OnceLock<Instant>,
    /// Whether the recorder has tallied every request of the ended run.
    finished: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        start: Instant,
        plan: Plan,
        completions: mpsc::UnboundedSender<Completion>,
    ) -> Self {
        Self {
            schedule: Schedule::new(start, plan.rate),
            plan,
            sent: AtomicU64::new(0),
            slots: Semaphore::new(plan.max_in_flight),
            completions,
            accounts: Mutex::new(Accounts::new(start)),
            stopping: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            stopped_at: OnceLock::new(),
            scheduled: OnceLock::new(),
            ended: OnceLock::new(),
            finished: AtomicBool::new(false),
        }
    }

    /// The accounts, even if a panic poisoned their lock (they hold only
    /// counters, which stay meaningful).
    pub(crate) fn accounts(&self) -> MutexGuard<'_, Accounts> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request as sent (the scheduler, before spawning it).
    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the scheduler to send no more requests.
    pub(crate) fn stop(&self) {
        self.stopped_at.get_or_init(Instant::now);
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.send_replace(true);
    }

    /// Whether `stop()` was called.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// A receiver that changes when `stop()` is called.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// The scheduler ended after sending `sent` requests: fixes how many the
    /// run intended (those it sent, plus those due before a stop that were
    /// still waiting for a slot).
    pub(crate) fn scheduling_ended(&self, sent: u64) {
        let abandoned = self
            .stopped_at
            .get()
            .map_or(0, |&at| self.capped(self.schedule.due_before(at)));
        self.scheduled.get_or_init(|| sent.max(abandoned));
    }

    /// When a bounded run that was not stopped is planned to end: one
    /// period after its last request was due, so that its `limit` requests
    /// span the run at the planned rate.
    pub(crate) fn planned_end(&self) -> Option<Instant> {
        match (self.stopped_at.get(), self.plan.limit) {
            (None, Some(limit)) => Some(self.schedule.due(limit)),
            _ => None,
        }
    }

    /// Marks the run as ended now, or at its planned end if that is later.
    pub(crate) fn end(&self) -> Instant {
        let end = Instant::now().max(self.planned_end().unwrap_or(self.schedule.start()));
        *self.ended.get_or_init(|| end)
    }

    /// When the run ended, once it has.
    pub(crate) fn ended(&self) -> Option<Instant> {
        self.ended.get().copied()
    }

    /// The recorder tallied everything: snapshots from now on are final.
    pub(crate) fn mark_finished(&self) {
        self.finished.store(true, Ordering::Release);
    }

    /// Tallies a batch of completions, closing intervals up to `now` if
    /// given. Returns whether an interval closed.
    pub(crate) fn record(&self, batch: &mut Vec<Completion>, now: Option<Instant>) -> bool {
        let mut accounts = self.accounts();
        let mut closed = false;
        for c in batch.drain(..) {
            closed |= accounts.record(&c, self);
        }
        if let Some(now) = now {
            closed |= accounts.close_intervals(now, self);
        }
        closed
    }

    /// A snapshot as of now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let accounts = self.accounts();
        self.snapshot_of(&accounts, Instant::now())
    }

    /// A snapshot of `accounts` as of `now` (or the run's end).
    pub(crate) fn snapshot_of(&self, accounts: &Accounts, now: Instant) -> Snapshot {
        let finished = self.finished.load(Ordering::Acquire);
        let end = self.ended.get().copied().unwrap_or(now);
        let elapsed = end.saturating_duration_since(self.schedule.start());
        let done = accounts.total.finished();
        // Read after the accounts, so `sent >= done` always holds.
        let sent = self.sent();
        let intended = self.intended(end, Schedule::due_by);
        Snapshot {
            elapsed,
            target_rate: self.plan.rate,
            in_flight: sent.saturating_sub(done),
            total: accounts.total.window(elapsed, intended, sent),
            last_second: accounts.last_second.clone(),
            finished,
        }
    }

    fn capped(&self, n: u64) -> u64 {
        self.plan.limit.map_or(n, |limit| n.min(limit))
    }

    /// Requests due by `at` according to `count`, within the run's limit
    /// and its stop.
    fn intended(&self, at: Instant, count: fn(&Schedule, Instant) -> u64) -> u64 {
        let due = count(&self.schedule, at);
        if let Some(&scheduled) = self.scheduled.get() {
            return due.min(scheduled);
        }
        match self.stopped_at.get() {
            Some(&stop) if stop < at => self.capped(count(&self.schedule, stop)).max(self.sent()),
            _ => self.capped(due),
        }
    }
}

impl Progress for Shared {
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn intended_before(&self, at: Instant) -> u64 {
        self.intended(at, Schedule::due_before)
    }
}

//! Lock-free sliding windows of call outcomes and counters.
//!
//! Circuit breakers, retry budgets and adaptive throttling all ask "what
//! happened recently?" on every call, from every thread. Taking a mutex
//! there would serialise the whole service behind one lock, so these
//! windows are made of atomics only:
//!
//! - [`CountWindow`]: the last *N* calls (resilience4j's count-based window).
//!   Recording a call whose outcome equals the one it evicts is one atomic
//!   add and one load, which is the common case of a healthy dependency.
//! - [`Buckets`]: counters over the last *T* of time, split in buckets that
//!   roll over by themselves (resilience4j's and Hystrix's time-based window,
//!   Finagle's budget window, the SRE book's two-minute history).

pub(crate) mod buckets;
pub(crate) mod count;

pub(crate) use buckets::Buckets;
pub(crate) use count::CountWindow;

/// Calls, failures and slow calls seen by a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Calls recorded.
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
    /// Of which were slow (failed or not).
    pub slow: u64,
}

impl Snapshot {
    /// Failed calls as a percentage of calls (0 when there are none).
    pub fn failure_rate(&self) -> f64 {
        percent(self.failures, self.calls)
    }

    /// Slow calls as a percentage of calls (0 when there are none).
    pub fn slow_call_rate(&self) -> f64 {
        percent(self.slow, self.calls)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

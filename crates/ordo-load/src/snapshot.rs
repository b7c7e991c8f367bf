//! [`Snapshot`]: where a run stands, cumulative and over its last whole
//! second, as [`LoadRun::snapshot`](crate::LoadRun::snapshot) and the
//! per-second feed report it.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A run's counts and latencies at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Time since the run started (for a finished run: until it ended).
    pub elapsed: Duration,
    /// The rate the spec asked for, in requests per second.
    pub target_rate: f64,
    /// Requests sent and not yet answered or failed.
    pub in_flight: u64,
    /// Everything since the start.
    pub total: Window,
    /// The last whole second (`[n s, n+1 s)` from the start); `None` during
    /// the first second.
    pub last_second: Option<Window>,
    /// Whether this is the final snapshot of a finished run.
    pub finished: bool,
}

/// Counts and latencies over a stretch of a run.
///
/// Every request sent ends in exactly one of `completed` (an HTTP
/// response, whatever its status) or `errors`; so, once nothing is in
/// flight, `completed + errors.total() == sent`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    /// How long the stretch lasted.
    pub duration: Duration,
    /// Requests whose intended send time fell in the stretch. More than
    /// `sent` when requests wait for a slot, or when a stop abandoned them.
    pub intended: u64,
    /// Requests handed to the client.
    pub sent: u64,
    /// Requests that got a response, of any status.
    pub completed: u64,
    /// Responses with a status below 400 (2xx and 3xx).
    pub ok: u64,
    /// Responses with a 4xx status.
    pub status_4xx: u64,
    /// Responses with a 5xx status.
    pub status_5xx: u64,
    /// Requests that got no response, by kind.
    pub errors: Errors,
    /// Requests finished (completed or failed) per second over the stretch.
    pub achieved_rate: f64,
    /// Latency of the completed requests, each measured from its intended
    /// send time to the end of its response. Failed requests are counted in
    /// `errors`, not here.
    pub latency: Latency,
    /// How late the generator sent each finished request: from its
    /// intended send time to when its task began sending it. This is part of
    /// every latency above; a large send lag means the generator (all
    /// `max_in_flight` slots busy, or a saturated CPU), not the server,
    /// held requests back.
    pub send_lag: Latency,
}

impl Window {
    /// Requests finished: `completed` plus every error.
    pub fn finished(&self) -> u64 {
        self.completed + self.errors.total()
    }

    /// The share of finished requests that failed without a response, in
    /// `0.0..=1.0` (`0.0` when nothing finished).
    pub fn error_ratio(&self) -> f64 {
        match self.finished() {
            0 => 0.0,
            n => self.errors.total() as f64 / n as f64,
        }
    }
}

/// Requests that got no response, by [`ErrorKind`](crate::ErrorKind).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    /// No complete response within the timeout.
    pub timeout: u64,
    /// The connection could not be opened.
    pub connect: u64,
    /// Any other transport or protocol failure.
    pub io: u64,
}

impl Errors {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.timeout + self.connect + self.io
    }
}

/// Latency percentiles, as HdrHistogram reports them (each value is the
/// highest value equivalent to the true one at three significant digits),
/// and the exact maximum. All zero when nothing completed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// The slowest, exactly.
    pub max: Duration,
    /// The mean (of values at three significant digits).
    pub mean: Duration,
}

impl Latency {
    /// Percentiles of a histogram of microseconds whose exact maximum is
    /// `max_us`.
    pub(crate) fn of(h: &Histogram<u64>, max_us: u64) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let at = |q: f64| micros(h.value_at_quantile(q));
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: micros(max_us),
            mean: Duration::from_secs_f64(h.mean() / 1e6),
        }
    }
}

/// A duration from whole microseconds.
pub(crate) fn micros(us: u64) -> Duration {
    Duration::from_micros(us)
}

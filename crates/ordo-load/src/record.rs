//! The accounts of a run: every finished request tallied into the
//! cumulative totals and into the current one-second interval.
//!
//! Request tasks never touch these: they send a [`Completion`] down a
//! channel, and one recorder task (`run::recorder`) tallies them in
//! batches, so the request path takes no lock.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::error::ErrorKind;
use crate::snapshot::{Errors, Latency, Window};

/// The highest latency recorded exactly: one hour, in microseconds. Slower
/// responses are recorded as one hour.
pub(crate) const MAX_LATENCY_US: u64 = 3_600_000_000;
/// HdrHistogram's precision: three significant digits.
pub(crate) const SIGNIFICANT_DIGITS: u8 = 3;

/// One interval: the feed and `last_second` cover one second each.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// An empty latency histogram: microseconds from 1 µs to one hour at three
/// significant digits.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
        .expect("1 µs ..= 1 h at 3 significant digits are valid bounds")
}

/// How one request ended, as its task reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Completion {
    /// Its intended send time.
    pub(crate) due: Instant,
    /// When its task started sending it.
    pub(crate) sent: Instant,
    /// When its response ended (or its error happened).
    pub(crate) done: Instant,
    /// Its status code, or why it has none.
    pub(crate) outcome: Result<u16, ErrorKind>,
}

impl Completion {
    /// From intended send time to the end: the coordinated-omission-free
    /// latency, in whole microseconds.
    pub(crate) fn latency_us(&self) -> u64 {
        micros_between(self.due, self.done)
    }

    /// From intended to actual send time: the generator's own lag, in whole
    /// microseconds.
    pub(crate) fn lag_us(&self) -> u64 {
        micros_between(self.due, self.sent)
    }
}

fn micros_between(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
}

/// Outcomes and latencies of some finished requests.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    completed: u64,
    ok: u64,
    status_4xx: u64,
    status_5xx: u64,
    errors: Errors,
    latency: Histogram<u64>,
    /// The exact maximum (the histogram keeps three significant digits).
    max_us: u64,
    /// Send lag of every finished request, completed or not.
    lag: Histogram<u64>,
    max_lag_us: u64,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            completed: 0,
            ok: 0,
            status_4xx: 0,
            status_5xx: 0,
            errors: Errors::default(),
            latency: latency_histogram(),
            max_us: 0,
            lag: latency_histogram(),
            max_lag_us: 0,
        }
    }

    fn add(&mut self, c: &Completion) {
        let lag = c.lag_us();
        self.lag.saturating_record(lag);
        self.max_lag_us = self.max_lag_us.max(lag);
        match c.outcome {
            Ok(status) => {
                self.completed += 1;
                match status {
                    0..400 => self.ok += 1,
                    400..500 => self.status_4xx += 1,
                    _ => self.status_5xx += 1,
                }
                let us = c.latency_us();
                self.latency.saturating_record(us);
                self.max_us = self.max_us.max(us);
            }
            Err(ErrorKind::Timeout) => self.errors.timeout += 1,
            Err(ErrorKind::Connect) => self.errors.connect += 1,
            Err(ErrorKind::Io) => self.errors.io += 1,
        }
    }

    fn reset(&mut self) {
        self.completed = 0;
        self.ok = 0;
        self.status_4xx = 0;
        self.status_5xx = 0;
        self.errors = Errors::default();
        self.latency.reset();
        self.max_us = 0;
        self.lag.reset();
        self.max_lag_us = 0;
    }

    /// Requests finished: completed or failed.
    pub(crate) fn finished(&self) -> u64 {
        self.completed + self.errors.total()
    }

    /// The latencies, in microseconds.
    pub(crate) fn histogram(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// This tally as a window of `duration` with the scheduler's counts.
    pub(crate) fn window(&self, duration: Duration, intended: u64, sent: u64) -> Window {
        let secs = duration.as_secs_f64();
        Window {
            duration,
            intended,
            sent,
            completed: self.completed,
            ok: self.ok,
            status_4xx: self.status_4xx,
            status_5xx: self.status_5xx,
            errors: self.errors,
            achieved_rate: if secs > 0.0 {
                self.finished() as f64 / secs
            } else {
                0.0
            },
            latency: Latency::of(&self.latency, self.max_us),
            send_lag: Latency::of(&self.lag, self.max_lag_us),
        }
    }
}

/// What the scheduler knows that the accounts need when an interval closes.
pub(crate) trait Progress {
    /// Requests sent so far.
    fn sent(&self) -> u64;
    /// Requests due strictly before `at` (within the run's limits).
    fn intended_before(&self, at: Instant) -> u64;
}

/// The run's tallies: since the start, in the current interval, and the last
/// closed interval.
#[derive(Debug)]
pub(crate) struct Accounts {
    pub(crate) total: Tally,
    current: Tally,
    current_start: Instant,
    sent_at_current_start: u64,
    pub(crate) last_second: Option<Window>,
}

impl Accounts {
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            total: Tally::new(),
            current: Tally::new(),
            current_start: start,
            sent_at_current_start: 0,
            last_second: None,
        }
    }

    /// Tallies one finished request, first closing the intervals that ended
    /// before it did. Returns whether an interval closed.
    pub(crate) fn record(&mut self, c: &Completion, progress: &impl Progress) -> bool {
        let closed = self.close_intervals(c.done, progress);
        self.total.add(c);
        self.current.add(c);
        closed
    }

    /// Closes every interval that ended at or before `now`. Returns whether
    /// one did.
    pub(crate) fn close_intervals(&mut self, now: Instant, progress: &impl Progress) -> bool {
        let mut closed = false;
        while now >= self.current_start + INTERVAL {
            let end = self.current_start + INTERVAL;
            let sent = progress.sent();
            let intended =
                progress.intended_before(end) - progress.intended_before(self.current_start);
            self.last_second = Some(self.current.window(
                INTERVAL,
                intended,
                sent - self.sent_at_current_start,
            ));
            self.current.reset();
            self.current_start = end;
            self.sent_at_current_start = sent;
            closed = true;
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    struct Fixed;

    impl Progress for Fixed {
        fn sent(&self) -> u64 {
            0
        }
        fn intended_before(&self, _: Instant) -> u64 {
            0
        }
    }

    fn done(
        start: Instant,
        due_ms: u64,
        done_ms: u64,
        outcome: Result<u16, ErrorKind>,
    ) -> Completion {
        Completion {
            due: start + Duration::from_millis(due_ms),
            sent: start + Duration::from_millis(due_ms),
            done: start + Duration::from_millis(done_ms),
            outcome,
        }
    }

    #[test]
    fn outcomes_are_classified() {
        let start = Instant::now();
        let mut a = Accounts::new(start);
        for outcome in [
            Ok(200),
            Ok(304),
            Ok(404),
            Ok(503),
            Err(ErrorKind::Timeout),
            Err(ErrorKind::Connect),
            Err(ErrorKind::Io),
        ] {
            a.record(&done(start, 0, 5, outcome), &Fixed);
        }
        let w = a.total.window(Duration::from_secs(1), 7, 7);
        assert_eq!(
            (w.completed, w.ok, w.status_4xx, w.status_5xx),
            (4, 2, 1, 1)
        );
        assert_eq!(
            w.errors,
            Errors {
                timeout: 1,
                connect: 1,
                io: 1
            }
        );
        assert_eq!(w.finished(), 7);
        assert_eq!(w.latency.max, Duration::from_millis(5));
        assert_eq!(w.achieved_rate, 7.0);
    }

    #[test]
    fn a_completion_after_the_interval_closes_it_first() {
        let start = Instant::now();
        let mut a = Accounts::new(start);
        assert!(!a.record(&done(start, 0, 999, Ok(200)), &Fixed));
        assert!(a.last_second.is_none());
        // Ends exactly at 1 s: belongs to the second interval.
        assert!(a.record(&done(start, 990, 1000, Ok(200)), &Fixed));
        assert_eq!(a.last_second.as_ref().map(|w| w.completed), Some(1));
        // Skipping a whole quiet second leaves an empty last interval.
        assert!(a.record(&done(start, 2500, 3000, Ok(200)), &Fixed));
        assert_eq!(a.last_second.as_ref().map(|w| w.completed), Some(0));
        assert_eq!(a.total.finished(), 3);
    }

    #[test]
    fn latency_saturates_at_an_hour() {
        let start = Instant::now();
        let c = done(start, 0, 2 * 3_600_000, Ok(200));
        let mut t = Tally::new();
        t.add(&c);
        assert_eq!(t.histogram().len(), 1);
        assert!(t.histogram().max() >= MAX_LATENCY_US);
        assert_eq!(t.max_us, 2 * MAX_LATENCY_US, "the exact maximum is kept");
    }

    /// Latencies spread over every magnitude the histogram covers.
    fn latencies() -> impl Strategy<Value = Vec<u64>> {
        let one = prop_oneof![
            0u64..2_048,
            2_048u64..1_000_000,
            1_000_000u64..=MAX_LATENCY_US
        ];
        prop::collection::vec(one, 1..3_000)
    }

    proptest! {
        #[test]
        fn percentiles_are_within_hdr_precision_of_the_exact_ones(values in latencies()) {
            let start = Instant::now();
            let mut t = Tally::new();
            for &us in &values {
                t.add(&Completion {
                    due: start,
                    sent: start,
                    done: start + Duration::from_micros(us),
                    outcome: Ok(200),
                });
            }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let n = sorted.len();
            // The nearest-rank percentile, as HdrHistogram defines it.
            let exact = |q: f64| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
            let w = t.window(Duration::from_secs(1), n as u64, n as u64);
            let l = w.latency;
            for (q, got) in [(0.5, l.p50), (0.9, l.p90), (0.99, l.p99), (0.999, l.p999)] {
                let (got, exact) = (got.as_micros() as u64, exact(q));
                // Never below the true value, and at most one part in a
                // thousand (three significant digits) above it.
                prop_assert!(got >= exact, "p{}: {got} < {exact}", q * 100.0);
                prop_assert!(got - exact <= exact / 1000, "p{}: {got} vs {exact}", q * 100.0);
                prop_assert!(t.histogram().equivalent(got, exact));
            }
            prop_assert_eq!(l.max.as_micros() as u64, sorted[n - 1]);
            let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let got_mean = l.mean.as_secs_f64() * 1e6;
            prop_assert!((got_mean - mean).abs() <= mean / 1000.0 + 1.0, "mean {got_mean} vs {mean}");
        }
    }
}

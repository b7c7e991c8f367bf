//! Recent latencies and a percentile of them, with atomics only.
//!
//! The last 512 latencies (in microseconds) sit in a ring of atomics. Every
//! 32nd record, the recording thread copies the ring to its stack, selects
//! the percentile and publishes it in one atomic, which callers read when
//! they need a hedge delay. No lock, no allocation; the percentile lags the
//! newest latencies by at most 32 calls.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

const SAMPLES: usize = 512;
const RECOMPUTE_EVERY: u64 = 32;
const UNKNOWN: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct LatencyTracker {
    samples: Box<[AtomicU32]>,
    head: AtomicU64,
    percentile: f64,
    min_samples: usize,
    current_nanos: AtomicU64,
}

impl LatencyTracker {
    pub(crate) fn new(percentile: f64, min_samples: u32) -> Self {
        LatencyTracker {
            samples: (0..SAMPLES).map(|_| AtomicU32::new(0)).collect(),
            head: AtomicU64::new(0),
            percentile,
            min_samples: (min_samples as usize).clamp(1, SAMPLES),
            current_nanos: AtomicU64::new(UNKNOWN),
        }
    }

    pub(crate) fn record(&self, latency: Duration) {
        let micros = u32::try_from(latency.as_micros())
            .unwrap_or(u32::MAX)
            .max(1);
        let n = self.head.fetch_add(1, Ordering::Relaxed);
        self.samples[(n % SAMPLES as u64) as usize].store(micros, Ordering::Relaxed);
        if n % RECOMPUTE_EVERY == RECOMPUTE_EVERY - 1 || n + 1 == self.min_samples as u64 {
            self.recompute();
        }
    }

    fn recompute(&self) {
        let mut copy = [0u32; SAMPLES];
        let mut len = 0;
        for s in self.samples.iter() {
            let v = s.load(Ordering::Relaxed);
            if v != 0 {
                copy[len] = v;
                len += 1;
            }
        }
        if len < self.min_samples {
            return;
        }
        let values = &mut copy[..len];
        let rank = ((self.percentile * len as f64).ceil() as usize).clamp(1, len) - 1;
        let (_, v, _) = values.select_nth_unstable(rank);
        self.current_nanos
            .store(u64::from(*v) * 1000, Ordering::Relaxed);
    }

    /// The percentile of recent latencies, once enough are known.
    pub(crate) fn current(&self) -> Option<Duration> {
        match self.current_nanos.load(Ordering::Relaxed) {
            UNKNOWN => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_of_recent_latencies() {
        let t = LatencyTracker::new(0.9, 10);
        assert_eq!(t.current(), None);
        for ms in 1..=100u64 {
            t.record(Duration::from_millis(ms));
        }
        // Computed at the 96th record: p90 of 1..=96 ms.
        assert_eq!(t.current(), Some(Duration::from_millis(87)));
    }

    #[test]
    fn old_latencies_leave_the_ring() {
        let t = LatencyTracker::new(0.5, 10);
        for _ in 0..SAMPLES {
            t.record(Duration::from_millis(500));
        }
        for _ in 0..SAMPLES {
            t.record(Duration::from_millis(5));
        }
        assert_eq!(t.current(), Some(Duration::from_millis(5)));
    }
}

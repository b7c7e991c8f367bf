//! A deterministic "fail this fraction of requests" decision.
//!
//! Randomness would make `FailRatio { ratio: 0.5 }` fail 43 or 57 of 100
//! requests; tests want exactly 50. Request `n` (counting from 1) is picked
//! when `floor(n * ratio)` steps up, which spreads the picks evenly and makes
//! any `n` consecutive requests contain `floor(n * ratio)` or one more picks.
//! The ratio is held in parts per million so the arithmetic is exact.

use std::sync::atomic::{AtomicU64, Ordering};

const MILLION: u64 = 1_000_000;

/// Picks an exact, evenly spread fraction of the calls to [`RatioCounter::pick`].
#[derive(Debug)]
pub(crate) struct RatioCounter {
    ppm: u64,
    calls: AtomicU64,
}

impl RatioCounter {
    /// A counter picking `ratio` of the calls; `ratio` is clamped to `0.0..=1.0`.
    pub(crate) fn new(ratio: f64) -> Self {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        // In 0..=1_000_000 after the clamp, so the cast is exact.
        let ppm = (ratio * MILLION as f64).round() as u64;
        Self {
            ppm,
            calls: AtomicU64::new(0),
        }
    }

    /// Whether this call is one of the picked ones.
    pub(crate) fn pick(&self) -> bool {
        if self.ppm == 0 {
            return false;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        (n * self.ppm) / MILLION > ((n - 1) * self.ppm) / MILLION
    }
}

#[cfg(test)]
mod tests {
    use super::RatioCounter;

    fn picks(ratio: f64, calls: usize) -> Vec<bool> {
        let counter = RatioCounter::new(ratio);
        (0..calls).map(|_| counter.pick()).collect()
    }

    #[test]
    fn half_picks_exactly_every_second_call() {
        let picked = picks(0.5, 100);
        assert_eq!(picked.iter().filter(|p| **p).count(), 50);
        assert!(picked.iter().enumerate().all(|(i, p)| *p == (i % 2 == 1)));
    }

    #[test]
    fn picks_floor_of_n_times_ratio() {
        for ratio in [0.0, 0.01, 0.1, 0.25, 0.3, 1.0 / 3.0, 0.9, 1.0] {
            for n in [1, 7, 10, 100, 1000] {
                let count = picks(ratio, n).iter().filter(|p| **p).count() as u64;
                let ppm = (ratio * 1e6).round() as u64;
                assert_eq!(count, n as u64 * ppm / 1_000_000, "ratio {ratio}, n {n}");
            }
        }
    }

    #[test]
    fn out_of_range_ratios_are_clamped() {
        assert!(picks(2.0, 10).iter().all(|p| *p));
        assert!(picks(-1.0, 10).iter().all(|p| !*p));
        assert!(picks(f64::NAN, 10).iter().all(|p| !*p));
    }
}

//! [`Report`]: the end of a run, with its full latency histogram for
//! percentile tables and export.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::snapshot::{Snapshot, micros};

/// The percentiles [`Report::percentiles`] lists, as wrk2 prints them.
pub const REPORT_PERCENTILES: [f64; 8] = [50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0];

/// What a finished run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The final snapshot: totals over the whole run.
    pub snapshot: Snapshot,
    histogram: Histogram<u64>,
}

/// One row of a percentile table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentile {
    /// The percentile, `0.0..=100.0`.
    pub percentile: f64,
    /// The latency at or below which that share of completed requests fell.
    pub latency: Duration,
}

impl Report {
    pub(crate) fn new(snapshot: Snapshot, histogram: Histogram<u64>) -> Self {
        Self {
            snapshot,
            histogram,
        }
    }

    /// Every completed request's latency, in microseconds (1 µs to one hour
    /// at three significant digits), for merging or exporting.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// The latency at `percentile` (`0.0..=100.0`) of completed requests;
    /// zero when none completed.
    pub fn latency_at(&self, percentile: f64) -> Duration {
        if self.histogram.is_empty() {
            return Duration::ZERO;
        }
        micros(
            self.histogram
                .value_at_percentile(percentile.clamp(0.0, 100.0)),
        )
    }

    /// The latency at each of [`REPORT_PERCENTILES`].
    pub fn percentiles(&self) -> Vec<Percentile> {
        REPORT_PERCENTILES
            .iter()
            .map(|&percentile| Percentile {
                percentile,
                latency: self.latency_at(percentile),
            })
            .collect()
    }

    /// The full percentile distribution in HdrHistogram's text format
    /// (values in milliseconds), as wrk2 `--u_latency` prints it and the
    /// HdrHistogram plotter reads it.
    pub fn hgrm(&self) -> String {
        const MS: f64 = 1000.0;
        let h = &self.histogram;
        let mut out = format!(
            "{:>12} {:>14} {:>10} {:>14}\n\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        let mut total = 0u64;
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / MS;
            let q = v.quantile_iterated_to();
            // Writing to a String cannot fail.
            let _ = if q < 1.0 {
                writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                )
            } else {
                writeln!(out, "{value:12.3} {q:2.12} {total:10}")
            };
        }
        let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
        let _ = write!(
            out,
            "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n\
             #[Max     = {:12.3}, Total count    = {:12}]\n\
             #[Buckets = {:12}, SubBuckets     = {:12}]\n",
            h.mean() / MS,
            h.stdev() / MS,
            h.max() as f64 / MS,
            h.len(),
            h.buckets(),
            sub_buckets,
        );
        out
    }
}

//! AIMD: additive increase, multiplicative decrease, as TCP Reno does.

use std::time::Duration;

use super::{LimitAlgorithm, Sample};
use crate::error::ConfigError;

/// Loss-based: +1 per sample while the limit is in use and nothing drops,
/// ×`backoff_ratio` on a drop or a sample slower than `timeout`.
///
/// | setting | default (Netflix `AIMDLimit`) |
/// |---|---|
/// | `initial_limit` | 20 |
/// | `min_limit` | 20 |
/// | `max_limit` | 200 |
/// | `backoff_ratio` | 0.9 |
/// | `timeout` | 5 s |
///
/// Netflix's defaults put `min_limit` at the initial limit, so the limit
/// never backs off below where it starts; lower `min_limit` to let it.
#[derive(Debug, Clone, PartialEq)]
pub struct Aimd {
    /// The limit before any sample.
    pub initial_limit: u32,
    /// The limit never goes below this.
    pub min_limit: u32,
    /// The limit never goes above this.
    pub max_limit: u32,
    /// The factor applied on a drop, in [0.5, 1).
    pub backoff_ratio: f64,
    /// A sample slower than this counts as a drop.
    pub timeout: Duration,
    /// The current limit; `None` until the first sample, so a changed
    /// `initial_limit` field is honoured.
    limit: Option<u32>,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd::new(20, 20, 200, 0.9, Duration::from_secs(5))
    }
}

impl Aimd {
    /// AIMD with these settings.
    pub fn new(
        initial_limit: u32,
        min_limit: u32,
        max_limit: u32,
        backoff_ratio: f64,
        timeout: Duration,
    ) -> Self {
        Aimd {
            initial_limit,
            min_limit,
            max_limit,
            backoff_ratio,
            timeout,
            limit: None,
        }
    }

    pub(crate) fn problems(&self, e: &mut ConfigError) {
        super::check_bounds(e, self.initial_limit, self.min_limit, self.max_limit);
        e.check(
            (0.5..1.0).contains(&self.backoff_ratio),
            "aimd.backoff_ratio",
            || format!("must be in [0.5, 1), got {}", self.backoff_ratio),
        );
        e.check(!self.timeout.is_zero(), "aimd.timeout", || {
            "must be more than zero".to_owned()
        });
    }
}

impl LimitAlgorithm for Aimd {
    fn initial_limit(&self) -> u32 {
        self.initial_limit
    }

    fn update(&mut self, sample: &Sample) -> u32 {
        let mut next = self.limit.unwrap_or(self.initial_limit);
        if sample.dropped || sample.rtt > self.timeout {
            next = (f64::from(next) * self.backoff_ratio) as u32;
        } else if u64::from(sample.in_flight) * 2 >= u64::from(next) {
            next = next.saturating_add(1);
        }
        let limit = next.clamp(self.min_limit, self.max_limit);
        self.limit = Some(limit);
        limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rtt_ms: u64, in_flight: u32, dropped: bool) -> Sample {
        Sample {
            rtt: Duration::from_millis(rtt_ms),
            in_flight,
            dropped,
        }
    }

    #[test]
    fn grows_only_when_the_limit_is_used() {
        let mut a = Aimd::new(10, 1, 100, 0.9, Duration::from_secs(5));
        assert_eq!(
            a.update(&sample(10, 2, false)),
            10,
            "app-limited: unchanged"
        );
        assert_eq!(a.update(&sample(10, 5, false)), 11);
        assert_eq!(a.update(&sample(10, 11, false)), 12);
    }

    #[test]
    fn backs_off_on_drops_and_timeouts() {
        let mut a = Aimd::new(100, 1, 200, 0.9, Duration::from_secs(1));
        assert_eq!(a.update(&sample(10, 50, true)), 90);
        assert_eq!(a.update(&sample(1500, 50, false)), 81);
    }
}

//! Property tests: the sliding windows, the retry budget and the limit
//! algorithms against simple models, over random histories.

use std::time::Duration;

use ordo_resilience::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, SlidingWindow, SlowCalls,
};
use ordo_resilience::classify::Outcome;
use ordo_resilience::limit::{Aimd, Gradient2, LimitAlgorithm, Sample, Vegas};
use ordo_resilience::retry::{RetryBudget, RetryBudgetConfig};
use ordo_resilience::{Rng, Telemetry};
use proptest::prelude::*;

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// A breaker that records everything and never opens.
fn recording(window: SlidingWindow) -> CircuitBreaker {
    let breaker = CircuitBreaker::new(
        CircuitBreakerConfig {
            window,
            minimum_calls: 1,
            slow_calls: Some(SlowCalls {
                duration: Duration::from_millis(100),
                rate_threshold: 100.0,
            }),
            ..CircuitBreakerConfig::default()
        },
        Telemetry::default(),
    )
    .unwrap();
    breaker.metrics_only();
    breaker
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The count window holds exactly the last `size` calls.
    #[test]
    fn count_window_matches_the_last_n_calls(
        size in 1u32..40,
        calls in prop::collection::vec((any::<bool>(), any::<bool>()), 0..200),
    ) {
        let breaker = recording(SlidingWindow::Count { size });
        for (failed, slow) in &calls {
            let outcome = if *failed { Outcome::Failure } else { Outcome::Success };
            let elapsed = Duration::from_millis(if *slow { 150 } else { 50 });
            breaker.try_acquire().unwrap().record_with_duration(outcome, elapsed);
        }
        let last: Vec<_> = calls.iter().rev().take(size as usize).collect();
        let s = breaker.snapshot();
        prop_assert_eq!(s.calls, last.len() as u64);
        prop_assert_eq!(s.failures, last.iter().filter(|(f, _)| *f).count() as u64);
        prop_assert_eq!(s.slow, last.iter().filter(|(_, sl)| *sl).count() as u64);
    }

    /// The time window holds the calls of the buckets still in the span.
    #[test]
    fn time_window_matches_the_calls_of_the_last_buckets(
        buckets in 1u32..12,
        bucket_ms in 1u64..500,
        events in prop::collection::vec((0u64..700, any::<bool>()), 0..150),
    ) {
        paused_runtime().block_on(async {
            let breaker = recording(SlidingWindow::Time {
                length: Duration::from_millis(bucket_ms) * buckets,
                buckets,
            });
            let start = tokio::time::Instant::now();
            let mut history = Vec::new();
            for (gap_ms, failed) in &events {
                tokio::time::advance(Duration::from_millis(*gap_ms)).await;
                let outcome = if *failed { Outcome::Failure } else { Outcome::Success };
                breaker.try_acquire().unwrap().record_with_duration(outcome, Duration::ZERO);
                history.push((start.elapsed().as_millis() as u64 / bucket_ms, *failed));
            }
            let now = start.elapsed().as_millis() as u64 / bucket_ms;
            let live: Vec<_> = history
                .iter()
                .filter(|(epoch, _)| epoch + u64::from(buckets) > now)
                .collect();
            let s = breaker.snapshot();
            prop_assert_eq!(s.calls, live.len() as u64);
            prop_assert_eq!(s.failures, live.iter().filter(|(_, f)| *f).count() as u64);
            Ok(())
        })?;
    }

    /// The budget allows a retry exactly when the larger of the reserve and
    /// `ratio` of the calls, minus the retries, of the last `ttl` is at
    /// least one.
    #[test]
    fn retry_budget_matches_its_model(
        ratio in 0.0f64..1.0,
        min_per_second in 0u32..3,
        steps in prop::collection::vec((0u64..3000, 0u8..3), 1..200),
    ) {
        paused_runtime().block_on(async {
            let ttl = Duration::from_secs(10);
            let budget = RetryBudget::new(RetryBudgetConfig { ratio, min_per_second, ttl }).unwrap();
            let start = tokio::time::Instant::now();
            // (bucket of 1 s, is_retry)
            let mut log: Vec<(u64, bool)> = Vec::new();
            for (gap_ms, op) in &steps {
                tokio::time::advance(Duration::from_millis(*gap_ms)).await;
                let bucket = start.elapsed().as_millis() as u64 / 1000;
                if *op == 0 {
                    let live = log.iter().filter(|(b, _)| b + 10 > bucket);
                    let (calls, retries) = live.fold((0u64, 0u64), |(c, r), (_, retry)| {
                        if *retry { (c, r + 1) } else { (c + 1, r) }
                    });
                    let balance = (calls as f64 * ratio).max(f64::from(min_per_second) * 10.0) - retries as f64;
                    let allowed = budget.try_withdraw();
                    prop_assert_eq!(allowed, balance >= 1.0, "balance {}", balance);
                    if allowed {
                        log.push((bucket, true));
                    }
                } else {
                    budget.deposit();
                    log.push((bucket, false));
                }
            }
            Ok(())
        })?;
    }

    /// Every algorithm keeps its limit within its bounds, whatever it sees.
    #[test]
    fn limits_stay_within_their_bounds(
        samples in prop::collection::vec((1u64..10_000, 0u32..2000, any::<bool>()), 1..300),
    ) {
        let mut aimd = Aimd::new(20, 5, 300, 0.9, Duration::from_millis(5));
        let mut gradient = Gradient2::new(20, 5, 300);
        let mut netflix = Gradient2::new(20, 5, 300).netflix();
        let mut vegas = Vegas::new(20, 300).with_rng(Rng::seeded(9));
        for (rtt_us, in_flight, dropped) in samples {
            let s = Sample { rtt: Duration::from_micros(rtt_us), in_flight, dropped };
            prop_assert!((5..=300).contains(&aimd.update(&s)));
            prop_assert!((5..=300).contains(&gradient.update(&s)));
            prop_assert!((5..=300).contains(&netflix.update(&s)));
            prop_assert!((1..=300).contains(&vegas.update(&s)));
        }
    }

    /// AIMD: a drop never raises the limit; an unused limit never moves.
    #[test]
    fn aimd_moves_only_as_documented(
        initial in 1u32..200,
        in_flight in 0u32..400,
        dropped in any::<bool>(),
    ) {
        let mut aimd = Aimd::new(initial, 1, 200, 0.9, Duration::from_secs(5));
        let next = aimd.update(&Sample { rtt: Duration::from_millis(1), in_flight, dropped });
        if dropped {
            prop_assert!(next <= initial);
        } else if in_flight * 2 < initial {
            prop_assert_eq!(next, initial);
        } else {
            prop_assert_eq!(next, (initial + 1).min(200));
        }
    }
}

//! Zero allocations per call: the closed circuit breaker, every other layer
//! on its success path, and a five-policy stack, with and without metrics.
//!
//! dhat's allocator counts every heap block this process allocates; the
//! calls are driven by polling once with a no-op waker, so no runtime
//! allocates on the side. Everything is built (and called once, to let lazy
//! statics settle) before counting starts.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ordo_resilience::bulkhead::BulkheadLayer;
use ordo_resilience::circuit_breaker::CircuitBreakerLayer;
use ordo_resilience::fallback::FallbackLayer;
use ordo_resilience::hedge::HedgeLayer;
use ordo_resilience::limit::{Aimd, ConcurrencyLimitLayer};
use ordo_resilience::rate_limit::RateLimitLayer;
use ordo_resilience::retry::RetryLayer;
use ordo_resilience::stack::{StackBuilder, presets};
use ordo_resilience::throttle::ThrottleLayer;
use ordo_resilience::timeout::TimeoutLayer;
use ordo_resilience::{Error, Metrics, Telemetry};
use tower::{Layer, Service, service_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

type E = Error<&'static str>;

fn ok()
-> impl Service<u64, Response = u64, Error = E, Future = std::future::Ready<Result<u64, E>>> + Clone
{
    service_fn(|x: u64| std::future::ready(Ok(x)))
}

/// One call, driven to completion without a runtime.
fn once<S: Service<u64, Response = u64, Error = E>>(svc: &mut S) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    match pin!(svc.call(7)).poll(&mut cx) {
        Poll::Ready(Ok(7)) => {}
        other => panic!(
            "the call did not succeed at once: {:?}",
            other.map(|r| r.is_ok())
        ),
    }
}

/// Heap blocks allocated by 10,000 calls, after one warm-up call.
fn blocks_per_10k<S: Service<u64, Response = u64, Error = E>>(svc: &mut S) -> u64 {
    once(svc);
    let before = dhat::HeapStats::get().total_blocks;
    for _ in 0..10_000 {
        once(svc);
    }
    dhat::HeapStats::get().total_blocks - before
}

#[test]
fn calls_allocate_nothing() {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::new(&mut registry);
    let telemetries = [
        ("without metrics", Telemetry::new("quiet")),
        (
            "with metrics",
            Telemetry::new("counted").with_metrics(&metrics),
        ),
    ];
    let _profiler = dhat::Profiler::builder().testing().build();
    // The counter counts: one box is one block.
    let before = dhat::HeapStats::get().total_blocks;
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(dhat::HeapStats::get().total_blocks - before, 1);
    for (label, t) in telemetries {
        let breaker = CircuitBreakerLayer::builder()
            .telemetry(t.clone())
            .build()
            .unwrap();
        let time_breaker = CircuitBreakerLayer::builder()
            .time_window(Duration::from_secs(10), 10)
            .slow_calls(Duration::from_secs(1), 50.0)
            .telemetry(t.clone())
            .build()
            .unwrap();
        let retry = RetryLayer::builder().telemetry(t.clone()).build().unwrap();
        let timeout = TimeoutLayer::try_new(Duration::from_secs(1), t.clone()).unwrap();
        let bulkhead = BulkheadLayer::builder()
            .telemetry(t.clone())
            .build()
            .unwrap();
        let fallback = FallbackLayer::<u64, E>::value(0).telemetry(t.clone());
        let limit = ConcurrencyLimitLayer::builder()
            .algorithm(Aimd::new(20, 1, 200, 0.9, Duration::from_secs(5)))
            .telemetry(t.clone())
            .build()
            .unwrap();
        let throttle = ThrottleLayer::builder()
            .telemetry(t.clone())
            .build()
            .unwrap();
        let rate = RateLimitLayer::builder()
            .rate(1_000_000_000, Duration::from_secs(1))
            .telemetry(t.clone())
            .build()
            .unwrap();
        let hedge = HedgeLayer::builder()
            .fixed_delay(Duration::from_secs(1))
            .telemetry(t.clone())
            .build()
            .unwrap();
        let five = StackBuilder::new()
            .push(fallback.clone())
            .push(retry.clone())
            .push(breaker.clone())
            .push(timeout.clone())
            .push(bulkhead.clone())
            .build()
            .unwrap();
        let preset = presets::ordo().build(t.clone()).unwrap();

        let cases: Vec<(&str, u64)> = vec![
            (
                "closed circuit breaker",
                blocks_per_10k(&mut breaker.layer(ok())),
            ),
            (
                "time-window breaker with slow calls",
                blocks_per_10k(&mut time_breaker.layer(ok())),
            ),
            ("retry with budget", blocks_per_10k(&mut retry.layer(ok()))),
            ("timeout", blocks_per_10k(&mut timeout.layer(ok()))),
            ("bulkhead", blocks_per_10k(&mut bulkhead.layer(ok()))),
            ("fallback", blocks_per_10k(&mut fallback.layer(ok()))),
            ("concurrency limit", blocks_per_10k(&mut limit.layer(ok()))),
            ("throttle", blocks_per_10k(&mut throttle.layer(ok()))),
            ("rate limit", blocks_per_10k(&mut rate.layer(ok()))),
            (
                "hedge (not hedging)",
                blocks_per_10k(&mut hedge.layer(ok())),
            ),
            ("five-policy stack", blocks_per_10k(&mut five.layer(ok()))),
            ("ordo preset stack", blocks_per_10k(&mut preset.layer(ok()))),
        ];
        for (name, blocks) in cases {
            assert_eq!(
                blocks, 0,
                "{name} {label}: {blocks} allocations in 10,000 calls"
            );
        }
        // The raw permit API, too.
        let handle = breaker.breaker();
        let before = dhat::HeapStats::get().total_blocks;
        for _ in 0..10_000 {
            handle.try_acquire().unwrap().success();
        }
        assert_eq!(
            dhat::HeapStats::get().total_blocks,
            before,
            "permits {label}"
        );
    }
}

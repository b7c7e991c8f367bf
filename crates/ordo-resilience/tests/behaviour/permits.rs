//! The bulkhead and the adaptive limit used directly, through permits, as
//! ordo's proxy uses them.

use std::time::Duration;

use ordo_resilience::Telemetry;
use ordo_resilience::bulkhead::{Bulkhead, BulkheadConfig};
use ordo_resilience::limit::{Aimd, ConcurrencyLimitLayer, LimitConfig};

#[tokio::test(start_paused = true)]
async fn bulkhead_permits_cap_calls_and_free_their_slot_on_drop() {
    let b = Bulkhead::new(
        BulkheadConfig {
            max_concurrent_calls: 2,
            max_wait: Duration::ZERO,
            max_waiting: 0,
        },
        Telemetry::new("b"),
    )
    .unwrap();
    let p1 = b.try_acquire().unwrap();
    let _p2 = b.try_acquire().unwrap();
    assert_eq!(b.in_flight(), 2);
    let full = b.try_acquire().unwrap_err();
    assert_eq!(full.max_concurrent_calls(), 2);
    drop(p1);
    assert_eq!(b.in_flight(), 1);
    assert!(b.acquire().await.is_ok(), "a freed slot is taken at once");
}

#[tokio::test(start_paused = true)]
async fn bulkhead_waiters_get_a_slot_within_max_wait_or_are_rejected() {
    let b = Bulkhead::new(
        BulkheadConfig {
            max_concurrent_calls: 1,
            max_wait: Duration::from_millis(100),
            max_waiting: 1,
        },
        Telemetry::new("b"),
    )
    .unwrap();
    let held = b.try_acquire().unwrap();
    // A waiter whose slot frees in time gets it.
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.acquire().await.is_ok() })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Only one may wait: a second is turned away at once.
    assert!(b.acquire().await.is_err());
    drop(held);
    assert!(waiter.await.unwrap());
    // A waiter whose slot never frees gives up after max_wait.
    let _held = b.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    assert!(b.acquire().await.is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn limit_permits_admit_under_the_limit_and_drops_shrink_it() {
    let mut aimd = Aimd::default();
    aimd.initial_limit = 4;
    aimd.min_limit = 1;
    aimd.max_limit = 8;
    let layer = ConcurrencyLimitLayer::new(LimitConfig::Aimd(aimd)).unwrap();
    let limiter = layer.limiter().expect("a configured layer has a limiter");
    let permits: Vec<_> = (0..4).map(|_| limiter.try_acquire().unwrap()).collect();
    assert_eq!(limiter.in_flight(), 4);
    assert!(
        limiter.try_acquire().is_err(),
        "the fifth call is over the limit"
    );
    let mut permits = permits.into_iter();
    permits.next().unwrap().dropped();
    assert!(
        limiter.limit() < 4,
        "a drop backs the limit off: {}",
        limiter.limit()
    );
    permits.next().unwrap().ignore();
    drop(permits);
    assert_eq!(limiter.in_flight(), 0, "every permit released its slot");
}

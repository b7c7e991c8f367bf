//! Bulkhead: a fixed number of slots, rejection or a bounded wait beyond.

use std::time::Duration;

use ordo_resilience::Error;
use ordo_resilience::bulkhead::BulkheadLayer;
use tokio::time::advance;
use tower::{Layer, Service, ServiceExt};

use crate::support::{Dep, Mode, call, settle};

#[tokio::test(start_paused = true)]
async fn calls_beyond_the_slots_are_rejected_at_once() {
    let dep = Dep::new(Mode::Hang);
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(2)
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    let a = tokio::spawn(svc.clone().oneshot(1));
    let b = tokio::spawn(svc.clone().oneshot(2));
    settle().await;
    assert_eq!(layer.in_flight(), 2);
    let err = call(&mut svc, 3).await.unwrap_err();
    assert!(
        matches!(err, Error::BulkheadFull(ref f) if f.max_concurrent_calls() == 2),
        "{err:?}"
    );
    assert_eq!(
        dep.calls(),
        2,
        "the rejected call never reached the dependency"
    );
    dep.release_all();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(layer.in_flight(), 0);
    dep.set(Mode::Ok);
    assert_eq!(call(&mut svc, 4).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_bounded_wait_gets_a_slot_that_frees_in_time() {
    let dep = Dep::new(Mode::Slow(Duration::from_millis(500)));
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    let first = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    let start = tokio::time::Instant::now();
    assert_eq!(call(&mut svc, 2).await.unwrap(), 2);
    // It waited for the first call (500 ms), then ran its own (500 ms).
    assert_eq!(start.elapsed(), Duration::from_millis(1000));
    first.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_bounded_wait_gives_up_at_its_limit() {
    let dep = Dep::new(Mode::Hang);
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(1)
        .max_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    let _busy = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    let start = tokio::time::Instant::now();
    let err = call(&mut svc, 2).await.unwrap_err();
    assert!(matches!(err, Error::BulkheadFull(_)));
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn waiters_beyond_max_waiting_are_rejected_at_once() {
    let dep = Dep::new(Mode::Hang);
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(10))
        .max_waiting(1)
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    let _busy = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    let _waiting = tokio::spawn(svc.clone().oneshot(2));
    settle().await;
    let start = tokio::time::Instant::now();
    let err = call(&mut svc, 3).await.unwrap_err();
    assert!(matches!(err, Error::BulkheadFull(_)));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_frees_its_slot() {
    let dep = Dep::new(Mode::Hang);
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    let pending = svc.ready().await.unwrap().call(1);
    assert_eq!(layer.in_flight(), 1);
    drop(pending);
    assert_eq!(layer.in_flight(), 0);
    dep.set(Mode::Ok);
    advance(Duration::from_millis(1)).await;
    assert_eq!(call(&mut svc, 2).await.unwrap(), 2);
}

#[test]
fn zero_slots_is_refused() {
    let err = BulkheadLayer::builder()
        .max_concurrent_calls(0)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("bulkhead.max_concurrent_calls"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn polling_again_after_full_finds_a_freed_slot() {
    use std::future::poll_fn;
    let dep = Dep::new(Mode::Hang);
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    let mut other = svc.clone();
    let busy = other.ready().await.unwrap().call(1);
    poll_fn(|cx| svc.poll_ready(cx)).await.unwrap(); // full
    drop(busy);
    poll_fn(|cx| svc.poll_ready(cx)).await.unwrap(); // a slot now
    dep.set(Mode::Ok);
    assert_eq!(svc.call(2).await.unwrap(), 2);
}

//! Hedging: a second attempt for slow calls, the first success wins, within
//! a budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ordo_resilience::hedge::HedgeLayer;
use ordo_resilience::retry::{RetryBudget, RetryBudgetConfig};
use ordo_resilience::{Error, EventKind, Telemetry, events};
use tokio::time::Instant;
use tower::{Layer, service_fn};

use crate::support::{E, call, kinds};

/// The n-th call (from 0) takes `latency(n)` and answers n.
fn by_call(
    latency: impl Fn(usize) -> Duration + Clone + Send + 'static,
) -> (
    impl tower::Service<u32, Response = u32, Error = E, Future = impl Future<Output = Result<u32, E>>>
    + Clone,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (c, d) = (calls.clone(), done.clone());
    let svc = service_fn(move |_req: u32| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        let wait = latency(n);
        let d = d.clone();
        async move {
            tokio::time::sleep(wait).await;
            d.fetch_add(1, Ordering::SeqCst);
            Ok::<u32, E>(n as u32)
        }
    });
    (svc, calls, done)
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_is_hedged_and_the_first_success_wins() {
    let (inner, calls, done) = by_call(|n| {
        if n == 0 {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(10)
        }
    });
    let (listener, mut rx) = events::channel();
    let layer = HedgeLayer::builder()
        .fixed_delay(Duration::from_millis(100))
        .telemetry(Telemetry::new("db").on_event(listener))
        .build()
        .unwrap();
    let mut svc = layer.layer(inner);
    let start = Instant::now();
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1, "the hedge answered");
    assert_eq!(start.elapsed(), Duration::from_millis(110));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "the slow attempt was cancelled"
    );
    assert_eq!(
        kinds(&mut rx),
        vec![EventKind::Hedge {
            attempt: 2,
            after: Duration::from_millis(100)
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn fast_calls_are_not_hedged() {
    let (inner, calls, _) = by_call(|_| Duration::from_millis(50));
    let mut svc = HedgeLayer::builder()
        .fixed_delay(Duration::from_millis(100))
        .build()
        .unwrap()
        .layer(inner);
    for _ in 0..10 {
        call(&mut svc, 1).await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

#[tokio::test(start_paused = true)]
async fn the_delay_follows_a_percentile_of_recent_latencies() {
    // 200 calls of 20 ms, then a slow one: hedged at about 20 ms.
    let (inner, calls, _) = by_call(|n| {
        if n < 200 {
            Duration::from_millis(20)
        } else if n == 200 {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(20)
        }
    });
    let layer = HedgeLayer::builder()
        .percentile_delay(0.95, 100, Duration::from_secs(10))
        .no_budget()
        .build()
        .unwrap();
    let mut svc = layer.clone().layer(inner);
    for _ in 0..200 {
        call(&mut svc, 1).await.unwrap();
    }
    assert_eq!(layer.current_delay(), Duration::from_millis(20));
    let start = Instant::now();
    call(&mut svc, 1).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(40));
    assert_eq!(calls.load(Ordering::SeqCst), 202);
}

#[tokio::test(start_paused = true)]
async fn an_empty_shared_budget_stops_hedges() {
    let budget = RetryBudget::new(RetryBudgetConfig {
        ratio: 0.0,
        min_per_second: 0,
        ttl: Duration::from_secs(10),
    })
    .unwrap();
    let (inner, calls, _) = by_call(|_| Duration::from_secs(1));
    let (listener, mut rx) = events::channel();
    let mut svc = HedgeLayer::builder()
        .fixed_delay(Duration::from_millis(100))
        .shared_budget(budget)
        .telemetry(Telemetry::new("db").on_event(listener))
        .build()
        .unwrap()
        .layer(inner);
    call(&mut svc, 1).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(kinds(&mut rx), vec![EventKind::HedgeBudgetExhausted]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_before_the_delay_returns_at_once() {
    let inner = service_fn(|_req: u32| async { Err::<u32, E>(Error::Inner("down")) });
    let mut svc = HedgeLayer::builder()
        .fixed_delay(Duration::from_millis(100))
        .build()
        .unwrap()
        .layer(inner);
    let start = Instant::now();
    assert!(call(&mut svc, 1).await.is_err());
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_failed_hedge_waits_for_the_first_attempt() {
    // The first attempt answers after 300 ms; the hedge fails fast.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let inner = service_fn(move |_req: u32| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<u32, E>(7)
            } else {
                Err(Error::Inner("hedge failed"))
            }
        }
    });
    let mut svc = HedgeLayer::builder()
        .fixed_delay(Duration::from_millis(100))
        .build()
        .unwrap()
        .layer(inner);
    assert_eq!(call(&mut svc, 1).await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_delay_too_long_to_add_up_means_never_hedge() {
    let (inner, calls, _) = by_call(|_| Duration::from_millis(50));
    let mut svc = HedgeLayer::builder()
        .fixed_delay(Duration::MAX)
        .build()
        .unwrap()
        .layer(inner);
    call(&mut svc, 1).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

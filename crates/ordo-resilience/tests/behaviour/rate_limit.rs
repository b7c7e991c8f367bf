//! Rate limiter: a burst, then the rate; waiting within `max_wait`.

use std::time::Duration;

use ordo_resilience::Error;
use ordo_resilience::rate_limit::RateLimitLayer;
use tokio::time::{Instant, advance};
use tower::Layer;

use crate::support::{Dep, Mode, call};

#[tokio::test(start_paused = true)]
async fn a_burst_then_the_rate() {
    let dep = Dep::new(Mode::Ok);
    let layer = RateLimitLayer::builder()
        .rate(10, Duration::from_secs(1))
        .burst(3)
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    for _ in 0..3 {
        call(&mut svc, 1).await.unwrap();
    }
    let err = call(&mut svc, 1).await.unwrap_err();
    let Error::RateLimited(limited) = err else {
        panic!("{err:?}")
    };
    assert_eq!(limited.retry_in(), Duration::from_millis(100));
    advance(Duration::from_millis(100)).await;
    call(&mut svc, 1).await.unwrap();
    assert!(call(&mut svc, 1).await.is_err());
    // Over ten seconds: the rate, to the call.
    let mut ok = 0;
    for _ in 0..1000 {
        advance(Duration::from_millis(10)).await;
        if call(&mut svc, 1).await.is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 100);
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_for_its_permit_within_max_wait() {
    for (max_wait_ms, waits) in [(600, true), (400, false)] {
        let dep = Dep::new(Mode::Ok);
        let layer = RateLimitLayer::builder()
            .rate(2, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_millis(max_wait_ms))
            .build()
            .unwrap();
        let mut svc = layer.layer(dep.service());
        call(&mut svc, 1).await.unwrap();
        // The next permit is 500 ms away.
        let start = Instant::now();
        let second = call(&mut svc, 1).await;
        if waits {
            second.unwrap();
            assert_eq!(start.elapsed(), Duration::from_millis(500));
        } else {
            assert!(matches!(second, Err(Error::RateLimited(_))));
            assert_eq!(start.elapsed(), Duration::ZERO);
        }
    }
}

#[test]
fn an_impossible_rate_is_refused() {
    let err = RateLimitLayer::builder()
        .rate(0, Duration::ZERO)
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rate_limit.rate") && text.contains("rate_limit.period"),
        "{text}"
    );
}

/// A permit reserved by a caller that went away goes back to the others.
#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_gives_its_permit_back() {
    use tower::ServiceExt;
    let dep = Dep::new(Mode::Ok);
    let layer = RateLimitLayer::builder()
        .rate(1, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    call(&mut svc, 1).await.unwrap();
    for _ in 0..5 {
        // Each waits for a permit a second away, then gives up.
        let waiter = layer.layer(dep.service()).oneshot(2);
        let _ = tokio::time::timeout(Duration::from_millis(10), waiter).await;
    }
    let start = Instant::now();
    call(&mut svc, 3).await.unwrap();
    assert!(
        start.elapsed() <= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

//! Adaptive concurrency limit through the service: rejection above the
//! limit, samples that move it, and cancellations that do not.

use std::time::Duration;

use ordo_resilience::limit::{Aimd, ConcurrencyLimitLayer, LimitConfig};
use ordo_resilience::{Error, EventKind, Telemetry, events};
use tower::{Layer, Service, ServiceExt};

use crate::support::{Dep, Mode, call, kinds, settle};

fn aimd(initial: u32) -> Aimd {
    Aimd::new(initial, 1, 100, 0.5, Duration::from_secs(5))
}

#[tokio::test(start_paused = true)]
async fn calls_above_the_limit_are_rejected() {
    let dep = Dep::new(Mode::Hang);
    let layer = ConcurrencyLimitLayer::builder()
        .algorithm(aimd(2))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    let a = tokio::spawn(svc.clone().oneshot(1));
    let b = tokio::spawn(svc.clone().oneshot(2));
    settle().await;
    let err = call(&mut svc, 3).await.unwrap_err();
    assert!(
        matches!(err, Error::ConcurrencyLimited(ref e) if e.limit() == 2),
        "{err:?}"
    );
    dep.release_all();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_limit_grows_with_use_and_backs_off_on_drops() {
    let dep = Dep::new(Mode::Ok);
    let (listener, mut rx) = events::channel();
    let layer = ConcurrencyLimitLayer::builder()
        .algorithm(aimd(2))
        .telemetry(Telemetry::new("db").on_event(listener))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    // Each call has 1 in flight against a limit of 2: in use, so +1 each.
    for _ in 0..3 {
        call(&mut svc, 1).await.unwrap();
    }
    assert_eq!(
        layer.limit(),
        3,
        "+1 only while at least half the limit is used"
    );
    dep.set(Mode::Fail);
    let _ = call(&mut svc, 1).await;
    assert_eq!(layer.limit(), 1);
    assert!(kinds(&mut rx).contains(&EventKind::LimitChanged { from: 3, to: 1 }));
}

#[tokio::test(start_paused = true)]
async fn cancelled_calls_do_not_count_as_drops() {
    for (cancellation_is_drop, expected) in [(false, 10), (true, 5)] {
        let dep = Dep::new(Mode::Hang);
        let layer = ConcurrencyLimitLayer::builder()
            .algorithm(aimd(10))
            .cancellation_is_drop(cancellation_is_drop)
            .build()
            .unwrap();
        let mut svc = layer.layer(dep.service());
        let pending = svc.ready().await.unwrap().call(1);
        drop(pending);
        assert_eq!(layer.in_flight(), 0, "the slot is free either way");
        assert_eq!(
            layer.limit(),
            expected,
            "cancellation_is_drop = {cancellation_is_drop}"
        );
    }
}

#[test]
fn contradictory_limits_are_refused() {
    let err = ConcurrencyLimitLayer::new(LimitConfig::Aimd(Aimd::new(
        50,
        100,
        10,
        0.2,
        Duration::ZERO,
    )))
    .unwrap_err();
    let text = err.to_string();
    for field in [
        "max_limit",
        "initial_limit",
        "aimd.backoff_ratio",
        "aimd.timeout",
    ] {
        assert!(text.contains(field), "{field}: {text}");
    }
}

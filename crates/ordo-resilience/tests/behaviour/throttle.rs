//! Client-side adaptive throttling: the SRE book's probability, applied
//! locally, over a two-minute history.

use std::time::Duration;

use ordo_resilience::throttle::ThrottleLayer;
use ordo_resilience::{Error, Rng};
use tokio::time::advance;
use tower::Layer;

use crate::support::{Dep, Mode, call, calls};

#[tokio::test(start_paused = true)]
async fn nothing_is_dropped_while_the_dependency_accepts() {
    let dep = Dep::new(Mode::Ok);
    let layer = ThrottleLayer::builder()
        .rng(Rng::seeded(1))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    for _ in 0..1000 {
        call(&mut svc, 1).await.unwrap();
    }
    assert_eq!(layer.probability(), 0.0);
    assert_eq!(dep.calls(), 1000);
}

#[tokio::test(start_paused = true)]
async fn refused_calls_raise_the_drop_probability_by_the_formula() {
    let dep = Dep::new(Mode::Ok);
    let layer = ThrottleLayer::builder()
        .rng(Rng::seeded(1))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    for _ in 0..100 {
        call(&mut svc, 1).await.unwrap();
    }
    // The dependency starts refusing everything.
    dep.set(Mode::Fail);
    let mut sent = 0;
    let mut dropped = 0u32;
    for _ in 0..1000 {
        match call(&mut svc, 1).await {
            Err(Error::Throttled(_)) => dropped += 1,
            _ => sent += 1,
        }
    }
    // requests = 1100, accepts = 100: p = (1100 - 2*100) / 1101.
    let p = |requests: f64| ((requests - 2.0 * 100.0) / (requests + 1.0)).max(0.0);
    assert!(
        (layer.probability() - p(1100.0)).abs() < 1e-9,
        "{}",
        layer.probability()
    );
    assert_eq!(dep.calls(), 100 + sent);
    // Each call, sent or dropped, is one more request: the expected number
    // of drops is the sum of the probabilities along the way.
    let expected: f64 = (0..1000).map(|i| p(100.0 + f64::from(i))).sum();
    let dropped = f64::from(dropped);
    assert!(
        (dropped - expected).abs() < expected * 0.1,
        "dropped {dropped}, expected {expected:.0}"
    );
    assert!(sent > 200, "keeps probing: sent {sent}");
}

#[tokio::test(start_paused = true)]
async fn the_history_is_forgotten_after_two_minutes() {
    let dep = Dep::new(Mode::Fail);
    let layer = ThrottleLayer::builder()
        .rng(Rng::seeded(1))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 200).await;
    assert!(layer.probability() > 0.9);
    advance(Duration::from_secs(121)).await;
    assert_eq!(layer.probability(), 0.0);
}

//! Fallback: answers for each cause, and is told which one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ordo_resilience::bulkhead::BulkheadLayer;
use ordo_resilience::circuit_breaker::CircuitBreakerLayer;
use ordo_resilience::classify::HttpClassifier;
use ordo_resilience::fallback::{Cause, Causes, FallbackLayer, Trigger};
use ordo_resilience::timeout::TimeoutLayer;
use ordo_resilience::{Error, EventKind, Telemetry, events};
use tower::{Layer, ServiceExt, service_fn};

use crate::support::{Dep, E, Mode, call, kinds, settle};

/// A fallback that answers 0 and remembers why it ran.
fn recording() -> (FallbackLayer<u32, E>, Arc<Mutex<Vec<Cause>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let layer = FallbackLayer::new(move |t: Trigger<u32, E>| {
        log.lock().unwrap().push(t.cause());
        Ok(0)
    });
    (layer, seen)
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_answered_and_named() {
    let dep = Dep::new(Mode::Fail);
    let (listener, mut rx) = events::channel();
    let (layer, seen) = recording();
    let layer = layer.telemetry(Telemetry::new("db").on_event(listener));
    let mut svc = layer.layer(dep.service());
    assert_eq!(call(&mut svc, 5).await.unwrap(), 0);
    assert_eq!(*seen.lock().unwrap(), vec![Cause::Failure]);
    assert_eq!(
        kinds(&mut rx),
        vec![EventKind::Fallback {
            cause: Cause::Failure
        }]
    );
    dep.set(Mode::Ok);
    assert_eq!(
        call(&mut svc, 5).await.unwrap(),
        5,
        "successes pass through"
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_open_circuits_and_full_bulkheads_are_told_apart() {
    // Timeout.
    let (layer, seen) = recording();
    let dep = Dep::new(Mode::Hang);
    let mut svc = layer.layer(TimeoutLayer::new(Duration::from_millis(10)).layer(dep.service()));
    call(&mut svc, 1).await.unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&Cause::Timeout));

    // Circuit open.
    let (layer, seen) = recording();
    let breaker = CircuitBreakerLayer::builder().build().unwrap();
    breaker.breaker().force_open();
    let mut svc = layer.layer(breaker.layer(Dep::new(Mode::Ok).service()));
    call(&mut svc, 1).await.unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&Cause::CircuitOpen));

    // Bulkhead full.
    let (layer, seen) = recording();
    let dep = Dep::new(Mode::Hang);
    let bulkhead = BulkheadLayer::builder()
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let mut svc = layer.layer(bulkhead.layer(dep.service()));
    let _busy = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    call(&mut svc, 2).await.unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&Cause::BulkheadFull));
}

#[tokio::test(start_paused = true)]
async fn causes_not_handled_pass_through() {
    let (layer, seen) = recording();
    let layer = layer.on(Causes::NONE.with(Cause::CircuitOpen));
    let mut svc = layer.layer(Dep::new(Mode::Fail).service());
    assert!(matches!(call(&mut svc, 1).await, Err(Error::Inner(_))));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failing_response_is_replaced_by_a_fixed_value() {
    let fallback = FallbackLayer::value(
        http::Response::builder()
            .status(200)
            .body("cached")
            .unwrap(),
    )
    .classifier(HttpClassifier::new());
    let inner = service_fn(|_req: ()| async {
        Ok::<_, E>(http::Response::builder().status(503).body("down").unwrap())
    });
    let mut svc = fallback.layer(inner);
    let resp = call(&mut svc, ()).await.unwrap();
    assert_eq!(*resp.body(), "cached");
}

#[tokio::test(start_paused = true)]
async fn the_fallback_can_pass_the_original_error_through() {
    let fallback = FallbackLayer::new(|t: Trigger<u32, E>| match t.cause() {
        Cause::Timeout => Ok(0),
        _ => t.into_result(),
    });
    let mut svc = fallback.layer(Dep::new(Mode::Fail).service());
    assert!(matches!(
        call(&mut svc, 1).await,
        Err(Error::Inner("dependency failed"))
    ));
}

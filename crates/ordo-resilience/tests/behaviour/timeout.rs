//! Timeout: a deadline per call, cancelling the call when it passes.

use std::time::Duration;

use ordo_resilience::timeout::TimeoutLayer;
use ordo_resilience::{Error, EventKind, Telemetry, events};
use tower::Layer;

use crate::support::{Dep, Mode, call, kinds};

#[tokio::test(start_paused = true)]
async fn a_slow_call_times_out_and_is_cancelled() {
    let dep = Dep::new(Mode::Slow(Duration::from_secs(5)));
    let (listener, mut rx) = events::channel();
    let layer = TimeoutLayer::try_new(
        Duration::from_millis(100),
        Telemetry::new("db").on_event(listener),
    )
    .unwrap();
    let mut svc = layer.layer(dep.service());
    let start = tokio::time::Instant::now();
    let err = call(&mut svc, 1).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(ref e) if e.after() == Duration::from_millis(100)));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(dep.finished(), 0, "the call was dropped, not left running");
    assert_eq!(
        kinds(&mut rx),
        vec![EventKind::TimedOut {
            after: Duration::from_millis(100)
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_within_the_deadline_passes() {
    let dep = Dep::new(Mode::Slow(Duration::from_millis(99)));
    let mut svc = TimeoutLayer::new(Duration::from_millis(100)).layer(dep.service());
    assert_eq!(call(&mut svc, 7).await.unwrap(), 7);
}

#[test]
fn a_zero_timeout_is_refused() {
    let err = TimeoutLayer::try_new(Duration::ZERO, Telemetry::default()).unwrap_err();
    assert_eq!(err.to_string(), "timeout.timeout: must be more than zero");
}

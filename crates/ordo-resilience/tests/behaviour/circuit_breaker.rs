//! Circuit breaker: windows, thresholds, waits, half-open probes and ramp,
//! manual states, and what does not count.

use std::time::Duration;

use ordo_resilience::circuit_breaker::{CircuitBreakerLayer, CircuitOpen, OpenWait};
use ordo_resilience::{CircuitState, Error, EventKind, Telemetry, events};
use tokio::time::{advance, sleep};
use tower::{Layer, Service, ServiceExt};

use crate::support::{Dep, E, Mode, call, calls, kinds, settle};

fn is_open(r: &Result<u32, E>) -> bool {
    matches!(r, Err(Error::CircuitOpen(_)))
}

#[tokio::test(start_paused = true)]
async fn opens_at_the_failure_rate_once_the_minimum_calls_are_in() {
    let dep = Dep::new(Mode::Fail);
    let layer = CircuitBreakerLayer::builder()
        .count_window(10)
        .minimum_calls(5)
        .failure_rate_threshold(50.0)
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    for _ in 0..4 {
        assert!(matches!(call(&mut svc, 1).await, Err(Error::Inner(_))));
    }
    assert_eq!(breaker.state(), CircuitState::Closed, "below the minimum");
    let _ = call(&mut svc, 1).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    // Rejected without reaching the dependency.
    assert!(is_open(&call(&mut svc, 1).await));
    assert_eq!(dep.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_failure_rate_below_the_threshold_keeps_it_closed() {
    let dep = Dep::new(Mode::Ok);
    let layer = CircuitBreakerLayer::builder()
        .count_window(10)
        .minimum_calls(10)
        .failure_rate_threshold(50.0)
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    for i in 0..100 {
        // Four failures in every ten calls.
        dep.set(if i % 10 < 4 { Mode::Fail } else { Mode::Ok });
        let _ = call(&mut svc, 1).await;
        assert_eq!(breaker.state(), CircuitState::Closed, "call {i}");
    }
    let s = breaker.snapshot();
    assert_eq!((s.calls, s.failures), (10, 4));
}

#[tokio::test(start_paused = true)]
async fn the_count_window_forgets_calls_older_than_its_size() {
    let dep = Dep::new(Mode::Fail);
    let layer = CircuitBreakerLayer::builder()
        .count_window(4)
        .minimum_calls(4)
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    call(&mut svc, 1).await.unwrap_err();
    dep.set(Mode::Ok);
    for _ in 0..4 {
        call(&mut svc, 1).await.unwrap();
    }
    // The failure has left the window: one more is 25 %, under 50 %.
    dep.set(Mode::Fail);
    call(&mut svc, 1).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.snapshot().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn the_time_window_forgets_calls_older_than_its_length() {
    let dep = Dep::new(Mode::Fail);
    let layer = CircuitBreakerLayer::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(4)
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    for _ in 0..3 {
        call(&mut svc, 1).await.unwrap_err();
    }
    advance(Duration::from_secs(11)).await;
    call(&mut svc, 1).await.unwrap_err();
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "old failures expired"
    );
    assert_eq!(breaker.snapshot().calls, 1);
    calls(&mut svc, 3).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_the_circuit_even_when_they_succeed() {
    let dep = Dep::new(Mode::Slow(Duration::from_millis(300)));
    let layer = CircuitBreakerLayer::builder()
        .count_window(10)
        .minimum_calls(4)
        .slow_calls(Duration::from_millis(200), 50.0)
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    for _ in 0..4 {
        call(&mut svc, 1).await.unwrap();
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(breaker.snapshot().slow, 4);
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_mode_needs_a_run() {
    let dep = Dep::new(Mode::Fail);
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(3)
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    for mode in [Mode::Fail, Mode::Fail, Mode::Ok, Mode::Fail, Mode::Fail] {
        dep.set(mode);
        let _ = call(&mut svc, 1).await;
    }
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "the success broke the run"
    );
    dep.set(Mode::Fail);
    let _ = call(&mut svc, 1).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

fn tripping() -> ordo_resilience::circuit_breaker::CircuitBreakerBuilder<
    ordo_resilience::classify::DefaultClassifier,
> {
    CircuitBreakerLayer::builder()
        .count_window(2)
        .minimum_calls(2)
        .no_ramp()
}

#[tokio::test(start_paused = true)]
async fn after_the_wait_passing_probes_close_the_circuit() {
    let dep = Dep::new(Mode::Fail);
    let (listener, mut rx) = events::channel();
    let layer = tripping()
        .permitted_calls_in_half_open(2)
        .open_wait_fixed(Duration::from_secs(5))
        .telemetry(Telemetry::new("db").on_event(listener))
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 2).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    advance(Duration::from_millis(4900)).await;
    let err = call(&mut svc, 1).await.unwrap_err();
    let Error::CircuitOpen(open) = err else {
        panic!("{err:?}")
    };
    assert_eq!(open.retry_in(), Some(Duration::from_millis(100)));
    advance(Duration::from_millis(100)).await;

    // Two probes hang; a third call finds no permit.
    dep.set(Mode::Hang);
    let p1 = tokio::spawn(svc.clone().oneshot(1));
    let p2 = tokio::spawn(svc.clone().oneshot(2));
    settle().await;
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    let busy = call(&mut svc, 3).await.unwrap_err();
    assert!(matches!(&busy, Error::CircuitOpen(o) if o.state() == CircuitState::HalfOpen));
    dep.release_all();
    p1.await.unwrap().unwrap();
    p2.await.unwrap().unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    let transitions: Vec<_> = kinds(&mut rx)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::CircuitTransition { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        transitions,
        vec![
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Closed),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn failed_probes_reopen_with_a_growing_wait() {
    let dep = Dep::new(Mode::Fail);
    let layer = tripping()
        .permitted_calls_in_half_open(1)
        .open_wait(OpenWait::exponential(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(3),
        ))
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 2).await;
    // Each failed probe doubles the wait: 1 s, 2 s, then 3 s (the cap).
    for wait in [1000u64, 2000, 3000, 3000] {
        advance(Duration::from_millis(wait - 1)).await;
        assert!(
            is_open(&call(&mut svc, 1).await),
            "still open before {wait} ms"
        );
        advance(Duration::from_millis(1)).await;
        let probe = call(&mut svc, 1).await;
        assert!(
            matches!(probe, Err(Error::Inner(_))),
            "a probe reached the dependency"
        );
        assert_eq!(breaker.state(), CircuitState::Open);
    }
    // A passing probe closes it and resets the growth.
    advance(Duration::from_secs(3)).await;
    dep.set(Mode::Ok);
    call(&mut svc, 1).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    dep.set(Mode::Fail);
    calls(&mut svc, 2).await;
    advance(Duration::from_secs(1)).await;
    let _ = call(&mut svc, 1).await;
    assert_eq!(dep.calls(), 2 + 4 + 1 + 2 + 1, "back to a 1 s wait");
}

/// Hystrix #1861 and resilience4j #935: a probe that never answers must not
/// hold the circuit half-open forever.
#[tokio::test(start_paused = true)]
async fn a_hung_probe_releases_its_permit_at_the_deadline() {
    let dep = Dep::new(Mode::Fail);
    let (listener, mut rx) = events::channel();
    let layer = tripping()
        .permitted_calls_in_half_open(1)
        .probe_deadline(Duration::from_secs(5))
        .open_wait_fixed(Duration::from_secs(1))
        .telemetry(Telemetry::new("db").on_event(listener))
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 2).await;
    advance(Duration::from_secs(1)).await;
    dep.set(Mode::Hang);
    let hung = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    advance(Duration::from_millis(4999)).await;
    assert!(
        is_open(&call(&mut svc, 2).await),
        "the probe still holds the permit"
    );
    advance(Duration::from_millis(1)).await;
    // The deadline passed: the next call finds the probe expired, counts it
    // as a failure and reopens the circuit.
    assert!(is_open(&call(&mut svc, 2).await));
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(kinds(&mut rx).contains(&EventKind::ProbeExpired));
    // After the wait, a new probe runs and closes the circuit.
    advance(Duration::from_secs(1)).await;
    dep.set(Mode::Ok);
    call(&mut svc, 3).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    // The hung call's late answer changes nothing.
    dep.release_all();
    hung.await.unwrap().unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_gives_its_permit_back() {
    let dep = Dep::new(Mode::Fail);
    let layer = tripping()
        .permitted_calls_in_half_open(1)
        .open_wait_fixed(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 2).await;
    advance(Duration::from_secs(1)).await;
    dep.set(Mode::Hang);
    let probe = svc.ready().await.unwrap().call(1);
    drop(probe);
    dep.set(Mode::Ok);
    call(&mut svc, 1).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn after_the_probes_traffic_ramps_up_in_steps_then_closes() {
    let dep = Dep::new(Mode::Fail);
    let layer = CircuitBreakerLayer::builder()
        .count_window(2)
        .minimum_calls(2)
        .permitted_calls_in_half_open(1)
        .open_wait_fixed(Duration::from_secs(1))
        .ramp(vec![0.25, 0.5], Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 2).await;
    advance(Duration::from_secs(1)).await;
    dep.set(Mode::Ok);
    call(&mut svc, 1).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::HalfOpen, "ramping");
    let admitted = |results: Vec<Result<u32, E>>| results.iter().filter(|r| r.is_ok()).count();
    let mut step1 = Vec::new();
    for _ in 0..100 {
        step1.push(call(&mut svc, 1).await);
    }
    assert_eq!(admitted(step1), 25);
    advance(Duration::from_secs(1)).await;
    let mut step2 = Vec::new();
    for _ in 0..100 {
        step2.push(call(&mut svc, 1).await);
    }
    assert_eq!(admitted(step2), 50);
    advance(Duration::from_secs(1)).await;
    call(&mut svc, 1).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    for _ in 0..10 {
        call(&mut svc, 1).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn failures_during_the_ramp_reopen_the_circuit() {
    let dep = Dep::new(Mode::Fail);
    let layer = CircuitBreakerLayer::builder()
        .count_window(10)
        .minimum_calls(4)
        .permitted_calls_in_half_open(1)
        .open_wait_fixed(Duration::from_secs(1))
        .ramp(vec![0.5], Duration::from_secs(10))
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 4).await;
    advance(Duration::from_secs(1)).await;
    dep.set(Mode::Ok);
    call(&mut svc, 1).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    dep.set(Mode::Fail);
    calls(&mut svc, 8).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn manual_states_hold_until_changed() {
    let dep = Dep::new(Mode::Ok);
    let layer = tripping().build().unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());

    breaker.force_open();
    assert!(is_open(&call(&mut svc, 1).await));
    advance(Duration::from_secs(3600)).await;
    assert!(
        is_open(&call(&mut svc, 1).await),
        "forced open never times out"
    );
    assert_eq!(dep.calls(), 0);

    breaker.disable();
    dep.set(Mode::Fail);
    calls(&mut svc, 10).await;
    assert_eq!(breaker.state(), CircuitState::Disabled);
    assert_eq!(breaker.snapshot().calls, 0, "nothing recorded");

    breaker.metrics_only();
    calls(&mut svc, 10).await;
    assert_eq!(breaker.state(), CircuitState::MetricsOnly, "never opens");
    assert_eq!(breaker.snapshot().failures, 2);

    breaker.close();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.snapshot().calls, 0, "closing starts afresh");
    let _ = call(&mut svc, 1).await;
    let _ = call(&mut svc, 1).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_inside_is_not_a_failure_unless_asked() {
    use ordo_resilience::bulkhead::BulkheadLayer;
    for count in [false, true] {
        let dep = Dep::new(Mode::Hang);
        let bulkhead = BulkheadLayer::builder()
            .max_concurrent_calls(1)
            .build()
            .unwrap();
        let breaker_layer = tripping().count_rejections(count).build().unwrap();
        let breaker = breaker_layer.breaker();
        let mut svc = breaker_layer.layer(bulkhead.layer(dep.service()));
        let _busy = tokio::spawn(svc.clone().oneshot(1));
        settle().await;
        for _ in 0..5 {
            assert!(matches!(
                call(&mut svc, 1).await,
                Err(Error::BulkheadFull(_)) | Err(Error::CircuitOpen(_))
            ));
        }
        let expect = if count {
            CircuitState::Open
        } else {
            CircuitState::Closed
        };
        assert_eq!(breaker.state(), expect, "count_rejections = {count}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_outcome_from_before_a_transition_is_not_recorded() {
    let dep = Dep::new(Mode::SlowFail(Duration::from_secs(1)));
    let layer = tripping().build().unwrap();
    let breaker = layer.breaker();
    let svc = layer.layer(dep.service());
    let slow = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    breaker.force_open();
    breaker.close();
    sleep(Duration::from_secs(1)).await;
    slow.await.unwrap().unwrap_err();
    assert_eq!(breaker.snapshot().calls, 0);
}

#[test]
fn bad_settings_are_refused_with_every_field_named() {
    let err = CircuitBreakerLayer::builder()
        .count_window(0)
        .failure_rate_threshold(150.0)
        .permitted_calls_in_half_open(0)
        .ramp(vec![0.5, 0.2], Duration::ZERO)
        .build()
        .unwrap_err();
    let text = err.to_string();
    for field in [
        "circuit_breaker.window.size",
        "circuit_breaker.minimum_calls",
        "circuit_breaker.failure_rate_threshold",
        "circuit_breaker.half_open.permitted_calls",
        "circuit_breaker.half_open.ramp",
        "circuit_breaker.half_open.ramp_step",
    ] {
        assert!(text.contains(field), "{field} missing from: {text}");
    }
}

#[test]
fn rejections_say_why() {
    let open = forced();
    assert_eq!(open.to_string(), "circuit forced open");
    assert_eq!(open.state(), CircuitState::ForcedOpen);
    assert_eq!(open.retry_in(), None);
}

fn forced() -> CircuitOpen {
    let breaker = ordo_resilience::circuit_breaker::CircuitBreaker::new(
        Default::default(),
        Default::default(),
    )
    .unwrap();
    breaker.force_open();
    breaker.try_acquire().unwrap_err()
}

/// An open circuit rejects at once, without first waiting for capacity
/// inside it that the call would never use.
#[tokio::test(start_paused = true)]
async fn an_open_circuit_does_not_wait_for_a_bulkhead_inside_it() {
    use ordo_resilience::bulkhead::BulkheadLayer;
    let dep = Dep::new(Mode::Hang);
    let bulkhead = BulkheadLayer::builder()
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let layer = tripping().build().unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(bulkhead.layer(dep.service()));
    let _busy = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    breaker.force_open();
    let start = tokio::time::Instant::now();
    assert!(is_open(&call(&mut svc, 2).await));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// A probe that finishes after the circuit was closed by hand must not
/// judge (and reset) the new closed state.
#[tokio::test(start_paused = true)]
async fn a_late_probe_does_not_disturb_a_circuit_closed_by_hand() {
    let dep = Dep::new(Mode::Fail);
    let layer = CircuitBreakerLayer::builder()
        .count_window(10)
        .minimum_calls(5)
        .permitted_calls_in_half_open(1)
        .no_ramp()
        .open_wait_fixed(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 5).await;
    advance(Duration::from_secs(1)).await;
    dep.set(Mode::Slow(Duration::from_secs(1)));
    let probe = tokio::spawn(svc.clone().oneshot(1));
    settle().await;
    breaker.close();
    dep.set(Mode::Fail);
    calls(&mut svc, 4).await;
    probe.await.unwrap().unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.snapshot().failures, 4, "the live window is intact");
}

/// The half-open bookkeeping is tagged with 16 bits of the generation; a
/// later half-open period with the same tag must start afresh.
#[tokio::test(start_paused = true)]
async fn half_open_is_not_stuck_after_the_generation_tag_wraps() {
    let dep = Dep::new(Mode::Ok);
    let layer = tripping().permitted_calls_in_half_open(1).build().unwrap();
    let breaker = layer.breaker();
    let mut svc = layer.layer(dep.service());
    breaker.half_open();
    call(&mut svc, 1).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    for _ in 0..65_533 {
        breaker.close();
    }
    breaker.half_open();
    call(&mut svc, 1).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

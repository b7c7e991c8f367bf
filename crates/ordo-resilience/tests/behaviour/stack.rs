//! Every policy in one stack, in the documented order: each acts where it
//! should, and the metrics count what happened. Also the order checks and
//! the presets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use ordo_resilience::bulkhead::BulkheadLayer;
use ordo_resilience::circuit_breaker::CircuitBreakerLayer;
use ordo_resilience::fallback::{Cause, FallbackLayer, Trigger};
use ordo_resilience::hedge::HedgeLayer;
use ordo_resilience::instrument::InstrumentLayer;
use ordo_resilience::limit::{Aimd, ConcurrencyLimitLayer};
use ordo_resilience::rate_limit::RateLimitLayer;
use ordo_resilience::retry::{Backoff, RetryLayer};
use ordo_resilience::stack::{OrderError, PolicyKind, StackBuilder, StackConfig, presets};
use ordo_resilience::throttle::ThrottleLayer;
use ordo_resilience::timeout::TimeoutLayer;
use ordo_resilience::{CircuitState, Metrics, Rng, Telemetry};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tower::{Layer, ServiceExt};

use crate::support::{Dep, E, Mode, call};

struct Full {
    registry: Registry,
    causes: Arc<Mutex<Vec<Cause>>>,
    breaker: ordo_resilience::circuit_breaker::CircuitBreaker,
}

/// Builds the full stack, outermost first, all reporting as "ratings".
fn full_stack(
    dep: &Dep,
) -> (
    Full,
    impl tower::Service<u32, Response = u32, Error = E> + Clone,
) {
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    let t = Telemetry::new("ratings").with_metrics(&metrics);
    let causes = Arc::new(Mutex::new(Vec::new()));
    let log = causes.clone();
    let breaker = CircuitBreakerLayer::builder()
        .count_window(10)
        .minimum_calls(4)
        .permitted_calls_in_half_open(1)
        .no_ramp()
        .open_wait_fixed(Duration::from_secs(5))
        .telemetry(t.clone())
        .build()
        .unwrap();
    let handle = breaker.breaker();
    let layer = StackBuilder::new()
        .push(
            FallbackLayer::new(move |tr: Trigger<u32, E>| {
                log.lock().unwrap().push(tr.cause());
                Ok(0)
            })
            .telemetry(t.clone()),
        )
        .push(InstrumentLayer::new(t.clone()))
        .push(TimeoutLayer::try_new(Duration::from_secs(10), t.clone()).unwrap())
        .push(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(10)))
                .telemetry(t.clone())
                .build()
                .unwrap(),
        )
        .push(
            HedgeLayer::builder()
                .fixed_delay(Duration::from_millis(500))
                .telemetry(t.clone())
                .build()
                .unwrap(),
        )
        .push(breaker)
        .push(
            RateLimitLayer::builder()
                .rate(1000, Duration::from_secs(1))
                .telemetry(t.clone())
                .build()
                .unwrap(),
        )
        .push(
            ThrottleLayer::builder()
                .rng(Rng::seeded(3))
                .telemetry(t.clone())
                .build()
                .unwrap(),
        )
        .push(TimeoutLayer::try_new(Duration::from_millis(100), t.clone()).unwrap())
        .push(
            BulkheadLayer::builder()
                .max_concurrent_calls(2)
                .telemetry(t.clone())
                .build()
                .unwrap(),
        )
        .push(
            ConcurrencyLimitLayer::builder()
                .algorithm(Aimd::new(50, 10, 100, 0.9, Duration::from_secs(5)))
                .telemetry(t.clone())
                .build()
                .unwrap(),
        )
        .build()
        .expect("the documented order is accepted");
    let svc = layer.layer(dep.service());
    (
        Full {
            registry,
            causes,
            breaker: handle,
        },
        svc,
    )
}

fn exposition(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

#[tokio::test(start_paused = true)]
async fn a_hung_dependency_times_out_opens_the_circuit_and_the_fallback_answers() {
    let dep = Dep::new(Mode::Ok);
    let (full, mut svc) = full_stack(&dep);
    // A healthy history: the window holds 10 successes, throttling has
    // seen 20 accepts.
    for i in 0..20 {
        assert_eq!(call(&mut svc, i).await.unwrap(), i);
    }
    dep.set(Mode::Hang);

    // Call 1: three attempts, each cut by the attempt timeout (inside the
    // breaker, so each counts as a failure): 3 of 10 is under 50 %, so
    // retry runs out of attempts and the fallback answers the timeout.
    assert_eq!(call(&mut svc, 1).await.unwrap(), 0);
    assert_eq!(dep.calls(), 23);
    assert_eq!(full.breaker.state(), CircuitState::Closed);

    // Call 2: the fifth failure opens the circuit; retry sees the open
    // circuit and stops instead of retrying into it.
    assert_eq!(call(&mut svc, 2).await.unwrap(), 0);
    assert_eq!(full.breaker.state(), CircuitState::Open);
    assert_eq!(dep.calls(), 25);

    // Call 3: rejected at once, never reaching the dependency.
    let start = tokio::time::Instant::now();
    assert_eq!(call(&mut svc, 3).await.unwrap(), 0);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(dep.calls(), 25);

    assert_eq!(
        *full.causes.lock().unwrap(),
        vec![Cause::Timeout, Cause::CircuitOpen, Cause::CircuitOpen]
    );
    let text = exposition(&full.registry);
    for line in [
        r#"ordo_calls_total{policy="ratings",outcome="success"} 20"#,
        r#"ordo_calls_total{policy="ratings",outcome="timeout"} 1"#,
        r#"ordo_calls_total{policy="ratings",outcome="circuit-open"} 2"#,
        r#"ordo_retries_total{policy="ratings"} 4"#,
        r#"ordo_timeouts_total{policy="ratings"} 5"#,
        r#"ordo_circuit_state{policy="ratings",state="open"} 1"#,
        r#"ordo_circuit_state{policy="ratings",state="closed"} 0"#,
        r#"ordo_circuit_transitions_total{policy="ratings",from="closed",to="open"} 1"#,
        r#"ordo_rejections_total{policy="ratings",reason="circuit-open"} 2"#,
        r#"ordo_fallbacks_total{policy="ratings",cause="circuit-open"} 2"#,
        r#"ordo_fallbacks_total{policy="ratings",cause="timeout"} 1"#,
        r#"ordo_call_duration_seconds_count{policy="ratings"} 23"#,
        r#"ordo_concurrency_limit{policy="ratings"}"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_answered_by_the_fallback_without_retry_or_trip() {
    let dep = Dep::new(Mode::Slow(Duration::from_millis(50)));
    let (full, svc) = full_stack(&dep);
    let results = join_all((0..10).map(|i| svc.clone().oneshot(i))).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(dep.calls(), 2, "two slots; rejections are not retried");
    let causes = full.causes.lock().unwrap();
    assert_eq!(causes.len(), 8);
    assert!(causes.iter().all(|c| *c == Cause::BulkheadFull));
    assert_eq!(
        full.breaker.state(),
        CircuitState::Closed,
        "rejections are not failures"
    );
    let text = exposition(&full.registry);
    assert!(
        text.contains(r#"ordo_rejections_total{policy="ratings",reason="bulkhead-full"} 8"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ordo_calls_total{policy="ratings",outcome="success"} 2"#),
        "{text}"
    );
}

#[test]
fn every_harmful_order_is_refused_with_its_reason() {
    let retry = || RetryLayer::builder().build().unwrap();
    let breaker = || CircuitBreakerLayer::builder().build().unwrap();
    let timeout = || TimeoutLayer::new(Duration::from_secs(1));
    let fallback = || FallbackLayer::<u32, E>::value(0);
    let cases: Vec<(Result<(), _>, OrderError)> = vec![
        (
            StackBuilder::new()
                .push(breaker())
                .push(fallback())
                .build()
                .map(drop),
            OrderError::OutsideFallback {
                policy: PolicyKind::CircuitBreaker,
            },
        ),
        (
            StackBuilder::new()
                .push(breaker())
                .push(retry())
                .build()
                .map(drop),
            OrderError::RetryInsideCircuitBreaker {
                policy: PolicyKind::Retry,
            },
        ),
        (
            StackBuilder::new()
                .push(
                    CircuitBreakerLayer::builder()
                        .count_rejections(true)
                        .build()
                        .unwrap(),
                )
                .push(BulkheadLayer::builder().build().unwrap())
                .build()
                .map(drop),
            OrderError::RejectionsCountedByBreaker {
                policy: PolicyKind::Bulkhead,
            },
        ),
        (
            StackBuilder::new()
                .push(timeout())
                .push(breaker())
                .build()
                .map(drop),
            OrderError::NoTimeoutInsideCircuitBreaker,
        ),
        (
            StackBuilder::new()
                .push(HedgeLayer::builder().build().unwrap())
                .push(retry())
                .build()
                .map(drop),
            OrderError::HedgeOutsideRetry,
        ),
        (
            StackBuilder::new()
                .push(ConcurrencyLimitLayer::builder().build().unwrap())
                .push(retry())
                .build()
                .map(drop),
            OrderError::LimitOutsideRetry {
                policy: PolicyKind::Retry,
            },
        ),
    ];
    for (result, expected) in cases {
        let errors = result.expect_err("refused");
        assert!(errors.contains(&expected), "{expected:?} not in {errors:?}");
        assert!(!errors.to_string().is_empty());
    }
    // Two timeouts, one on each side of the breaker: fine.
    StackBuilder::new()
        .push(timeout())
        .push(retry())
        .push(breaker())
        .push(timeout())
        .build()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn presets_reproduce_their_anchors_and_serve() {
    let h = presets::hystrix();
    let cb = h.circuit_breaker.as_ref().unwrap();
    assert_eq!(cb.minimum_calls, 20);
    assert_eq!(cb.failure_rate_threshold, 50.0);
    assert_eq!(cb.half_open.permitted_calls, 1);
    assert_eq!(h.attempt_timeout, Some(Duration::from_secs(1)));
    assert_eq!(h.bulkhead.as_ref().unwrap().max_concurrent_calls, 10);

    let r = presets::resilience4j();
    assert_eq!(r.circuit_breaker.as_ref().unwrap().minimum_calls, 100);
    assert_eq!(r.retry.as_ref().unwrap().max_attempts, 3);
    assert_eq!(r.bulkhead.as_ref().unwrap().max_concurrent_calls, 25);

    let p = presets::polly();
    assert_eq!(
        p.circuit_breaker.as_ref().unwrap().failure_rate_threshold,
        10.0
    );
    assert_eq!(p.total_timeout, Some(Duration::from_secs(30)));
    assert_eq!(p.retry.as_ref().unwrap().max_attempts, 4);

    for preset in [
        presets::hystrix(),
        presets::resilience4j(),
        presets::polly(),
        presets::ordo(),
    ] {
        let stack = preset.build(Telemetry::new("svc")).unwrap();
        assert!(stack.breaker().is_some());
        let mut svc = stack.layer(Dep::new(Mode::Ok).service());
        assert_eq!(call(&mut svc, 4).await.unwrap(), 4);
    }
}

#[test]
fn the_config_stack_uses_the_documented_order() {
    let config = StackConfig {
        total_timeout: Some(Duration::from_secs(5)),
        attempt_timeout: Some(Duration::from_secs(1)),
        ..presets::ordo()
    };
    assert_eq!(
        config.order(),
        vec![
            PolicyKind::Instrument,
            PolicyKind::Timeout,
            PolicyKind::Retry,
            PolicyKind::CircuitBreaker,
            PolicyKind::Timeout,
            PolicyKind::Bulkhead,
        ]
    );
}

#[test]
fn contradictory_stack_settings_are_refused() {
    let mut config = presets::ordo();
    config.total_timeout = Some(Duration::from_secs(1));
    config.attempt_timeout = Some(Duration::from_secs(2));
    if let Some(cb) = config.circuit_breaker.as_mut() {
        cb.count_rejections = true;
        cb.minimum_calls = 0;
    }
    let text = config.build(Telemetry::default()).unwrap_err().to_string();
    for field in [
        "stack.attempt_timeout: 2s is longer than total_timeout 1s",
        "stack.circuit_breaker.count_rejections",
        "stack.circuit_breaker.minimum_calls",
    ] {
        assert!(text.contains(field), "{field}: {text}");
    }
}

#[test]
fn a_total_timeout_and_a_breaker_need_an_attempt_timeout() {
    let config = StackConfig {
        attempt_timeout: None,
        ..presets::ordo()
    };
    let text = config.build(Telemetry::default()).unwrap_err().to_string();
    assert!(text.contains("stack.attempt_timeout: is needed"), "{text}");
}

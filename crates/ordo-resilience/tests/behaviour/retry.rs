//! Retry: attempts, backoff, Retry-After, the budget, idempotency, and what
//! is never retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ordo_resilience::circuit_breaker::CircuitOpen;
use ordo_resilience::classify::HttpClassifier;
use ordo_resilience::events::GiveUp;
use ordo_resilience::retry::{Backoff, Idempotency, RetryBudget, RetryBudgetConfig, RetryLayer};
use ordo_resilience::timeout::TimeoutLayer;
use ordo_resilience::{Error, EventKind, Rng, Telemetry, events};
use tokio::time::Instant;
use tower::{Layer, service_fn};

use crate::support::{Dep, E, Mode, call, calls, kinds};

fn constant(ms: u64) -> Backoff {
    Backoff::constant(Duration::from_millis(ms))
}

#[tokio::test(start_paused = true)]
async fn retries_up_to_max_attempts_then_returns_the_last_failure() {
    let dep = Dep::new(Mode::Fail);
    let (listener, mut rx) = events::channel();
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .backoff(constant(10))
        .telemetry(Telemetry::new("db").on_event(listener))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    assert!(matches!(call(&mut svc, 1).await, Err(Error::Inner(_))));
    assert_eq!(dep.calls(), 3);
    assert_eq!(
        kinds(&mut rx),
        vec![
            EventKind::Retry {
                attempt: 2,
                delay: Duration::from_millis(10)
            },
            EventKind::Retry {
                attempt: 3,
                delay: Duration::from_millis(10)
            },
            EventKind::RetryGaveUp {
                attempts: 3,
                reason: GiveUp::Attempts
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_later_success_is_returned() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let inner = service_fn(move |req: u32| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                Err::<u32, E>(Error::Inner("flaky"))
            } else {
                Ok(req)
            }
        }
    });
    let mut svc = RetryLayer::builder()
        .max_attempts(5)
        .build()
        .unwrap()
        .layer(inner);
    assert_eq!(call(&mut svc, 9).await.unwrap(), 9);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// Records when each attempt reached the dependency.
fn timed(
    times: Arc<Mutex<Vec<Instant>>>,
) -> impl tower::Service<u32, Response = u32, Error = E, Future = std::future::Ready<Result<u32, E>>>
+ Clone {
    service_fn(move |_req: u32| {
        times.lock().unwrap().push(Instant::now());
        std::future::ready(Err::<u32, E>(Error::Inner("down")))
    })
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_with_full_jitter_stays_under_each_cap() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let layer = RetryLayer::builder()
        .max_attempts(6)
        .backoff(Backoff::exponential(
            Duration::from_millis(100),
            Duration::from_millis(1000),
        ))
        .no_budget()
        .rng(Rng::seeded(42))
        .build()
        .unwrap();
    let mut svc = layer.layer(timed(times.clone()));
    let _ = call(&mut svc, 1).await;
    let t = times.lock().unwrap();
    assert_eq!(t.len(), 6);
    let caps = [100u64, 200, 400, 800, 1000];
    let mut sum = Duration::ZERO;
    for (i, cap) in caps.iter().enumerate() {
        let gap = t[i + 1] - t[i];
        assert!(
            gap <= Duration::from_millis(*cap),
            "retry {} waited {gap:?}",
            i + 1
        );
        sum += gap;
    }
    // Jittered, not all at the cap and not all at zero.
    assert!(
        sum > Duration::ZERO && sum < Duration::from_millis(2500),
        "{sum:?}"
    );
}

fn http_service(
    script: Vec<(u16, Option<&'static str>)>,
    times: Arc<Mutex<Vec<Instant>>>,
) -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<()>,
    Error = E,
    Future = std::future::Ready<Result<http::Response<()>, E>>,
> + Clone {
    let script = Arc::new(Mutex::new(script.into_iter()));
    service_fn(move |_req: http::Request<()>| {
        times.lock().unwrap().push(Instant::now());
        let (status, retry_after) = script.lock().unwrap().next().unwrap_or((200, None));
        let mut resp = http::Response::builder().status(status);
        if let Some(ra) = retry_after {
            resp = resp.header("retry-after", ra);
        }
        std::future::ready(Ok(resp.body(()).unwrap()))
    })
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_on_429_and_503() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let layer = RetryLayer::builder()
        .classifier(HttpClassifier::new())
        .backoff(constant(10))
        .max_attempts(3)
        .build()
        .unwrap();
    let mut svc = layer.layer(http_service(
        vec![(429, Some("2")), (503, Some("5")), (200, None)],
        times.clone(),
    ));
    let resp = call(&mut svc, http::Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t = times.lock().unwrap();
    assert_eq!(
        t[1] - t[0],
        Duration::from_secs(2),
        "429 is retried, after Retry-After"
    );
    assert_eq!(t[2] - t[1], Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_the_maximum_is_returned_as_is() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let layer = RetryLayer::builder()
        .classifier(HttpClassifier::new())
        .retry_after(true, Duration::from_secs(30))
        .build()
        .unwrap();
    let mut svc = layer.layer(http_service(vec![(503, Some("120"))], times.clone()));
    let resp = call(&mut svc, http::Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(times.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let layer = RetryLayer::builder()
        .classifier(HttpClassifier::new())
        .backoff(constant(1))
        .build()
        .unwrap();
    let mut svc = layer.layer(http_service(vec![(500, None), (404, None)], times.clone()));
    let resp = call(&mut svc, http::Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(times.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_requests_are_not_retried_unless_told() {
    for (allow, expected_calls) in [(false, 1), (true, 3)] {
        let times = Arc::new(Mutex::new(Vec::new()));
        let layer = RetryLayer::builder()
            .classifier(HttpClassifier::new())
            .backoff(constant(1))
            .retry_non_idempotent(allow)
            .build()
            .unwrap();
        let mut svc = layer.layer(http_service(vec![(502, None); 3], times.clone()));
        let post = http::Request::post("/orders").body(()).unwrap();
        let _ = call(&mut svc, post).await;
        assert_eq!(
            times.lock().unwrap().len(),
            expected_calls,
            "allow = {allow}"
        );
    }
    // A POST marked idempotent is retried.
    let times = Arc::new(Mutex::new(Vec::new()));
    let layer = RetryLayer::builder()
        .classifier(HttpClassifier::new())
        .backoff(constant(1))
        .build()
        .unwrap();
    let mut svc = layer.layer(http_service(vec![(502, None), (200, None)], times.clone()));
    let mut post = http::Request::post("/orders").body(()).unwrap();
    post.extensions_mut().insert(Idempotency::Idempotent);
    assert_eq!(call(&mut svc, post).await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn the_budget_is_shared_across_calls() {
    let dep = Dep::new(Mode::Fail);
    let budget = RetryBudget::new(RetryBudgetConfig {
        ratio: 0.2,
        min_per_second: 0,
        ttl: Duration::from_secs(10),
    })
    .unwrap();
    let (listener, mut rx) = events::channel();
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .backoff(constant(1))
        .budget(budget.clone())
        .telemetry(Telemetry::new("db").on_event(listener))
        .build()
        .unwrap();
    let mut svc = layer.layer(dep.service());
    calls(&mut svc, 20).await;
    // 20 calls buy 20 % = 4 retries, however many each call wanted.
    assert_eq!(dep.calls(), 24);
    let budget_give_ups = kinds(&mut rx)
        .into_iter()
        .filter(|k| {
            matches!(
                k,
                EventKind::RetryGaveUp {
                    reason: GiveUp::Budget,
                    ..
                }
            )
        })
        .count();
    assert!(budget_give_ups >= 16, "{budget_give_ups}");
}

#[tokio::test(start_paused = true)]
async fn local_rejections_are_never_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let inner = service_fn(move |_req: u32| {
        seen.fetch_add(1, Ordering::SeqCst);
        let open = ordo_resilience::circuit_breaker::CircuitBreaker::new(
            Default::default(),
            Default::default(),
        )
        .map(|b| {
            b.force_open();
            b.try_acquire().unwrap_err()
        })
        .unwrap();
        std::future::ready(Err::<u32, E>(Error::CircuitOpen(CircuitOpen::clone(&open))))
    });
    let mut svc = RetryLayer::builder().build().unwrap().layer(inner);
    assert!(matches!(
        call(&mut svc, 1).await,
        Err(Error::CircuitOpen(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn attempt_timeouts_are_retried() {
    let dep = Dep::new(Mode::Slow(Duration::from_secs(10)));
    let attempt = TimeoutLayer::new(Duration::from_millis(100));
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(constant(0))
        .build()
        .unwrap();
    let mut svc = retry.layer(attempt.layer(dep.service()));
    let start = Instant::now();
    assert!(matches!(call(&mut svc, 1).await, Err(Error::Timeout(_))));
    assert_eq!(dep.calls(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[test]
fn bad_settings_are_refused() {
    let err = RetryLayer::builder()
        .max_attempts(0)
        .backoff(Backoff::exponential(
            Duration::from_secs(2),
            Duration::from_secs(1),
        ))
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("retry.max_attempts"), "{text}");
    assert!(text.contains("retry.backoff.max"), "{text}");
}

//! Per-call overhead of ordo's policies, against a bare service and against
//! two peer circuit breakers, in the same run.
//!
//! Run with `cargo bench -p ordo-resilience --bench overhead`; results and
//! the targets they are checked against are in `BENCHMARKS.md`.
//!
//! Every benchmark makes calls that succeed at once: the inner service is a
//! `service_fn` returning `std::future::ready(Ok(x))`, so what is measured
//! is what a policy adds to a call, not any waiting. Futures are polled with
//! a no-op waker and no runtime: a call that completes on its first poll
//! never arms a timer. Each benchmark runs on one thread, and on two threads
//! that share the policy's state (clones of one service), each thread making
//! every call; the time reported is per call, as each thread saw it.

use std::future::Future;
use std::hint::{black_box, spin_loop};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use ordo_resilience::bulkhead::BulkheadLayer;
use ordo_resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerLayer};
use ordo_resilience::fallback::FallbackLayer;
use ordo_resilience::hedge::HedgeLayer;
use ordo_resilience::limit::{Aimd, ConcurrencyLimitLayer};
use ordo_resilience::rate_limit::RateLimitLayer;
use ordo_resilience::retry::RetryLayer;
use ordo_resilience::stack::StackBuilder;
use ordo_resilience::throttle::ThrottleLayer;
use ordo_resilience::timeout::TimeoutLayer;
use ordo_resilience::{Error, Telemetry};
use recloser::{AsyncRecloser, Recloser};
use tower::{Layer, Service, service_fn};

/// The bare service's error: ordo's, so that every layer can add its own.
type Err = Error<()>;

/// Threads in the contended variant (the benchmark machine has two cores).
const THREADS: usize = 2;

/// The baseline: a service that answers on its first poll.
fn bare() -> impl Service<u64, Response = u64, Error = Err, Future: Send> + Clone + Send {
    service_fn(|x: u64| std::future::ready(Ok::<u64, Err>(x)))
}

/// Polls `fut` to completion with a no-op waker. Ordo's futures complete on
/// the first poll here (checked by [`ready_on_first_poll`]); a peer's may
/// not when a lock is held by the other thread, so poll until ready.
#[inline(always)]
fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        spin_loop();
    }
}

/// Waits for readiness, as `ServiceExt::ready` would, without a runtime.
#[inline(always)]
fn ready<S: Service<u64>>(svc: &mut S) {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => return,
            Poll::Ready(Err(_)) => panic!("poll_ready failed: the setup is wrong"),
            Poll::Pending => spin_loop(),
        }
    }
}

/// One call through a tower service: `poll_ready`, `call`, poll.
#[inline(always)]
fn call<S: Service<u64, Response = u64>>(svc: &mut S, req: u64) -> u64 {
    ready(svc);
    match run(svc.call(req)) {
        Ok(v) => v,
        Err(_) => panic!("a call failed: a policy rejected it, so the setup is wrong"),
    }
}

/// Asserts that a call through `svc` completes on its first poll and
/// succeeds, so that the numbers measure no waiting and no rejections.
fn ready_on_first_poll<S: Service<u64, Response = u64>>(mut svc: S) -> S {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut fut = pin!(svc.call(7));
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
    svc
}

/// A tower service as a call function; clones share the service's state.
fn service<S>(svc: S) -> impl FnMut(u64) -> u64 + Clone + Send
where
    S: Service<u64, Response = u64> + Clone + Send,
{
    let mut svc = ready_on_first_poll(svc);
    move |x| call(&mut svc, x)
}

// `std::time::Instant` is banned in the workspace so that tokio's paused
// clock controls time in tests; a benchmark measures real time on purpose.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn timed<F: FnMut(u64) -> u64>(f: &mut F, iters: u64) -> Duration {
    let start = std::time::Instant::now();
    for i in 0..iters {
        black_box(f(black_box(i)));
    }
    start.elapsed()
}

/// `iters` calls on each of [`THREADS`] threads at once, each with its own
/// clone of `f`; returns the slowest thread's time.
fn contended<F: FnMut(u64) -> u64 + Clone + Send>(f: &F, iters: u64) -> Duration {
    let arrived = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let mut f = f.clone();
                let arrived = &arrived;
                s.spawn(move || {
                    // Start together: a sleeping barrier would let one
                    // thread run alone for a wake-up's time.
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < THREADS {
                        spin_loop();
                    }
                    timed(&mut f, iters)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a benchmark thread panicked"))
            .max()
            .expect("at least one thread")
    })
}

/// Registers `name/1_thread` and `name/2_threads`.
fn bench<F: FnMut(u64) -> u64 + Clone + Send>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    f: F,
) {
    let mut alone = f.clone();
    g.bench_function(format!("{name}/1_thread"), |b| {
        b.iter_custom(|iters| timed(&mut alone, iters))
    });
    g.bench_function(format!("{name}/{THREADS}_threads"), |b| {
        b.iter_custom(|iters| contended(&f, iters))
    });
}

fn baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline");
    let f = service(bare());
    let mut alone = f.clone();
    g.bench_function("1_thread", |b| {
        b.iter_custom(|iters| timed(&mut alone, iters))
    });
    g.bench_function(format!("{THREADS}_threads"), |b| {
        b.iter_custom(|iters| contended(&f, iters))
    });
    g.finish();
}

fn closed_breaker(c: &mut Criterion) {
    let mut g = c.benchmark_group("closed_breaker");

    let layer = CircuitBreakerLayer::builder()
        .build()
        .expect("defaults are valid");
    bench(&mut g, "ordo", service(layer.layer(bare())));

    let layer = CircuitBreakerLayer::builder()
        .time_window(Duration::from_secs(10), 10)
        .build()
        .expect("valid settings");
    bench(&mut g, "ordo_time_window", service(layer.layer(bare())));

    let layer = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("defaults are valid");
    bench(&mut g, "tower_resilience", service(layer.layer(bare())));

    // recloser wraps the bare service's future, driven like the others.
    let recloser = AsyncRecloser::from(Recloser::default());
    let mut svc = bare();
    let f = move |x| {
        ready(&mut svc);
        match run(recloser.call(svc.call(x))) {
            Ok(v) => v,
            Err(_) => panic!("recloser rejected a call"),
        }
    };
    bench(&mut g, "recloser_async", f);

    // The synchronous APIs: a permit around a call, no service, no future.
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::default(), Telemetry::default())
        .expect("defaults are valid");
    let f = move |x| match breaker.try_acquire() {
        Ok(permit) => {
            permit.success();
            x
        }
        Err(_) => panic!("the circuit opened"),
    };
    bench(&mut g, "ordo_permit", f);

    let recloser = Arc::new(Recloser::default());
    let f = move |x| match recloser.call(|| Ok::<u64, ()>(x)) {
        Ok(v) => v,
        Err(_) => panic!("recloser rejected a call"),
    };
    bench(&mut g, "recloser", f);

    g.finish();
}

fn layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("layer");

    let bulkhead = BulkheadLayer::builder()
        .build()
        .expect("defaults are valid");
    bench(&mut g, "bulkhead", service(bulkhead.layer(bare())));

    let timeout = TimeoutLayer::new(Duration::from_secs(1));
    bench(&mut g, "timeout", service(timeout.layer(bare())));

    let retry = RetryLayer::builder().build().expect("defaults are valid");
    bench(&mut g, "retry", service(retry.layer(bare())));

    let fallback = FallbackLayer::<u64, Err>::value(0);
    bench(&mut g, "fallback", service(fallback.layer(bare())));

    let limit = ConcurrencyLimitLayer::builder()
        .algorithm(Aimd::new(
            1_000,
            1_000,
            100_000,
            0.9,
            Duration::from_secs(5),
        ))
        .build()
        .expect("valid settings");
    bench(&mut g, "concurrency_limit", service(limit.layer(bare())));

    let throttle = ThrottleLayer::builder()
        .build()
        .expect("defaults are valid");
    bench(&mut g, "throttle", service(throttle.layer(bare())));

    // One permit per nanosecond, with a burst of a second's worth: never
    // the limit at tens of nanoseconds a call.
    let rate = 1_000_000_000;
    let rate_limit = RateLimitLayer::builder()
        .rate(rate, Duration::from_secs(1))
        .burst(rate)
        .build()
        .expect("valid settings");
    bench(&mut g, "rate_limit", service(rate_limit.layer(bare())));

    let hedge = HedgeLayer::builder()
        .fixed_delay(Duration::from_millis(50))
        .build()
        .expect("valid settings");
    bench(&mut g, "hedge", service(hedge.layer(bare())));

    g.finish();
}

fn stack(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack");
    // The documented order, outermost first.
    let stack = StackBuilder::new()
        .push(FallbackLayer::<u64, Err>::value(0))
        .push(RetryLayer::builder().build().expect("defaults are valid"))
        .push(
            CircuitBreakerLayer::builder()
                .build()
                .expect("defaults are valid"),
        )
        .push(TimeoutLayer::new(Duration::from_secs(1)))
        .push(
            BulkheadLayer::builder()
                .build()
                .expect("defaults are valid"),
        )
        .build()
        .expect("the documented order is accepted");
    bench(&mut g, "five_policies", service(stack.layer(bare())));
    g.finish();
}

criterion_group!(benches, baseline, closed_breaker, layers, stack);
criterion_main!(benches);

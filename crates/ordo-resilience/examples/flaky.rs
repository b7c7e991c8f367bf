//! A flaky dependency behind ordo's stack, and what each policy does about it.
//!
//! Run with `cargo run -p ordo-resilience --example flaky` (add
//! `-- --real-time` to watch it unfold at wall-clock speed; by default it
//! runs on tokio's paused clock, so it finishes at once and prints the same
//! timeline every time).
//!
//! The client asks "ratings" for a book 50 times a second for 8 seconds.
//! Ratings is healthy but flaky at first (one call in ten fails: retry
//! hides them), then goes down and hangs (timeouts fail the calls, the
//! circuit opens, the fallback answers from a cache; trial calls find it
//! still down), then recovers (trial calls pass, traffic ramps back up, the
//! circuit closes). Expected output, abridged:
//!
//! ```text
//!   from    to  calls  live  cached  errors  retries  circuit
//!   0.0s  0.5s     26    25       0       0        1  closed
//!   ...
//!   2.2s        ratings goes down: every call hangs
//!   2.0s  2.5s     25    10       5       0        8  closed
//!   2.5s        circuit closed → open  (calls fail fast; the fallback answers)
//!   ...
//!   5.9s        circuit open → half-open  (3 trial calls, then 25 % and 50 % of calls)
//!   6.8s        circuit half-open → closed  (full traffic again)
//!   ...
//! 401 calls: 190 live answers, 211 cached answers from the fallback, 0 errors.
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ordo_resilience::bulkhead::BulkheadLayer;
use ordo_resilience::circuit_breaker::CircuitBreakerLayer;
use ordo_resilience::events::{self, EventKind};
use ordo_resilience::fallback::{Cause, FallbackLayer, Trigger};
use ordo_resilience::retry::{Backoff, RetryLayer};
use ordo_resilience::stack::StackBuilder;
use ordo_resilience::timeout::TimeoutLayer;
use ordo_resilience::{CircuitState, Error, Rng, Telemetry};
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

/// What ratings answers: stars, and where they came from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rating {
    Live(f32),
    Cached,
}

type E = Error;

/// Ratings' three moods, switched by the clock.
#[derive(Clone, Copy)]
enum Health {
    Flaky,
    Down,
    Healthy,
}

const DOWN_AT: Duration = Duration::from_millis(2200);
const UP_AT: Duration = Duration::from_millis(5000);
const END: Duration = Duration::from_secs(8);
const EVERY: Duration = Duration::from_millis(20);
const ROW: Duration = Duration::from_millis(500);

fn main() {
    let real_time = std::env::args().any(|a| a == "--real-time");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(!real_time)
        .build()
        .expect("a single-threaded runtime starts");
    runtime.block_on(run());
}

async fn run() {
    let start = Instant::now();
    let health = move || match start.elapsed() {
        t if t < DOWN_AT => Health::Flaky,
        t if t < UP_AT => Health::Down,
        _ => Health::Healthy,
    };
    let rng = Arc::new(Rng::seeded(2024));
    let ratings = service_fn(move |book: u32| {
        let mood = health();
        let roll = rng.next_f64();
        async move {
            let answer: Result<Rating, E> = match mood {
                Health::Flaky if roll < 0.1 => Err(Error::Inner("ratings: internal error".into())),
                Health::Down => std::future::pending().await,
                _ => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Ok(Rating::Live(3.0 + (book % 20) as f32 / 10.0))
                }
            };
            answer
        }
    });

    let (listener, mut events) = events::channel();
    let telemetry = Telemetry::new("ratings").on_event(listener);
    let breaker = CircuitBreakerLayer::builder()
        .count_window(20)
        .minimum_calls(10)
        .failure_rate_threshold(50.0)
        .open_wait_fixed(Duration::from_secs(1))
        .permitted_calls_in_half_open(3)
        .ramp(vec![0.25, 0.5], Duration::from_millis(400))
        .telemetry(telemetry.clone())
        .build()
        .expect("valid breaker settings");
    let state = breaker.breaker();
    let stack = StackBuilder::new()
        .push(FallbackLayer::new(move |t: Trigger<Rating, E>| {
            match t.cause() {
                // A cached answer beats an error page.
                Cause::CircuitOpen | Cause::Timeout | Cause::Failure | Cause::BulkheadFull => {
                    Ok(Rating::Cached)
                }
                _ => t.into_result(),
            }
        }))
        .push(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::exponential(
                    Duration::from_millis(10),
                    Duration::from_millis(100),
                ))
                .rng(Rng::seeded(7))
                .telemetry(telemetry.clone())
                .build()
                .expect("valid retry settings"),
        )
        .push(breaker)
        .push(
            TimeoutLayer::try_new(Duration::from_millis(150), telemetry.clone())
                .expect("valid timeout"),
        )
        .push(
            BulkheadLayer::builder()
                .max_concurrent_calls(10)
                .telemetry(telemetry)
                .build()
                .expect("valid bulkhead settings"),
        )
        .build()
        .expect("the documented order");
    let client = stack.layer(ratings);

    println!(
        "A client calls ratings 50 times a second through:\n  \
         fallback > retry (3 attempts) > circuit breaker > timeout (150 ms) > bulkhead (10)\n"
    );
    println!("  from    to  calls  live  cached  errors  retries  circuit");
    let tally = Arc::new(Tally::default());
    let mut row = Row::default();
    let mut row_end = ROW;
    let mut announced = (false, false);
    let mut book = 0u32;
    let mut total = Row::default();
    while start.elapsed() < END {
        tokio::time::sleep_until(start + EVERY * book).await;
        if start.elapsed() >= row_end {
            row.take_answers(&tally);
            println!(
                "{:>5.1}s {:>4.1}s  {:>5}  {:>4}  {:>6}  {:>6}  {:>7}  {}",
                (row_end - ROW).as_secs_f64(),
                row_end.as_secs_f64(),
                row.calls,
                row.live,
                row.cached,
                row.errors,
                row.retries,
                state.state(),
            );
            total.add(&row);
            row = Row::default();
            row_end += ROW;
        }
        if !announced.0 && start.elapsed() >= DOWN_AT {
            announced.0 = true;
            println!(
                "{:>5.1}s        ratings goes down: every call hangs",
                secs(start)
            );
        }
        if !announced.1 && start.elapsed() >= UP_AT {
            announced.1 = true;
            println!("{:>5.1}s        ratings recovers", secs(start));
        }
        book += 1;
        row.calls += 1;
        // Open loop: calls start on schedule, whether or not earlier ones
        // have answered, as real users do.
        // Boxed so that the task's type is simple for the compiler to prove
        // `Send` (a long tower stack inside an async block trips rustc's
        // higher-ranked lifetime check, rust-lang/rust#64552).
        let call: Pin<Box<dyn Future<Output = Result<Rating, E>> + Send>> =
            Box::pin(client.clone().oneshot(book));
        let counts = tally.clone();
        tokio::spawn(async move {
            let slot = match call.await {
                Ok(Rating::Live(_)) => &counts.live,
                Ok(Rating::Cached) => &counts.cached,
                Err(_) => &counts.errors,
            };
            slot.fetch_add(1, Ordering::Relaxed);
        });
        while let Ok(event) = events.try_recv() {
            match event.kind {
                EventKind::Retry { .. } => row.retries += 1,
                EventKind::CircuitTransition { from, to } => {
                    let note = match to {
                        CircuitState::Open => "  (calls fail fast; the fallback answers)",
                        CircuitState::HalfOpen => "  (3 trial calls, then 25 % and 50 % of calls)",
                        CircuitState::Closed => "  (full traffic again)",
                        _ => "",
                    };
                    println!(
                        "{:>5.1}s        circuit {from} → {to}{note}",
                        event.at.duration_since(start).as_secs_f64()
                    );
                }
                _ => {}
            }
        }
    }
    // Let the last calls answer.
    tokio::time::sleep(Duration::from_secs(1)).await;
    row.take_answers(&tally);
    total.add(&row);
    println!(
        "\n{} calls: {} live answers, {} cached answers from the fallback, {} errors.",
        total.calls, total.live, total.cached, total.errors
    );
}

/// Answers counted as calls finish.
#[derive(Default)]
struct Tally {
    live: AtomicU32,
    cached: AtomicU32,
    errors: AtomicU32,
}

/// One line of the timeline.
#[derive(Default)]
struct Row {
    calls: u32,
    live: u32,
    cached: u32,
    errors: u32,
    retries: u32,
}

impl Row {
    fn take_answers(&mut self, tally: &Tally) {
        self.live += tally.live.swap(0, Ordering::Relaxed);
        self.cached += tally.cached.swap(0, Ordering::Relaxed);
        self.errors += tally.errors.swap(0, Ordering::Relaxed);
    }

    fn add(&mut self, other: &Row) {
        self.calls += other.calls;
        self.live += other.live;
        self.cached += other.cached;
        self.errors += other.errors;
        self.retries += other.retries;
    }
}

fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

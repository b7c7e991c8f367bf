//! The schedule and the accounting on Tokio's paused clock, with a
//! scripted in-process transport: every instant is exact, so the tests
//! check the arithmetic of coordinated omission, not approximations.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::start_with;
use crate::error::ErrorKind;
use crate::report::Report;
use crate::spec::{LoadSpec, Plan};
use crate::transport::Transport;

type Answer = (Duration, Result<u16, ErrorKind>);

/// Answers request `n` (in send order) after the delay its script gives,
/// and records when each was sent.
struct Script {
    answer: Box<dyn Fn(u64) -> Answer + Send + Sync>,
    sends: Mutex<Vec<Instant>>,
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
struct Scripted(Arc<Script>);

impl Scripted {
    fn new(answer: impl Fn(u64) -> Answer + Send + Sync + 'static) -> Self {
        Self(Arc::new(Script {
            answer: Box::new(answer),
            sends: Mutex::new(Vec::new()),
        }))
    }

    fn sends(&self) -> Vec<Instant> {
        self.0
            .sends
            .lock()
            .expect("no test panics holding it")
            .clone()
    }
}

impl Transport for Scripted {
    async fn send(&self) -> Result<u16, ErrorKind> {
        let n = {
            let mut sends = self.0.sends.lock().expect("no test panics holding it");
            sends.push(Instant::now());
            sends.len() as u64 - 1
        };
        let (delay, outcome) = (self.0.answer)(n);
        if !delay.is_zero() {
            sleep(delay).await;
        }
        outcome
    }
}

fn plan(rate: f64, duration: Option<Duration>, max_in_flight: usize, timeout: Duration) -> Plan {
    let spec = LoadSpec {
        duration,
        max_in_flight,
        timeout,
        ..LoadSpec::new("http://test.invalid/", rate)
    };
    spec.compile().expect("a valid spec").1
}

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

/// Within HdrHistogram's precision (three significant digits) of `expected`.
#[track_caller]
fn assert_close(got: Duration, expected: Duration) {
    let (got, expected) = (got.as_micros() as f64, expected.as_micros() as f64);
    assert!(
        (got - expected).abs() <= expected / 1000.0 + 1.0,
        "{got} µs is not within 0.1% of {expected} µs"
    );
}

fn latencies_at_least(report: &Report, at_least: Duration) -> u64 {
    let from = at_least.as_micros() as u64;
    report.histogram().count_between(from, u64::MAX)
}

#[tokio::test(start_paused = true)]
async fn rate_100_for_10s_sends_exactly_1000_requests_each_at_its_intended_time() {
    let transport = Scripted::new(|_| (3 * MS, Ok(200)));
    let start = Instant::now();
    let run = start_with(
        plan(100.0, Some(10 * SECOND), 1024, 5 * SECOND),
        transport.clone(),
    );
    let report = run.finish().await;

    let sends = transport.sends();
    assert_eq!(sends.len(), 1000);
    for (i, at) in sends.iter().enumerate() {
        assert_eq!(*at - start, 10 * MS * i as u32, "request {i}");
    }
    let t = &report.snapshot.total;
    assert_eq!(
        (t.intended, t.sent, t.completed, t.ok),
        (1000, 1000, 1000, 1000)
    );
    assert_eq!(report.snapshot.elapsed, 10 * SECOND);
    assert_eq!(t.achieved_rate, 100.0);
    assert_close(t.latency.p50, 3 * MS);
    assert_eq!(t.latency.max, 3 * MS);
    assert_eq!(t.send_lag.max, Duration::ZERO);
    assert!(report.snapshot.finished);
    assert_eq!(report.snapshot.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stall_shows_in_the_latency_of_every_request_due_during_it() {
    // Request 10 (due at 100 ms) takes 500 ms; the rest answer at once. With
    // one slot, requests 11..=59 (due 110..=590 ms) wait for it and are sent
    // at 600 ms: their latencies are 490, 480, ..., 10 ms.
    let transport = Scripted::new(|n| {
        if n == 10 {
            (500 * MS, Ok(200))
        } else {
            (Duration::ZERO, Ok(200))
        }
    });
    let run = start_with(
        plan(100.0, Some(2 * SECOND), 1, 5 * SECOND),
        transport.clone(),
    );
    let report = run.finish().await;

    let sends = transport.sends();
    assert_eq!(sends.len(), 200);
    assert_eq!(
        sends[11],
        sends[10] + 500 * MS,
        "request 11 waited for the slot"
    );
    let t = &report.snapshot.total;
    assert_eq!((t.intended, t.sent, t.completed), (200, 200, 200));
    // Sorted latencies: 150 zeros, then 10, 20, ..., 490 ms, then 500 ms.
    assert_close(t.latency.max, 500 * MS);
    assert_close(t.latency.p999, 500 * MS); // rank 200
    assert_close(t.latency.p99, 480 * MS); // rank 198
    assert_close(t.latency.p90, 300 * MS); // rank 180
    assert_eq!(t.latency.p50, Duration::ZERO);
    // Request 10 itself, and 11..=50 (490 down to 100 ms).
    assert_eq!(latencies_at_least(&report, 100 * MS), 41);
    assert_eq!(report.histogram().count_at(0), 150);
    // A closed-loop tester would have seen one slow request, not 50.
    assert_eq!(latencies_at_least(&report, 10 * MS), 50);
    // The wait for the slot was the generator's: it shows as send lag.
    assert_close(t.send_lag.max, 490 * MS);
    assert_close(t.send_lag.p99, 470 * MS); // rank 198: request 10 had none
    assert!(crate::report_text(&report).contains("send lag  p50 0µs  p99 470ms  max 490ms"));
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_errors_of_kind_timeout_and_not_latencies() {
    // Every other request takes 10 s against a 1 s timeout.
    let transport = Scripted::new(|n| {
        if n % 2 == 0 {
            (10 * SECOND, Ok(200))
        } else {
            (2 * MS, Ok(200))
        }
    });
    let run = start_with(plan(10.0, Some(2 * SECOND), 1024, SECOND), transport);
    let report = run.finish().await;

    let t = &report.snapshot.total;
    assert_eq!((t.sent, t.completed, t.errors.timeout), (20, 10, 10));
    assert_eq!(t.errors.total(), 10);
    assert_eq!(t.error_ratio(), 0.5);
    assert_close(t.latency.max, 2 * MS);
    // The last timeout (request 18, sent at 1.8 s) ends the run at 2.8 s.
    assert_eq!(report.snapshot.elapsed, 2800 * MS);
}

#[tokio::test(start_paused = true)]
async fn transport_errors_are_counted_by_kind() {
    let transport = Scripted::new(|n| {
        let outcome = match n % 4 {
            0 => Err(ErrorKind::Connect),
            1 => Err(ErrorKind::Io),
            2 => Ok(503),
            _ => Ok(404),
        };
        (MS, outcome)
    });
    let run = start_with(plan(40.0, Some(SECOND), 1024, SECOND), transport);
    let t = run.finish().await.snapshot.total;
    assert_eq!(
        (t.errors.connect, t.errors.io, t.errors.timeout),
        (10, 10, 0)
    );
    assert_eq!(
        (t.completed, t.ok, t.status_5xx, t.status_4xx),
        (20, 0, 10, 10)
    );
    assert_eq!(t.completed + t.errors.total(), t.sent);
}

#[tokio::test(start_paused = true)]
async fn stop_ends_promptly_and_loses_nothing() {
    let transport = Scripted::new(|_| (20 * MS, Ok(200)));
    let run = start_with(plan(100.0, None, 1024, 5 * SECOND), transport);
    sleep(SECOND + 5 * MS).await;
    let running = run.snapshot();
    assert_eq!((running.total.intended, running.total.sent), (101, 101));
    assert_eq!(running.in_flight, 2, "requests 99 and 100 are in flight");

    run.stop();
    let stopped = Instant::now();
    let report = run.finish().await;
    // Only the requests in flight were waited for.
    assert_eq!(Instant::now() - stopped, 15 * MS);
    let t = &report.snapshot.total;
    assert_eq!((t.intended, t.sent, t.completed), (101, 101, 101));
    assert_eq!(t.completed + t.errors.total(), t.sent);
    assert_eq!(report.snapshot.in_flight, 0);
    assert_eq!(report.snapshot.elapsed, 1020 * MS);
}

#[tokio::test(start_paused = true)]
async fn stop_abandons_requests_waiting_for_a_slot_but_counts_them_as_intended() {
    let transport = Scripted::new(|_| (SECOND, Ok(200)));
    let run = start_with(plan(100.0, None, 1, 5 * SECOND), transport.clone());
    sleep(505 * MS).await;
    run.stop();
    let report = run.finish().await;
    let t = &report.snapshot.total;
    assert_eq!((t.intended, t.sent, t.completed), (51, 1, 1));
    assert_eq!(transport.sends().len(), 1);
    assert!(crate::report_text(&report).contains("not sent  50 requests were due"));
}

#[tokio::test(start_paused = true)]
async fn finishing_an_unbounded_run_stops_it() {
    let transport = Scripted::new(|_| (MS, Ok(200)));
    let run = start_with(plan(10.0, None, 1024, SECOND), transport);
    sleep(SECOND / 2).await;
    let t = run.finish().await.snapshot.total;
    assert_eq!((t.sent, t.completed), (5, 5));
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_arrives_each_second_with_that_seconds_counts() {
    // 7 ms per request, so each second's 10 requests end within it.
    let transport = Scripted::new(|_| (7 * MS, Ok(200)));
    let run = start_with(plan(10.0, Some(3 * SECOND), 1024, SECOND), transport);
    let mut feed = run.subscribe();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while feed.changed().await.is_ok() {
            seen.push((Instant::now(), feed.borrow_and_update().clone()));
        }
        seen
    });
    let start = Instant::now();
    let report = run.finish().await;
    let seen = reader.await.expect("the reader does not panic");

    let (last_at, last) = seen.last().expect("a final snapshot");
    assert!(last.finished);
    assert_eq!(*last_at - start, 3 * SECOND, "a 3 s run lasts 3 s");
    assert_eq!(last.elapsed, 3 * SECOND);
    assert_eq!(last.total, report.snapshot.total);
    // The third second closes as the run ends, so its snapshot may be
    // replaced by the final one before the reader sees it.
    let seconds: Vec<_> = seen.iter().filter(|(_, s)| !s.finished).collect();
    assert!(
        (2..=3).contains(&seconds.len()),
        "one per second: {seen:#?}"
    );
    let windows = seconds
        .iter()
        .map(|(at, s)| (*at, s))
        .chain([(*last_at, last)]);
    for (i, (at, s)) in windows.enumerate().take(3) {
        let n = i as u32 + 1;
        assert_eq!(at - start, n * SECOND);
        assert_eq!(s.elapsed, n * SECOND);
        let last = s.last_second.as_ref().expect("a whole second passed");
        assert_eq!((last.intended, last.sent, last.completed), (10, 10, 10));
        assert_eq!(last.achieved_rate, 10.0);
        assert_close(last.latency.p99, 7 * MS);
        assert_eq!(s.total.completed, 10 * u64::from(n));
    }
}

#[tokio::test(start_paused = true)]
async fn a_quiet_second_closes_empty() {
    // Request 0 takes 2.5 s: the first two seconds close with nothing done.
    let transport = Scripted::new(|_| (2500 * MS, Ok(200)));
    let run = start_with(plan(1.0, Some(SECOND), 1024, 5 * SECOND), transport);
    sleep(2100 * MS).await;
    let s = run.snapshot();
    let last = s.last_second.expect("two seconds passed");
    assert_eq!((last.intended, last.sent, last.completed), (0, 0, 0));
    assert_eq!(s.in_flight, 1);
    let report = run.finish().await;
    assert_close(report.snapshot.total.latency.max, 2500 * MS);
}

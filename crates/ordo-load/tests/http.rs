//! The real HTTP path over loopback: ordo-test-support upstreams on
//! 127.0.0.1 port 0, counted on the server side. These run on the real
//! clock, so they assert counts, never timings.

use std::time::Duration;

use ordo_load::{Load, LoadError, LoadSpec};
use ordo_test_support::raw::{RawReply, RawUpstream};
use ordo_test_support::{Behaviour, Upstream};

fn for_secs(url: String, rate: f64, secs: f64) -> LoadSpec {
    LoadSpec {
        duration: Some(Duration::from_secs_f64(secs)),
        ..LoadSpec::new(url, rate)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_200_for_1s_delivers_200_requests_to_the_server() {
    let up = Upstream::builder().start().await;
    let run = Load::start(for_secs(up.url("/"), 200.0, 1.0)).expect("a valid spec");
    let report = run.finish().await;

    assert_eq!(up.hits(), 200, "counted by the server");
    let t = &report.snapshot.total;
    assert_eq!(
        (t.intended, t.sent, t.completed, t.ok),
        (200, 200, 200, 200)
    );
    assert_eq!(t.errors.total(), 0);
    assert!(t.latency.p50 > Duration::ZERO);
    assert!(t.latency.max >= t.latency.p99);
    assert_eq!(report.histogram().len(), 200);
    up.shutdown().await;
}

#[tokio::test]
async fn the_method_headers_and_body_are_sent() {
    let up = Upstream::builder().record(true).start().await;
    let spec = LoadSpec {
        method: "POST".into(),
        headers: vec![
            ("x-test".into(), "one".into()),
            ("x-test".into(), "two".into()),
        ],
        body: "payload".into(),
        max_requests: Some(3),
        ..LoadSpec::new(up.url("/orders?x=1"), 100.0)
    };
    let report = Load::start(spec).expect("a valid spec").finish().await;
    assert_eq!(report.snapshot.total.ok, 3);
    let seen = up.last_request().expect("a recorded request");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/orders?x=1");
    let values: Vec<_> = seen.headers.get_all("x-test").iter().collect();
    assert_eq!(values, ["one", "two"]);
    assert_eq!(seen.body, "payload");
    up.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_counted_as_5xx() {
    let up = Upstream::builder()
        .behaviour(Behaviour::FailRatio {
            ratio: 0.5,
            status: 503,
        })
        .start()
        .await;
    let report = Load::start(for_secs(up.url("/"), 100.0, 0.5))
        .expect("a valid spec")
        .finish()
        .await;
    let t = &report.snapshot.total;
    assert_eq!((t.completed, t.ok, t.status_5xx), (50, 25, 25));
    assert_eq!(t.errors.total(), 0);
    let text = ordo_load::report_text(&report);
    assert!(text.contains("status    ok 25  4xx 0  5xx 25"), "{text}");
    up.shutdown().await;
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // A port that was free a moment ago and has no listener now.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("a bound address");
    drop(listener);

    let report = Load::start(for_secs(format!("http://{addr}/"), 100.0, 0.2))
        .expect("a valid spec")
        .finish()
        .await;
    let t = &report.snapshot.total;
    assert_eq!((t.sent, t.completed), (20, 0));
    assert_eq!(t.errors.connect, 20);
    assert_eq!(t.error_ratio(), 1.0);
    assert!(ordo_load::report_text(&report).contains("no request completed"));
}

#[tokio::test]
async fn resets_are_io_errors_and_slow_answers_time_out() {
    let up = Upstream::builder()
        .behaviour(Behaviour::Reset)
        .start()
        .await;
    let report = Load::start(for_secs(up.url("/"), 50.0, 0.2))
        .expect("a valid spec")
        .finish()
        .await;
    assert_eq!(report.snapshot.total.errors.io, 10);

    up.set_behaviour(Behaviour::Delay(Duration::from_secs(5)));
    let spec = LoadSpec {
        timeout: Duration::from_millis(100),
        ..for_secs(up.url("/"), 50.0, 0.2)
    };
    let report = Load::start(spec).expect("a valid spec").finish().await;
    let t = &report.snapshot.total;
    assert_eq!((t.errors.timeout, t.completed), (10, 0));
    up.shutdown().await;
}

#[tokio::test]
async fn connections_the_server_closed_while_idle_are_replaced() {
    // Each answer ends its connection without saying so (no
    // `connection: close`), as a server whose keep-alive timeout expired.
    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let up = RawUpstream::start(vec![RawReply::close(ok); 3]).await;
    let spec = LoadSpec {
        max_requests: Some(3),
        ..LoadSpec::new(format!("http://{}/", up.addr()), 10.0)
    };
    let t = Load::start(spec)
        .expect("a valid spec")
        .finish()
        .await
        .snapshot
        .total;
    assert_eq!((t.ok, t.errors.total()), (3, 0));
    assert_eq!(up.connections(), 3);
    assert!(up.requests()[0].starts_with(b"GET / HTTP/1.1\r\nhost: 127.0.0.1:"));
}

#[tokio::test]
async fn a_snapshot_arrives_each_second() {
    let up = Upstream::builder().start().await;
    let run = Load::start(for_secs(up.url("/"), 100.0, 2.5)).expect("a valid spec");
    let mut feed = run.subscribe();
    let finish = tokio::spawn(run.finish());

    let mut seconds = Vec::new();
    while feed.changed().await.is_ok() {
        let s = feed.borrow_and_update().clone();
        if !s.finished {
            seconds.push(s);
        }
    }
    let report = finish.await.expect("finish does not panic");
    assert_eq!(seconds.len(), 2, "{seconds:#?}");
    for s in &seconds {
        let last = s.last_second.as_ref().expect("a whole second");
        assert_eq!(last.intended, 100);
        // Sends and answers near the boundary may fall either side of it.
        assert!((95..=105).contains(&last.completed), "{last:?}");
        assert!(ordo_load::summary_line(s).contains("ok "));
    }
    assert_eq!(report.snapshot.total.completed, 250);
    assert_eq!(up.hits(), 250);
    up.shutdown().await;
}

#[tokio::test]
async fn bad_specs_are_refused_with_every_problem() {
    let spec = LoadSpec {
        timeout: Duration::ZERO,
        ..LoadSpec::new("https://example.com/", f64::NAN)
    };
    match Load::start(spec) {
        Err(LoadError::Spec(e)) => {
            let fields: Vec<_> = e.problems.iter().map(|p| p.field.as_str()).collect();
            assert_eq!(fields, ["url", "rate", "timeout"]);
            let text = e.to_string();
            assert!(text.contains("https is not supported yet"), "{text}");
        }
        other => panic!("expected a spec error, got {other:?}"),
    }
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let spec = LoadSpec::new("http://127.0.0.1:1/", 1.0);
    assert!(matches!(Load::start(spec), Err(LoadError::NoRuntime)));
}

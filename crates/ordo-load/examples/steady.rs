//! A steady load against a URL, with a summary line each second and the
//! report at the end.
//!
//! Run with
//! `cargo run -p ordo-load --example steady -- http://127.0.0.1:9000/ 200 10`
//! (URL, requests per second, seconds; optionally the Tokio worker threads,
//! default 1, and `max_in_flight`, default 1024). With no URL (or an empty
//! one) it starts a local upstream first. It prints
//!
//! ```text
//!     1s    200/s  ok 200       4xx 0      5xx 0      errors 0 (0.00%)        p50 412µs    p99 1.10ms   max 1.31ms
//!     2s    200/s  ok 400       4xx 0      5xx 0      errors 0 (0.00%)        p50 398µs    p99 987µs    max 1.02ms
//! ...
//! requests  intended 2000  sent 2000  completed 2000  errors 0
//! rate      target 200/s  achieved 200/s over 10.0s
//! ...
//! ```

use std::time::Duration;

use ordo_load::{Load, LoadSpec, report_text, summary_line};
use ordo_test_support::Upstream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let rate: f64 = arg(1).unwrap_or("200").parse()?;
    let secs: f64 = arg(2).unwrap_or("10").parse()?;
    let threads: usize = arg(3).unwrap_or("1").parse()?;
    let max_in_flight: usize = arg(4).unwrap_or("1024").parse()?;
    let runtime = match threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    runtime.block_on(async {
        let local = match arg(0) {
            Some(url) if !url.is_empty() => None,
            _ => Some(Upstream::builder().start().await),
        };
        let url = match &local {
            Some(upstream) => upstream.url("/"),
            None => arg(0).unwrap_or_default().to_owned(),
        };
        let run = Load::start(LoadSpec {
            duration: Some(Duration::from_secs_f64(secs)),
            max_in_flight,
            ..LoadSpec::new(url, rate)
        })?;
        let mut feed = run.subscribe();
        let printer = tokio::spawn(async move {
            while feed.changed().await.is_ok() {
                let snapshot = feed.borrow_and_update().clone();
                if !snapshot.finished {
                    println!("{}", summary_line(&snapshot));
                }
            }
        });
        let report = run.finish().await;
        printer.await?;
        print!("{}", report_text(&report));
        Ok(())
    })
}

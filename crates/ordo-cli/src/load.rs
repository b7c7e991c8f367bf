//! `ordo load URL --rate R`: a steady open-loop load at a constant
//! arrival rate, a summary line every second, a report at the end (after
//! `--duration`, or on Ctrl-C). With `--control`, each line also shows the
//! fleet: instances up per service and the circuits that are not closed.

use std::process::ExitCode;
use std::time::Duration as StdDuration;

use clap::Args;
use ordo_config::Duration;
use ordo_control::ControlClient;
use ordo_load::{Load, LoadSpec};

use crate::admin_client::AdminClient;
use crate::live;

/// `ordo load` flags.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// The URL requested (`http://` only).
    #[arg(value_name = "URL")]
    url: String,
    /// Requests per second, sent on schedule whatever the answers take.
    #[arg(long, value_name = "RATE")]
    rate: f64,
    /// Stop after this long (`30s`, `2m`); without it, run until Ctrl-C.
    #[arg(long, value_name = "DURATION")]
    duration: Option<Duration>,
    /// A request not answered in this long counts as a timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    timeout: Duration,
    /// The method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// A header, `name: value`; may be given more than once.
    #[arg(long, short = 'H', value_name = "HEADER")]
    header: Vec<String>,
    /// The most requests in flight; beyond it, due requests wait (their
    /// latency still counts from their intended send time).
    #[arg(long, value_name = "N")]
    max_in_flight: Option<usize>,
    /// The control plane of the fleet under load (`http://127.0.0.1:7070`):
    /// adds instance counts and open circuits to each line.
    #[arg(long, value_name = "URL")]
    control: Option<String>,
}

pub(crate) fn run(args: LoadArgs) -> ExitCode {
    let mut spec = LoadSpec::new(args.url.clone(), args.rate);
    spec.duration = args.duration.map(Duration::get);
    spec.timeout = args.timeout.get();
    spec.method = args.method.clone();
    if let Some(n) = args.max_in_flight {
        spec.max_in_flight = n;
    }
    for h in &args.header {
        match h.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() => {
                spec.headers
                    .push((k.trim().to_owned(), v.trim().to_owned()));
            }
            _ => {
                eprintln!("ordo load: --header {h:?}: write it as `name: value`");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = spec.validate() {
        eprintln!("ordo load: {e}");
        return ExitCode::from(2);
    }
    let control = match args.control.as_deref().map(ControlClient::new).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ordo load: --control: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordo load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(drive(spec, control))
}

async fn drive(spec: LoadSpec, control: Option<ControlClient>) -> ExitCode {
    let target = format!("{} {}", spec.method, spec.url);
    let planned = spec.duration;
    let run = match Load::start(spec) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ordo load: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("ordo load: {target}, latency from each request's intended send time; Ctrl-C stops");
    let mut feed = run.subscribe();
    let printer = tokio::spawn(async move {
        let admin = AdminClient::new(StdDuration::from_millis(500));
        while feed.changed().await.is_ok() {
            let snapshot = feed.borrow_and_update().clone();
            if snapshot.finished {
                break;
            }
            let mut line = ordo_load::summary_line(&snapshot);
            if let Some(c) = &control {
                let counts = live::instance_counts(c, None).await;
                let circuits = live::circuits(c, &admin, None).await;
                line.push_str(&format!(" | {counts} | {circuits}"));
            }
            println!("{line}");
        }
    });
    let until_planned = async {
        match planned {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = crate::proxy::stopped() => run.stop(),
        _ = until_planned => {}
    }
    // Waits for the requests in flight, each at most its timeout.
    let report = run.finish().await;
    printer.abort();
    print!("{}", ordo_load::report_text(&report));
    if report.snapshot.total.sent > 0 && report.snapshot.total.ok == 0 {
        eprintln!("ordo load: no request succeeded");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! `ordo-upstream`: the upstream server benchmark scripts run next to (and
//! behind) proxies, so that proxy overhead can be measured against talking to
//! the upstream directly.
//!
//! Run with
//! `cargo run -p ordo-test-support --bin ordo-upstream -- --listen 127.0.0.1:9000 --name a`
//! and it prints `ordo-upstream a listening on http://127.0.0.1:9000`.
//!
//! Change its behaviour while it runs, without a restart:
//!
//! ```text
//! curl -X PUT localhost:9000/__ordo/behaviour -d '{"delay_ms":1000}'
//! curl -X PUT localhost:9000/__ordo/behaviour -d '{"fail_ratio":0.5,"fail_status":503}'
//! curl -X PUT localhost:9000/__ordo/behaviour -d '{"reset_ratio":1.0}'
//! curl -X PUT localhost:9000/__ordo/behaviour -d '{}'   # back to 200 OK
//! ```
//!
//! Read and zero its counters (`hits` leaves out `/health` and `/__ordo/…`):
//!
//! ```text
//! curl localhost:9000/__ordo/stats
//! {"name":"a","hits":1200,"health_hits":3,"in_flight":2,"max_in_flight":17}
//! curl -X POST localhost:9000/__ordo/stats/reset   # 204; hits, health_hits 0
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use ordo_test_support::{BehaviourSpec, Upstream};

/// A fast HTTP/1.1 + HTTP/2 (prior knowledge) upstream for benchmarks, with
/// scriptable faults. Every response carries `x-upstream: <name>`; GET /health
/// answers 200; PUT /__ordo/behaviour with JSON using the fault flags' names
/// (delay_ms, fail_ratio, fail_status, reset_ratio, capacity, service_ms)
/// changes the faults at runtime ({} = none); GET /__ordo/stats answers the
/// counters as JSON (name, hits, health_hits, in_flight, max_in_flight) and
/// POST /__ordo/stats/reset zeroes them.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:9000 (port 0 picks a free port).
    #[arg(long)]
    listen: SocketAddr,
    /// Name sent in `x-upstream`, and the body of 200 responses unless --body-bytes.
    #[arg(long, default_value = "upstream")]
    name: String,
    /// Wait this many milliseconds before answering each request.
    #[arg(long, value_name = "MS")]
    delay_ms: Option<u64>,
    /// Answer this fraction of requests (0.0..=1.0, evenly spread) with --fail-status.
    #[arg(long, value_name = "RATIO")]
    fail_ratio: Option<f64>,
    /// Status code of failed requests.
    #[arg(
        long,
        value_name = "CODE",
        default_value_t = 503,
        requires = "fail_ratio"
    )]
    fail_status: u16,
    /// Close the connection without answering for this fraction of requests.
    #[arg(long, value_name = "RATIO")]
    reset_ratio: Option<f64>,
    /// Serve at most N requests at once, each for --service-ms; the rest queue.
    #[arg(long, value_name = "N", requires = "service_ms")]
    capacity: Option<usize>,
    /// Time each request holds its --capacity slot.
    #[arg(long, value_name = "MS", requires = "capacity")]
    service_ms: Option<u64>,
    /// Size of the 200 response body in bytes (default: the name).
    #[arg(long, value_name = "N")]
    body_bytes: Option<usize>,
    /// Tokio worker threads.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// Act as a service with a dependency: send each request on to this
    /// base URL (carrying its `x-ordo-fit` context) and answer with the
    /// dependency's answer.
    #[arg(long, value_name = "URL", conflicts_with_all = ["delay_ms", "fail_ratio", "reset_ratio", "capacity"])]
    forward: Option<String>,
}

impl Args {
    /// The fault flags, in the control API's terms.
    fn spec(&self) -> BehaviourSpec {
        BehaviourSpec {
            delay_ms: self.delay_ms,
            fail_ratio: self.fail_ratio,
            fail_status: self.fail_ratio.map(|_| self.fail_status),
            reset_ratio: self.reset_ratio,
            capacity: self.capacity,
            service_ms: self.service_ms,
            forward: self.forward.clone(),
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ordo-upstream: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    anyhow::ensure!(
        http::HeaderValue::from_str(&args.name).is_ok(),
        "--name {:?} is not a valid header value",
        args.name
    );
    let behaviour = args.spec().to_behaviour().context("fault flags")?;
    let mut builder = Upstream::builder()
        .name(args.name.clone())
        .listen(args.listen)
        .behaviour(behaviour)
        .control(true)
        .record(false);
    if let Some(n) = args.body_bytes {
        builder = builder.ok_body(Bytes::from(vec![b'x'; n]));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let upstream = builder
            .try_start()
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        println!(
            "ordo-upstream {} listening on http://{}",
            args.name,
            upstream.addr()
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for ctrl-c")?;
        upstream.shutdown().await;
        Ok(())
    })
}

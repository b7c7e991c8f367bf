//! `ordo up MANIFEST`: runs a fleet on this machine until Ctrl-C or
//! `SIGTERM`, then stops every process it started.
//!
//! In order: check the manifest; run its `build`; open the control plane
//! (SQLite in the data folder) and serve its API; start every service,
//! dependencies first, each instance with its sidecar; start the edge;
//! print where everything is; then report instances as they change, and
//! with `--load` drive a steady load through the edge with a summary line
//! every second.

mod build;
mod fleet;
mod signals;
mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ordo_config::manifest::{MANIFEST_FILE, Manifest};
use ordo_load::{Load, LoadRun, LoadSpec, Snapshot};
use ordo_platform::Platform;
use tokio::time::Instant;

use crate::admin_client::AdminClient;
use crate::live;
use fleet::{Fleet, Places};

/// `ordo up` flags.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The manifest, or a folder holding `ordo.yaml`.
    #[arg(value_name = "MANIFEST", default_value = ".")]
    manifest: PathBuf,
    /// Drive this many requests per second through the edge once every
    /// instance is running (open loop, constant rate, latency from each
    /// request's intended send time) and print a summary every second.
    #[arg(long, value_name = "RATE")]
    load: Option<f64>,
    /// The path the load requests.
    #[arg(long, value_name = "PATH", default_value = "/", requires = "load")]
    load_path: String,
    /// Listen for users here instead of the manifest's `edge.address`
    /// (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    edge_address: Option<String>,
    /// Serve the control plane's API here instead of `control.address`
    /// (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    control_address: Option<String>,
    /// Keep the store and the logs here instead of `control.data`.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Do not run the manifest's `build` command.
    #[arg(long)]
    no_build: bool,
    /// Keep the Chaos Monkey off, whatever the manifest's `chaos.enabled`
    /// says (its API still answers, and says so).
    #[arg(long)]
    no_chaos: bool,
}

/// The manifest file `arg` names: itself, or `ordo.yaml` in that folder.
pub(crate) fn manifest_path(arg: &Path) -> PathBuf {
    if arg.is_dir() {
        arg.join(MANIFEST_FILE)
    } else {
        arg.to_path_buf()
    }
}

pub(crate) fn run(args: UpArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordo up: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(up(args))
}

async fn up(args: UpArgs) -> ExitCode {
    if !args.load_path.starts_with('/') {
        eprintln!(
            "ordo up: --load-path {}: a path starts with `/`",
            args.load_path
        );
        return ExitCode::from(2);
    }
    if let Some(rate) = args.load
        && let Err(e) =
            LoadSpec::new(format!("http://127.0.0.1:1{}", args.load_path), rate).validate()
    {
        eprintln!("ordo up: --load {rate}: {e}");
        return ExitCode::from(2);
    }
    let file = manifest_path(&args.manifest);
    let doc = match ordo_config::load::<Manifest>(&file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let m = doc.config;
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let places = Places {
        data: args
            .data
            .clone()
            .unwrap_or_else(|| base.join(&m.control.data)),
        control: args
            .control_address
            .clone()
            .unwrap_or_else(|| m.control.address.clone()),
        edge: m.edge.as_ref().map(|e| {
            args.edge_address
                .clone()
                .unwrap_or_else(|| e.address.clone())
        }),
        base,
    };
    println!("ordo up: {} ({})", m.name, file.display());
    if let Some(b) = &m.build
        && !args.no_build
        && let Err(e) = build::run(b, &places.base).await
    {
        eprintln!("ordo up: {e}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let fleet = tokio::select! {
        f = Fleet::start(&m, &places, !args.no_chaos) => match f {
            Ok(f) => f,
            Err(e) => {
                eprintln!("ordo up: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ = crate::proxy::stopped() => return ExitCode::SUCCESS,
    };
    let edge_url = fleet
        .edge
        .as_ref()
        .map(|e| format!("http://{}", e.address()));
    println!(
        "  control plane  http://{}   (GET /v1/services, /v1/instances, /v1/audit, /openapi.json)",
        fleet.control
    );
    if let Some(u) = &edge_url {
        println!("  edge           {u}");
    }
    println!("  logs           {}", fleet.logs.display());
    println!("  chaos monkey   {}", chaos_line(fleet.chaos.settings()));
    println!("  stop           Ctrl-C");
    let steady = args.load.map(|rate| Steady {
        rate,
        path: args.load_path.clone(),
    });
    if steady.is_some() && edge_url.is_none() {
        eprintln!("ordo up: --load drives the edge, and the manifest has no `edge`");
    }
    let outcome = watch(&fleet, &m, &places, edge_url.as_deref(), steady, started).await;
    println!("ordo up: stopping every instance");
    fleet.stop().await;
    println!("ordo up: stopped");
    outcome
}

/// `off`, or which services it may kill and whether it is leashed.
fn chaos_line(s: &ordo_chaos::ChaosSettings) -> String {
    let services: Vec<&str> = s.services().collect();
    if !s.enabled() || services.is_empty() {
        return "off   (`chaos:` in the manifest; `ordo chaos status`)".to_owned();
    }
    let mode = if s.leashed() { "leashed" } else { "on" };
    format!(
        "{mode} for {} ({}; `ordo chaos status`, `ordo chaos halt`)",
        services.join(", "),
        s.calendar()
    )
}

/// What to drive through the edge: `--load` and `--load-path`.
#[derive(Debug, Clone)]
struct Steady {
    rate: f64,
    path: String,
}

/// Reports changes until a stop signal; with a load, starts it once every
/// instance is running and prints the live summary every second.
async fn watch(
    fleet: &Fleet,
    m: &Manifest,
    places: &Places,
    edge_url: Option<&str>,
    steady: Option<Steady>,
    started: Instant,
) -> ExitCode {
    let desired: BTreeMap<String, u32> = m
        .services
        .iter()
        .map(|s| (s.name.clone(), s.replicas))
        .collect();
    let total: u32 = desired.values().sum();
    let mut changes = status::Changes::default();
    let mut all_up = false;
    let admin = AdminClient::new(Duration::from_millis(500));
    let edge_admin = match &fleet.edge {
        Some(e) => e.admin_addr().await.map(|a| a.to_string()),
        None => None,
    };
    let mut load: Option<(LoadRun, tokio::sync::watch::Receiver<Snapshot>)> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let stop = crate::proxy::stopped();
    tokio::pin!(stop);
    loop {
        let feed = async {
            match load.as_mut() {
                Some((_, feed)) => feed.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let Ok(now) = fleet.platform.list().await else { continue };
                for line in changes.lines(&now, &places.base) {
                    println!("{line}");
                }
                if !all_up && status::all_running(&now, &desired) {
                    all_up = true;
                    let mut line = format!(
                        "ordo up: all {total} instances running after {:.1}s",
                        started.elapsed().as_secs_f64()
                    );
                    if let Some(u) = edge_url
                        && steady.is_none()
                    {
                        line.push_str(&format!("; try: curl {u}/"));
                    }
                    println!("{line}");
                    if let (Some(s), Some(u)) = (&steady, edge_url) {
                        let url = format!("{u}{}", s.path);
                        match Load::start(LoadSpec::new(url.clone(), s.rate)) {
                            Ok(run) => {
                                println!("ordo up: load {} requests/s to {url}, from each request's intended send time", s.rate);
                                let feed = run.subscribe();
                                load = Some((run, feed));
                            }
                            Err(e) => {
                                eprintln!("ordo up: the load cannot start: {e}");
                                return ExitCode::from(2);
                            }
                        }
                    }
                }
            }
            open = feed => {
                if !open {
                    continue;
                }
                let line = match load.as_mut() {
                    Some((_, feed)) => ordo_load::summary_line(&feed.borrow_and_update()),
                    None => continue,
                };
                let counts = live::instance_counts(&fleet.client, Some(&desired)).await;
                let circuits = live::circuits(&fleet.client, &admin, edge_admin.clone()).await;
                println!("{line} | {counts} | {circuits}");
            }
        }
    }
    if let Some((run, _)) = load {
        run.stop();
        let report = run.finish().await;
        print!("{}", ordo_load::report_text(&report));
    }
    ExitCode::SUCCESS
}

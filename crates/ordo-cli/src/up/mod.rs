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
mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ordo_config::manifest::{MANIFEST_FILE, Manifest};
use ordo_platform::Platform;
use tokio::time::Instant;

use crate::admin_client::AdminClient;
use fleet::{Fleet, Places};

/// `ordo up` flags.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The manifest, or a folder holding `ordo.yaml`.
    #[arg(value_name = "MANIFEST", default_value = ".")]
    manifest: PathBuf,
    /// Drive this many requests per second through the edge (open loop,
    /// constant rate) and print a summary every second.
    #[arg(long, value_name = "RATE")]
    load: Option<f64>,
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
    if let Some(rate) = args.load
        && !(rate.is_finite() && rate > 0.0)
    {
        eprintln!("ordo up: --load {rate}: give a rate above 0 requests per second");
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
        f = Fleet::start(&m, &places) => match f {
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
    println!("  stop           Ctrl-C");
    let outcome = watch(&fleet, &m, &places, edge_url.as_deref(), args.load, started).await;
    println!("ordo up: stopping every instance");
    fleet.stop().await;
    println!("ordo up: stopped");
    outcome
}

/// Reports changes until a stop signal.
async fn watch(
    fleet: &Fleet,
    m: &Manifest,
    places: &Places,
    edge_url: Option<&str>,
    load: Option<f64>,
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
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut summary = tokio::time::interval(Duration::from_secs(1));
    let stop = crate::proxy::stopped();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return ExitCode::SUCCESS,
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
                    if let Some(u) = edge_url {
                        line.push_str(&format!("; try: curl {u}/"));
                    }
                    println!("{line}");
                }
            }
            _ = summary.tick(), if load.is_some() => {
                let counts = status::instance_counts(&fleet.client, &desired).await;
                let circuits = status::circuits(&fleet.client, &admin, edge_admin.clone()).await;
                println!("  | {counts} | {circuits}");
            }
        }
    }
}

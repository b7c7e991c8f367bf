//! `ordo control`: the control plane on its own (instance registry, audit
//! log, REST API), for sidecars and tools in other processes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ordo_config::Duration;
use ordo_control::{ControlOptions, ControlPlane};

/// `ordo control` flags.
#[derive(Debug, Args)]
pub(crate) struct ControlArgs {
    /// The data folder: the SQLite store lives here (created if missing).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Where the REST API listens (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    address: String,
    /// The lease of an instance that registers without one.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    lease: Duration,
}

pub(crate) fn run(args: ControlArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordo control: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let mut options = ControlOptions::new(&args.data);
        options.default_lease = args.lease.get();
        let problems = options.problems();
        if !problems.is_empty() {
            for p in problems {
                eprintln!("ordo control: {p}");
            }
            return ExitCode::from(2);
        }
        let plane = match ControlPlane::open(options).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("ordo control: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (addr, server) = match plane.serve(&args.address).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ordo control: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "ordo control: listening on http://{addr} (store {})",
            plane.database().display()
        );
        crate::proxy::stopped().await;
        server.shutdown().await;
        println!("ordo control: stopped");
        ExitCode::SUCCESS
    })
}

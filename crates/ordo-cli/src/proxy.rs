//! `ordo proxy`: run the proxy from a config file, or check the file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ordo_config::proxy::ProxyConfig;
use ordo_proxy::{Proxy, ProxyOptions};

/// Runs the HTTP proxy: listeners, routes, clusters and policies from a
/// YAML file (reference: docs/proxy.md). The config reloads on SIGHUP and
/// when the file changes; SIGTERM or Ctrl-C drains and exits.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The config file to serve.
    #[arg(long, short, value_name = "FILE", required_unless_present = "check")]
    config: Option<PathBuf>,
    /// Check FILE and exit: 0 when it is valid, 1 with one line per problem
    /// (file:line:column: field: message) on stderr.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// How often the config file is looked at for changes, in
    /// milliseconds; 0 turns file watching off (SIGHUP still reloads).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    watch_interval_ms: u64,
}

pub(crate) fn run(args: ProxyArgs) -> ExitCode {
    // One worker: everything on this thread, without the work-stealing
    // scheduler's bookkeeping.
    let mut rt = match args.workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(usize::from(n));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordo proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match (&args.check, &args.config) {
        (Some(file), _) => rt.block_on(check(file)),
        (None, Some(file)) => rt.block_on(serve(file, args.watch_interval_ms)),
        (None, None) => unreachable!("clap requires --config or --check"),
    }
}

async fn check(file: &Path) -> ExitCode {
    let doc = match ordo_config::load::<ProxyConfig>(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let options = ProxyOptions {
        config_path: Some(file.to_path_buf()),
        ..Default::default()
    };
    match Proxy::check(&doc, &options) {
        Ok(()) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(file: &Path, watch_ms: u64) -> ExitCode {
    let doc = match ordo_config::load::<ProxyConfig>(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let drain = doc.config.drain_timeout.get();
    let options = ProxyOptions {
        config_path: Some(file.to_path_buf()),
        ..Default::default()
    };
    let proxy = match Proxy::start(doc, options).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let interval = if watch_ms == 0 {
        Duration::MAX / 4
    } else {
        Duration::from_millis(watch_ms)
    };
    // Before the "listening" lines: whoever reads them may edit the file
    // or send SIGHUP at once, and neither must be missed.
    let reloader = ordo_proxy::spawn_reloader(Arc::downgrade(&proxy), file.to_path_buf(), interval);
    for l in &proxy.runtime().config().listeners {
        if let Some(addr) = proxy.listener_addr(&l.name).await {
            tracing::info!(listener = %l.name, address = %addr, "listening");
        }
    }
    if let Some(addr) = proxy.admin_addr().await {
        tracing::info!(address = %addr, "admin listening");
    }
    stopped().await;
    tracing::info!(deadline = ?drain, "draining");
    reloader.abort();
    proxy.drain(drain).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

//! `ordo toxiproxy`: a TCP fault proxy that speaks Toxiproxy's API, for the
//! dependencies that do not speak HTTP (databases, caches, queues).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ordo_config::proxy::ProxyConfig;
use ordo_proxy::{Proxy, ProxyOptions};

/// Run a TCP fault proxy with Toxiproxy's REST API (same paths, JSON and
/// default port), so Toxiproxy's client libraries and test setups work
/// unchanged: create proxies in front of a database or cache, add toxics
/// (latency, bandwidth, slow_close, timeout, reset_peer, slicer,
/// limit_data) to their byte streams. SIGTERM or Ctrl-C stops it.
#[derive(Debug, Args)]
pub(crate) struct ToxiproxyArgs {
    /// The API's address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The API's port (Toxiproxy's default).
    #[arg(long, default_value_t = 8474)]
    port: u16,
    /// Proxies to create at start, in Toxiproxy's JSON config format (a
    /// list of `name`, `listen`, `upstream`, `enabled`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: ToxiproxyArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordo toxiproxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(serve(args))
}

async fn serve(args: ToxiproxyArgs) -> ExitCode {
    let proxies = match &args.config {
        None => serde_json::Value::Array(Vec::new()),
        Some(file) => {
            let text = match std::fs::read(file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::FAILURE;
                }
            };
            match serde_json::from_slice::<serde_json::Value>(&text) {
                Ok(v @ serde_json::Value::Array(_)) => v,
                Ok(_) => {
                    eprintln!("{}: expected a JSON list of proxies", file.display());
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let address = if args.host.contains(':') {
        format!("[{}]:{}", args.host, args.port)
    } else {
        format!("{}:{}", args.host, args.port)
    };
    // JSON is YAML: the config goes through the same loader and checks.
    let config = serde_json::json!({
        "admin": { "address": address },
        "listeners": [],
        "tcp_proxies": proxies,
    });
    let name = args
        .config
        .as_ref()
        .map_or_else(|| "ordo toxiproxy".to_owned(), |f| f.display().to_string());
    let doc = match ordo_config::parse::<ProxyConfig>(&config.to_string(), &name) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let proxy = match Proxy::start(doc, ProxyOptions::default()).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(addr) = proxy.admin_addr().await {
        tracing::info!(address = %addr, "Toxiproxy API listening");
    }
    crate::proxy::stopped().await;
    proxy.drain(std::time::Duration::from_secs(1)).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

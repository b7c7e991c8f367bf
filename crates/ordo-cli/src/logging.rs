//! Logs: human-readable lines on stderr (level from `RUST_LOG`, default
//! `info`), and the access log, when a config turns it on, as JSON lines on
//! stdout.

use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// The access log's tracing target.
const ACCESS: &str = "ordo::access";

pub(crate) fn init() {
    init_at("info");
}

/// Logs at `warn` unless `RUST_LOG` says otherwise: for commands whose
/// own output is the point (`ordo up`).
pub(crate) fn init_quiet() {
    init_at("warn");
}

fn init_at(default: &str) {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target() != ACCESS
        }))
        .with_filter(env);
    let access = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stdout)
        .with_filter(Targets::new().with_target(ACCESS, tracing::Level::INFO));
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(access)
        .try_init();
}

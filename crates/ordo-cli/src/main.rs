//! `ordo`: the command-line entry point of the ordo toolkit.
//!
//! This binary is glue. Flags are declared once, on [`Cli`], and clap
//! generates `--help` and `--version` from them; `main` turns the outcome of
//! parsing into an exit code that scripts can trust:
//!
//! | exit code | when |
//! |---|---|
//! | 0 | success; `--help` or `--version` answered (on stdout) |
//! | 1 | the command failed: an invalid config (one line per problem on stderr), a port in use |
//! | 2 | a usage error, or no arguments at all (the message or the help goes to stderr) |
//!
//! Each subcommand lives in its own module and arrives with the crate that
//! implements it.

mod admin_client;
mod chaos;
mod check;
mod control;
mod fault;
mod live;
mod load;
mod logging;
mod proxy;
mod toxiproxy;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ordo gives a fleet of microservices the resilience practices Netflix
/// describes in "Mastering Chaos": contain failure with timeouts, retries
/// within budgets, circuit breakers, bulkheads, fallbacks, hedging and
/// adaptive concurrency limits; inject failure on purpose; break things
/// continuously; and ship safely. `ordo up` runs a fleet on this machine
/// (a control plane, every instance with its sidecar, the edge, a Chaos
/// Monkey), `ordo chaos` steers its Chaos Monkey, `ordo load` drives
/// steady load, `ordo proxy` puts the policies in front of services in any
/// language, and `ordo fault` injects failure through the proxies.
//
// `verbatim_doc_comment` prints the paragraph above as it is wrapped here:
// clap wraps help text only with its `wrap_help` feature, which this crate
// does not need for one paragraph.
#[derive(Debug, Parser)]
#[command(
    name = "ordo",
    version,
    long_about = None,
    verbatim_doc_comment,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a fleet from its manifest on this machine: the control plane,
    /// every service's instances with a sidecar each, and the edge.
    Up(up::UpArgs),
    /// Check a manifest without running it.
    Check(check::CheckArgs),
    /// Run the control plane alone (instance registry, audit log, REST API).
    Control(control::ControlArgs),
    /// Drive a steady open-loop load at a constant rate and report latency
    /// without coordinated omission.
    Load(load::LoadArgs),
    /// Run the HTTP sidecar / edge proxy, or check its config.
    Proxy(proxy::ProxyArgs),
    /// Inject failure into running proxies: add, list, renew, remove and
    /// halt faults.
    Fault(fault::FaultArgs),
    /// Run a TCP fault proxy that speaks Toxiproxy's API.
    Toxiproxy(toxiproxy::ToxiproxyArgs),
    /// The Chaos Monkey of a running fleet: status, plan, pause, resume,
    /// halt, kill-now.
    Chaos(chaos::ChaosArgs),
}

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(Cli {
            command: Command::Up(args),
        }) => {
            logging::init_quiet();
            up::run(args)
        }
        Ok(Cli {
            command: Command::Check(args),
        }) => check::run(args),
        Ok(Cli {
            command: Command::Control(args),
        }) => {
            logging::init();
            control::run(args)
        }
        Ok(Cli {
            command: Command::Load(args),
        }) => {
            logging::init_quiet();
            load::run(args)
        }
        Ok(Cli {
            command: Command::Proxy(args),
        }) => {
            logging::init();
            proxy::run(args)
        }
        Ok(Cli {
            command: Command::Fault(args),
        }) => fault::run(args),
        Ok(Cli {
            command: Command::Toxiproxy(args),
        }) => {
            logging::init();
            toxiproxy::run(args)
        }
        Ok(Cli {
            command: Command::Chaos(args),
        }) => chaos::run(args),
        // `--help` and `--version` arrive here too, with exit code 0.
        Err(e) => report(&e),
    }
}

/// Prints what clap has to say (help and version to stdout, usage errors to
/// stderr) and returns clap's exit code for it.
fn report(e: &clap::Error) -> ExitCode {
    // If the stream is closed (`ordo --help | head -0`), there is no one
    // left to tell; the exit code still says what happened.
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
}

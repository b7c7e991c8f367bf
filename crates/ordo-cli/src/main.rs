//! `ordo`: the command-line entry point of the ordo toolkit.
//!
//! This binary is glue. Flags are declared once, on [`Cli`], and clap
//! generates `--help` and `--version` from them; `main` turns the outcome of
//! parsing into an exit code that scripts can trust:
//!
//! | exit code | when |
//! |---|---|
//! | 0 | `--help` or `--version` answered (on stdout) |
//! | 2 | a usage error, or no arguments at all (the message or the help goes to stderr) |
//!
//! No subcommands exist yet, so `--help` lists none. Each one arrives with
//! the crate that implements it, as a variant of a `Command` enum on
//! [`Cli`], and its failures will map to exit codes here.

use std::process::ExitCode;

use clap::Parser;

/// ordo gives a fleet of microservices the resilience practices Netflix
/// describes in "Mastering Chaos": contain failure with timeouts, retries
/// within budgets, circuit breakers, bulkheads, fallbacks, hedging and
/// adaptive concurrency limits; inject failure on purpose; break things
/// continuously; and ship safely. Today the policies ship as the
/// ordo-resilience Rust library, and this command has no subcommands yet.
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
struct Cli {}

fn main() -> ExitCode {
    match Cli::try_parse() {
        // Without subcommands, a successful parse leaves nothing to run.
        Ok(Cli {}) => ExitCode::SUCCESS,
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

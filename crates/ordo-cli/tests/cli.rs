//! The `ordo` binary as a user runs it: what it prints, and with which exit
//! code.

use std::process::{Command, Output};

/// Runs the built `ordo` binary with `args`.
fn ordo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .output()
        .expect("the ordo binary was built by cargo for this test")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

#[test]
fn version_prints_name_and_version_and_succeeds() {
    let out = ordo(&["--version"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("ordo {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_describes_ordo_and_succeeds() {
    let out = ordo(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let help = stdout(&out);
    assert!(
        help.contains("ordo gives a fleet of microservices"),
        "{help}"
    );
    assert!(help.contains("Mastering Chaos"), "{help}");
    assert!(help.contains("Usage: ordo"), "{help}");
    assert!(help.contains("--version"), "{help}");
}

#[test]
fn help_lists_the_proxy_command() {
    let help = stdout(&ordo(&["--help"]));
    assert!(help.contains("Commands:"), "{help}");
    assert!(help.contains("proxy"), "{help}");
}

#[test]
fn short_help_is_the_same_description() {
    let out = ordo(&["-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("ordo gives a fleet of microservices"));
}

#[test]
fn unknown_flag_fails_with_a_clear_error() {
    let out = ordo(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("error:"), "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
    assert!(err.contains("Usage: ordo"), "{err}");
}

#[test]
fn no_arguments_prints_help_to_stderr_and_fails() {
    let out = ordo(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("ordo gives a fleet of microservices"));
}

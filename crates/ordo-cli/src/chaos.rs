//! `ordo chaos`: the Chaos Monkey of a running fleet, through the control
//! plane's API: `status`, `plan`, `pause`, `resume`, `halt`,
//! `kill-now SERVICE`. Every change is recorded in the audit log with the
//! actor (`--actor`, default the user's name) before it takes effect.
//!
//! Exit codes: 0 done; 1 the control plane refused or failed, or a
//! kill-now was skipped by a guardrail or failed; 2 a usage error.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ordo_control::ControlClient;
use ordo_control::chaos::{ChaosStatus, KillNow};

/// `ordo chaos` flags.
#[derive(Debug, Args)]
pub(crate) struct ChaosArgs {
    /// The control plane's API.
    #[arg(
        long,
        value_name = "URL",
        env = "ORDO_CONTROL",
        default_value = "http://127.0.0.1:7070",
        global = true
    )]
    control: String,
    /// Who acts, as recorded in the audit log (default: $USER, else `cli`).
    #[arg(long, value_name = "NAME", global = true)]
    actor: Option<String>,
    /// Print the API's JSON answer instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ChaosCommand,
}

#[derive(Debug, Subcommand)]
enum ChaosCommand {
    /// The switches, the slot, and the latest decisions.
    Status,
    /// The blast radius: each group, whether it may lose an instance now,
    /// and how many it could lose without going below its minimum.
    Plan,
    /// Pause kills (scheduled and kill-now) until `resume`.
    Pause,
    /// Lift a pause or a halt.
    Resume,
    /// Stop every kill and every fault, and refuse new ones, until `resume`.
    Halt,
    /// Kill one instance of SERVICE now, through every guardrail.
    KillNow {
        /// The service.
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        service: String,
    },
}

pub(crate) fn run(args: ChaosArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordo chaos: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let actor = args
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "cli".to_owned());
    let client = match ControlClient::new(&args.control) {
        Ok(c) => c.with_actor(actor),
        Err(e) => {
            eprintln!("ordo chaos: --control: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        let shown = match &args.command {
            ChaosCommand::Status => client.chaos_status().await.map(|s| show_status(&s, args.json)),
            ChaosCommand::Plan => client.chaos_plan().await.map(|p| show_plan(&p, args.json)),
            ChaosCommand::Pause => client.chaos_switch(false).await.map(|s| show_status(&s, args.json)),
            ChaosCommand::Resume => client.chaos_switch(true).await.map(|s| show_status(&s, args.json)),
            ChaosCommand::Halt => client.chaos_halt().await.map(|h| {
                if args.json {
                    print_json(&h);
                } else {
                    match h.proxies {
                        Some(n) => println!("halted: no kills; every fault removed from {n} proxies and new ones refused, until `ordo chaos resume`"),
                        None => println!("halted: no kills, until `ordo chaos resume`; some proxies could not be reached (see the control plane's log)"),
                    }
                }
                true
            }),
            ChaosCommand::KillNow { service } => {
                client.chaos_kill_now(service).await.map(|k| show_kill(&k, args.json))
            }
        };
        match shown {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("ordo chaos: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
}

fn show_status(s: &ChaosStatus, json: bool) -> bool {
    if json {
        print_json(s);
        return true;
    }
    let mode = match (s.enabled, s.leashed) {
        (false, _) => "off (chaos.enabled is false in the manifest, or ordo up --no-chaos)",
        (true, true) => "on, leashed (decisions recorded, nothing killed)",
        (true, false) => "on, killing",
    };
    println!("Chaos Monkey   {mode}");
    if let Some(h) = &s.halted {
        println!("halted         by {} at {}", h.actor, h.at);
    }
    if let Some(p) = &s.paused {
        println!("paused         by {} at {}", p.actor, p.at);
    }
    println!("schedule       {}", s.schedule);
    if let Some(slot) = &s.slot {
        let when = if slot.open {
            "open until"
        } else {
            "next opens"
        };
        let at = if slot.open { &slot.closes } else { &slot.opens };
        println!("slot           {} ({when} {at})", slot.id);
    }
    let services = if s.services.is_empty() {
        "none opted in".to_owned()
    } else {
        s.services.join(", ")
    };
    println!("services       {services}");
    if s.decisions.is_empty() {
        println!("decisions      none yet");
    } else {
        println!("decisions      newest first");
        for d in &s.decisions {
            let at = d.at.as_deref().unwrap_or("");
            let target = d.target.as_deref().unwrap_or("-");
            let reason = d
                .reason
                .as_deref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default();
            println!("  {at}  {:<10} {:<20} {target}{reason}", d.state, d.group);
        }
    }
    true
}

fn show_plan(p: &serde_json::Value, json: bool) -> bool {
    if json {
        print_json(p);
        return true;
    }
    println!(
        "{}; {}",
        p["schedule"].as_str().unwrap_or("?"),
        match (p["enabled"].as_bool(), p["leashed"].as_bool()) {
            (Some(false), _) => "off",
            (_, Some(true)) => "leashed",
            _ => "killing",
        }
    );
    let groups = p["groups"].as_array().cloned().unwrap_or_default();
    if groups.is_empty() {
        println!("no groups: no instance is registered");
        return true;
    }
    let per = p["slot_unit"].as_str().unwrap_or("slot");
    println!(
        "{:<24} {:>9} {:>8} {:>9}  chance per {per}",
        "group", "instances", "healthy", "killable"
    );
    for g in groups {
        let chance = if g["eligible"].as_bool() == Some(true) {
            format!("{:.2}", g["probability_per_slot"].as_f64().unwrap_or(0.0))
        } else {
            format!("never: {}", g["reason"].as_str().unwrap_or("not eligible"))
        };
        let n = |k: &str| g[k].as_u64().unwrap_or(0);
        println!(
            "{:<24} {:>9} {:>8} {:>9}  {chance}",
            g["key"].as_str().unwrap_or("?"),
            n("members"),
            n("healthy"),
            n("killable_now"),
        );
    }
    let eligible = p["eligible_groups"].as_u64().unwrap_or(0);
    let killable = p["killable_now"].as_u64().unwrap_or(0);
    println!(
        "eligible groups: {eligible}; instances that could go now before min_healthy stops the next kill: {killable}"
    );
    true
}

fn show_kill(k: &KillNow, json: bool) -> bool {
    if json {
        print_json(k);
    } else {
        println!("{}: {}", k.outcome, k.message);
    }
    matches!(k.outcome.as_str(), "killed" | "leashed")
}

//! Launching one process of an instance: its environment, `${NAME}`
//! expansion, its program path, its log file and its process group.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::group::Group;
use crate::ServiceSpec;
use crate::clock;
use crate::expand::expand;

/// What one launch needs to know.
#[derive(Debug)]
pub(super) struct Launch<'a> {
    /// The spec; its `dir` is absolute.
    pub(super) spec: &'a ServiceSpec,
    /// The instance's id.
    pub(super) id: &'a str,
    /// The instance's port.
    pub(super) port: u16,
    /// The companion's variables.
    pub(super) companion_env: &'a [(String, String)],
    /// The instance's log file.
    pub(super) log: &'a Path,
    /// 1 for the first process of the instance, then 2, 3, ...
    pub(super) attempt: u32,
}

/// A running process of an instance.
#[derive(Debug)]
pub(super) struct Process {
    /// The process, killed (SIGKILL to it alone) if dropped while running.
    pub(super) child: Child,
    /// Its pid, which is also its process group's id.
    pub(super) pid: u32,
    /// Its process group.
    pub(super) group: Group,
}

/// Spawns the instance's process, or says why it could not, as a sentence
/// ("cannot start `./nope`: No such file or directory (os error 2)").
///
/// The log file gets a header line before the spawn (time, id, attempt,
/// command), so it comes before anything the process writes, and a line
/// with the pid (or the reason it failed) after.
pub(super) fn launch(l: &Launch<'_>) -> Result<Process, String> {
    let cannot = |shown: &str, why: String| format!("cannot start `{shown}`: {why}");
    let log = open_log(l.log).map_err(|e| {
        cannot(
            &l.spec.command,
            format!("log file {}: {e}", l.log.display()),
        )
    })?;
    let line = |what: String| {
        let now = clock::rfc3339(clock::wall_now());
        if let Err(e) = writeln!(&log, "--- {now} {} {what}", l.id) {
            tracing::warn!(log = %l.log.display(), error = %e, "cannot write to log file");
        }
    };
    let p = match prepare(l) {
        Ok(p) => p,
        Err(why) => {
            let reason = cannot(&l.spec.command, why);
            line(format!("start #{}: {reason}", l.attempt));
            return Err(reason);
        }
    };
    line(format!(
        "start #{}: {}",
        l.attempt,
        command_line(&p.shown, &p.args)
    ));
    match spawn(l, &p, &log) {
        Ok(process) => {
            line(format!("start #{}: pid {}", l.attempt, process.pid));
            Ok(process)
        }
        Err(e) => {
            let reason = if l.spec.dir.is_dir() {
                cannot(&p.shown, e.to_string())
            } else {
                let dir = l.spec.dir.display();
                cannot(
                    &p.shown,
                    format!("working directory {dir} is missing ({e})"),
                )
            };
            line(format!("start #{}: {reason}", l.attempt));
            Err(reason)
        }
    }
}

/// A line appended to the instance's log file, e.g. when its process ended.
pub(super) fn note(log_path: &Path, id: &str, what: &str) {
    let now = clock::rfc3339(clock::wall_now());
    let written = open_log(log_path).and_then(|mut f| writeln!(f, "--- {now} {id} {what}"));
    if let Err(e) = written {
        tracing::warn!(log = %log_path.display(), error = %e, "cannot write to log file");
    }
}

/// A launch with every `${NAME}` expanded.
struct Prepared {
    /// The path to execute.
    program: PathBuf,
    /// The command as expanded, to show people.
    shown: String,
    args: Vec<String>,
    /// Added to the platform's environment.
    env: Vec<(String, String)>,
}

/// The program to run, its arguments and the variables to add to the
/// environment, all expanded.
fn prepare(l: &Launch<'_>) -> Result<Prepared, String> {
    let mut env: Vec<(String, String)> = vec![
        ("PORT".into(), l.port.to_string()),
        ("ORDO_SERVICE".into(), l.spec.name.clone()),
        ("ORDO_INSTANCE".into(), l.id.to_owned()),
    ];
    // A spec value may use the platform's variables, the companion's, and
    // the spec's entries before it.
    let mut known = env.clone();
    known.extend(l.companion_env.iter().cloned());
    for (i, (name, value)) in l.spec.env.iter().enumerate() {
        let value =
            expand(value, |n| lookup(&known, n)).map_err(|e| format!("env[{i}] {name}: {e}"))?;
        known.push((name.clone(), value.clone()));
        env.push((name.clone(), value));
    }
    env.extend(l.companion_env.iter().cloned());

    let shown =
        expand(&l.spec.command, |n| lookup(&env, n)).map_err(|e| format!("command: {e}"))?;
    let args = l
        .spec
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| expand(a, |n| lookup(&env, n)).map_err(|e| format!("args[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let program = if shown.contains('/') {
        l.spec.dir.join(&shown)
    } else {
        PathBuf::from(&shown)
    };
    Ok(Prepared {
        program,
        shown,
        args,
        env,
    })
}

/// `name` in `vars` (the last entry wins), else in the platform's environment.
fn lookup(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(name).ok())
}

fn spawn(l: &Launch<'_>, p: &Prepared, log: &File) -> std::io::Result<Process> {
    let mut command = Command::new(&p.program);
    command
        .args(&p.args)
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&l.spec.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        // Its own process group, so signals reach its children too.
        .process_group(0)
        // The last resort if this handle is dropped while the process runs.
        .kill_on_drop(true);
    let child = command.spawn()?;
    let pid = child.id().expect("a child that was just spawned has a pid");
    Ok(Process {
        child,
        pid,
        group: Group::new(pid),
    })
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The command as a person would type it (arguments with spaces quoted).
fn command_line(program: &str, args: &[String]) -> String {
    let mut line = program.to_owned();
    for a in args {
        line.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            line.push_str(&format!("{a:?}"));
        } else {
            line.push_str(a);
        }
    }
    line
}

//! A running `ordo` process whose output a test reads line by line as it
//! comes, waits on, and stops with a signal.

#![allow(dead_code, reason = "each test file uses some of these")]

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Bounds every wait on a process.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A child process and its output (stdout and stderr, in arrival order).
pub(crate) struct Running {
    pub(crate) child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line so far, for assertions and failure messages.
    pub(crate) seen: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Starts `ordo` with `args`.
    pub(crate) fn ordo(args: &[&str]) -> Running {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ordo"));
        cmd.args(args);
        Running::spawn(cmd)
    }

    /// Starts `cmd` with its output piped to the test.
    pub(crate) fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let (tx, lines) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let out = BufReader::new(child.stdout.take().expect("piped")).lines();
        let err = BufReader::new(child.stderr.take().expect("piped")).lines();
        for mut reader in [
            Box::new(out) as Box<dyn LineSource>,
            Box::new(err) as Box<dyn LineSource>,
        ] {
            let tx = tx.clone();
            let seen = seen.clone();
            readers.push(tokio::spawn(async move {
                while let Some(l) = reader.next().await {
                    seen.lock().unwrap().push(l.clone());
                    let _ = tx.send(l);
                }
            }));
        }
        Running {
            child,
            lines,
            seen,
            readers,
        }
    }

    /// The next line containing `marker` (lines before it are skipped).
    pub(crate) async fn wait_for(&mut self, marker: &str) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(l) = self.lines.recv().await {
                if l.contains(marker) {
                    return Some(l);
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        found.unwrap_or_else(|| panic!("no line with {marker:?}; output:\n{}", self.output()))
    }

    /// Everything printed so far.
    pub(crate) fn output(&self) -> String {
        self.seen.lock().unwrap().join("\n")
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`, ...) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{signal} {pid}");
    }

    /// Waits for the process to exit and for the last of its output.
    pub(crate) async fn exit(&mut self) -> ExitStatus {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running; output:\n{}", self.output()))
            .expect("wait");
        for r in self.readers.drain(..) {
            let _ = tokio::time::timeout(PATIENCE, r).await;
        }
        status
    }
}

/// A test that fails leaves its `ordo` running: stop it as Ctrl-C would,
/// so that `ordo up` stops every process it started (a SIGKILL, which
/// `kill_on_drop` sends last, would leave them behind).
impl Drop for Running {
    #[allow(clippy::disallowed_methods, reason = "a Drop cannot await; tests only")]
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        for _ in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Lines from stdout or stderr.
trait LineSource: Send {
    fn next(&mut self) -> std::pin::Pin<Box<dyn Future<Output = Option<String>> + Send + '_>>;
}

impl<R: tokio::io::AsyncBufRead + Unpin + Send> LineSource for tokio::io::Lines<R> {
    fn next(&mut self) -> std::pin::Pin<Box<dyn Future<Output = Option<String>> + Send + '_>> {
        Box::pin(async move { self.next_line().await.ok().flatten() })
    }
}

/// The URL at the end of a line such as `  edge  http://127.0.0.1:8080`.
pub(crate) fn url_in(line: &str) -> String {
    let at = line.find("http://").expect("a URL");
    line[at..]
        .split_whitespace()
        .next()
        .expect("a URL")
        .to_owned()
}

/// Whether a process with this pid exists (a zombie counts: it has not
/// been reaped).
pub(crate) fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Every `pid N` in `text`.
pub(crate) fn pids_in(text: &str) -> Vec<u32> {
    let mut out: Vec<u32> = text
        .split("pid ")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

//! What `ordo up` prints while the fleet runs: each instance's changes
//! (started, running, restarting with the reason, replaced) and once when
//! the whole fleet is up.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use ordo_platform::{InstanceState, Phase};

/// Remembers what was last printed of each instance.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    last: HashMap<String, (String, u32)>,
}

impl Changes {
    /// Lines for the instances whose phase or restart count changed since
    /// the last call, and for those gone.
    pub(crate) fn lines(&mut self, now: &[InstanceState], base: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for i in now {
            let key = (i.phase.name().to_owned(), i.restarts);
            if self.last.get(&i.id) == Some(&key) {
                continue;
            }
            out.push(describe(i, base));
            self.last.insert(i.id.clone(), key);
        }
        self.last.retain(|id, _| {
            let here = now.iter().any(|i| &i.id == id);
            if !here {
                out.push(format!("  {id:<14} gone"));
            }
            here
        });
        out
    }
}

/// One line about an instance.
fn describe(i: &InstanceState, base: &Path) -> String {
    let mut line = format!("  {:<14} {:<9}", i.id, i.phase.name());
    match &i.phase {
        Phase::Backoff { reason, .. } => {
            let log = i.log.strip_prefix(base).unwrap_or(&i.log);
            let _ = write!(
                line,
                " {reason}; restart {} after a pause (log: {})",
                i.restarts + 1,
                log.display()
            );
        }
        _ => {
            let _ = write!(line, " {}", i.address);
            if let Some(pid) = i.pid {
                let _ = write!(line, "  pid {pid}");
            }
            if i.restarts > 0 {
                let _ = write!(line, "  ({} restarts)", i.restarts);
            }
        }
    }
    line
}

/// Running instances over desired ones, for every service.
pub(crate) fn all_running(now: &[InstanceState], desired: &BTreeMap<String, u32>) -> bool {
    desired.iter().all(|(service, &want)| {
        now.iter()
            .filter(|i| &i.service == service && matches!(i.phase, Phase::Running))
            .count()
            >= want as usize
    })
}

//! What `ordo up` prints while the fleet runs: each instance's changes
//! (started, running, restarting with the reason, replaced), once when the
//! whole fleet is up, and with a load the live summary every second.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use ordo_control::ControlClient;
use ordo_platform::{InstanceState, Phase};
use ordo_sidecar::SIDECAR_ADMIN;

use crate::admin_client::AdminClient;

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

/// `edge 1/1  catalog 1/1  ratings 2/3`: instances `UP` in the registry
/// (what callers send to) over the desired count.
pub(crate) async fn instance_counts(
    client: &ControlClient,
    desired: &BTreeMap<String, u32>,
) -> String {
    let up: HashMap<String, u32> = match client.services().await {
        Ok(s) => s.services.into_iter().map(|s| (s.name, s.up)).collect(),
        Err(_) => return "registry unreachable".to_owned(),
    };
    let parts: Vec<String> = desired
        .iter()
        .map(|(name, want)| format!("{name} {}/{want}", up.get(name).copied().unwrap_or(0)))
        .collect();
    parts.join("  ")
}

/// The circuits that are not closed, across every sidecar and the edge:
/// `circuits: all closed (12)` or `circuits open: catalog-1 ratings/127.0.0.1:4001`.
pub(crate) async fn circuits(
    client: &ControlClient,
    admin: &AdminClient,
    edge_admin: Option<String>,
) -> String {
    let mut proxies: Vec<(String, String)> = Vec::new();
    if let Ok(listing) = client.instances(None, None).await {
        for i in listing.instances {
            if let Some(a) = i.metadata.get(SIDECAR_ADMIN) {
                proxies.push((i.id.clone(), a.clone()));
            }
        }
    }
    if let Some(a) = edge_admin {
        proxies.push(("edge".to_owned(), a));
    }
    let calls = proxies
        .iter()
        .map(|(_, a)| admin.call(a, http::Method::GET, "/circuits", None));
    let answers = futures_util::future::join_all(calls).await;
    let mut total = 0;
    let mut not_closed = Vec::new();
    for ((who, _), answer) in proxies.iter().zip(answers) {
        let Ok(answer) = answer else { continue };
        let list: Vec<serde_json::Value> = serde_json::from_slice(&answer.body).unwrap_or_default();
        for c in list {
            total += 1;
            let state = c["state"].as_str().unwrap_or("?");
            if state != "closed" {
                not_closed.push(format!(
                    "{who} {} {state}",
                    c["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    if total == 0 {
        "no circuit breakers".to_owned()
    } else if not_closed.is_empty() {
        format!("circuits: all {total} closed")
    } else {
        format!("circuits: {}", not_closed.join(", "))
    }
}

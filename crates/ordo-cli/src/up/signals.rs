//! What the Chaos Monkey of `ordo up` reads from the proxies and does to
//! them: each service's error rate as its callers' sidecars (and the edge)
//! saw it, and the fault halt.
//!
//! The error rate of a service is the share of its callers' requests
//! (after their retries) that got a 5xx, over the last
//! [`RATE_WINDOW`]: the sum over every proxy of the requests on the
//! listener that leads to the service (`to-<service>`, or the edge
//! listener for the entry service). No requests means no outage (0); a
//! rate is unknown (`None`, which the outage check treats as an outage)
//! until the first scrape has run, when no proxy answered the last scrape,
//! and when the last scrape is older than five seconds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use ordo_control::ControlPlane;
use ordo_control::chaos::{ErrorRates, FaultSwitch};
use ordo_control::registry::InstanceQuery;
use ordo_platform::{BoxFuture, Platform};
use ordo_sidecar::SIDECAR_ADMIN;
use tokio::time::Instant;

use crate::admin_client::AdminClient;

/// How far back the error rate looks.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(10);
/// How often the proxies are scraped.
pub(crate) const SCRAPE_EVERY: Duration = Duration::from_secs(1);

/// The proxies of the fleet: the sidecar of every instance the platform
/// runs (as published in the registry), and the edge.
#[derive(Debug, Clone)]
pub(crate) struct Proxies {
    plane: ControlPlane,
    platform: Arc<dyn Platform>,
    admin: AdminClient,
    edge: Arc<Mutex<Option<(String, String)>>>,
}

impl Proxies {
    pub(crate) fn new(plane: ControlPlane, platform: Arc<dyn Platform>) -> Self {
        Proxies {
            plane,
            platform,
            admin: AdminClient::new(Duration::from_secs(2)),
            edge: Arc::default(),
        }
    }

    /// The edge's admin address and the service it leads to, once it runs.
    pub(crate) fn set_edge(&self, admin: String, service: String) {
        *self.edge.lock().unwrap_or_else(PoisonError::into_inner) = Some((admin, service));
    }

    /// Every proxy's admin address. A killed instance stays in the registry
    /// until its lease lapses, but its sidecar is gone: only instances the
    /// platform still runs count.
    async fn admins(&self) -> Vec<String> {
        let running: HashSet<String> = match self.platform.list().await {
            Ok(list) => list
                .into_iter()
                .filter(|i| i.pid.is_some())
                .map(|i| i.id)
                .collect(),
            Err(_) => HashSet::new(),
        };
        let mut out: Vec<String> = self
            .plane
            .registry()
            .instances(&InstanceQuery::default())
            .instances
            .into_iter()
            .filter(|i| running.contains(&i.id))
            .filter_map(|i| i.metadata.get(SIDECAR_ADMIN).cloned())
            .collect();
        if let Some((a, _)) = &*self.edge.lock().unwrap_or_else(PoisonError::into_inner) {
            out.push(a.clone());
        }
        out
    }

    fn edge_service(&self) -> Option<String> {
        self.edge
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(_, s)| s.clone())
    }
}

/// Requests and 5xx answers, per service.
type Counts = HashMap<String, (u64, u64)>;

/// Adds the `ordo_proxy_requests_total` lines of a Prometheus text page to
/// `into`, by the service each listener leads to.
fn add_requests(page: &str, edge_service: Option<&str>, into: &mut Counts) {
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("ordo_proxy_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == name).then(|| v.trim_matches('"'))
            })
        };
        let service = match label("listener") {
            Some(l) => match l.strip_prefix("to-") {
                Some(s) => s.to_owned(),
                None if l == "edge" => match edge_service {
                    Some(s) => s.to_owned(),
                    None => continue,
                },
                None => continue,
            },
            None => continue,
        };
        let entry = into.entry(service).or_default();
        entry.0 += value as u64;
        if label("class") == Some("5xx") {
            entry.1 += value as u64;
        }
    }
}

/// One scrape: when, each proxy's counts (by admin address), and whether
/// it saw nothing (proxies exist and none answered).
type Scrape = (Instant, HashMap<String, Counts>, bool);

/// A newest scrape older than this means the scraper is stuck: unknown.
const STALE: Duration = Duration::from_secs(5);

/// Error rates from periodic scrapes of every proxy's metrics.
#[derive(Debug, Clone)]
pub(crate) struct ProxyErrorRates {
    /// Scrapes within the window, oldest first: per proxy, its counts.
    history: Arc<Mutex<VecDeque<Scrape>>>,
}

impl ProxyErrorRates {
    /// Scrapes `proxies` every [`SCRAPE_EVERY`] until the returned task is
    /// aborted.
    pub(crate) fn start(proxies: Proxies) -> (ProxyErrorRates, tokio::task::JoinHandle<()>) {
        let rates = ProxyErrorRates {
            history: Arc::default(),
        };
        let history = Arc::clone(&rates.history);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(SCRAPE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let edge_service = proxies.edge_service();
                let admins = proxies.admins().await;
                let pages = futures_util::future::join_all(
                    admins
                        .iter()
                        .map(|a| proxies.admin.call(a, Method::GET, "/metrics", None)),
                )
                .await;
                let asked = admins.len();
                let mut scrape = HashMap::new();
                for (admin, page) in admins.into_iter().zip(pages) {
                    let Ok(page) = page else { continue };
                    let mut counts = Counts::new();
                    add_requests(
                        &String::from_utf8_lossy(&page.body),
                        edge_service.as_deref(),
                        &mut counts,
                    );
                    scrape.insert(admin, counts);
                }
                let now = Instant::now();
                let mut h = history.lock().unwrap_or_else(PoisonError::into_inner);
                let blind = asked > 0 && scrape.is_empty();
                h.push_back((now, scrape, blind));
                while h.len() > 1 && now.duration_since(h[0].0) > RATE_WINDOW {
                    h.pop_front();
                }
            }
        });
        (rates, task)
    }
}

impl ErrorRates for ProxyErrorRates {
    fn error_rate(&self, service: &str) -> Option<f64> {
        let h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, _, blind) = h.back()?;
        if *blind || at.elapsed() > STALE {
            return None;
        }
        // Per proxy, what it counted between consecutive scrapes that saw
        // it in the window: a proxy that appears late starts from its first
        // appearance, one that went away keeps what it counted while it was
        // there, and a counter that went down (a restarted sidecar) counts
        // from zero again.
        let mut previous: HashMap<&str, (u64, u64)> = HashMap::new();
        let (mut total, mut failed) = (0u64, 0u64);
        for (_, scrape, _) in h.iter() {
            for (admin, counts) in scrape {
                let Some(&(t, f)) = counts.get(service) else {
                    continue;
                };
                if let Some((t0, f0)) = previous.insert(admin, (t, f)) {
                    if t >= t0 && f >= f0 {
                        total += t - t0;
                        failed += f - f0;
                    } else {
                        total += t;
                        failed += f;
                    }
                }
            }
        }
        Some(if total == 0 {
            0.0
        } else {
            failed as f64 / total as f64
        })
    }
}

/// What the proxies have been told.
#[derive(Debug, Default)]
struct FaultState {
    /// Moves on at every halt and resume, so an answer that arrives after
    /// the next change is recognised as stale.
    generation: u64,
    /// Who halted, while a halt is in force.
    halted_by: Option<String>,
    /// The proxies halted under the current halt.
    told: HashSet<String>,
    /// Proxies a resume could not reach: lifted as soon as they answer.
    to_lift: HashSet<String>,
}

/// The fault halt over every proxy: `PUT /faults/halt` to halt,
/// `DELETE /faults/halt` to lift. While halted, proxies that appear later
/// (a replaced instance's sidecar) are halted as they are seen; after a
/// resume, proxies that could not be reached are lifted when they answer.
#[derive(Debug, Clone)]
pub(crate) struct ProxyFaults {
    proxies: Proxies,
    state: Arc<Mutex<FaultState>>,
}

impl ProxyFaults {
    pub(crate) fn new(proxies: Proxies) -> Self {
        ProxyFaults {
            proxies,
            state: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every [`SCRAPE_EVERY`] until the task is aborted: while a halt is
    /// on, halts the proxies not yet halted; after a resume, lifts the
    /// halt on the proxies that missed it.
    pub(crate) fn keep_halted(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SCRAPE_EVERY);
            loop {
                every.tick().await;
                let (generation, by, told, to_lift) = {
                    let s = me.state();
                    (
                        s.generation,
                        s.halted_by.clone(),
                        s.told.clone(),
                        s.to_lift.clone(),
                    )
                };
                let running = me.proxies.admins().await;
                match by {
                    Some(by) => {
                        let fresh: Vec<String> =
                            running.into_iter().filter(|a| !told.contains(a)).collect();
                        if fresh.is_empty() {
                            continue;
                        }
                        let (ok, _) = me.apply(fresh, true, &by).await;
                        let stale = {
                            let mut s = me.state();
                            if s.generation == generation {
                                s.told.extend(ok.iter().cloned());
                                false
                            } else {
                                true
                            }
                        };
                        if stale {
                            // A resume came while these were being halted.
                            let (_, missed) = me.apply(ok, false, &by).await;
                            me.state().to_lift.extend(missed);
                        }
                    }
                    None if !to_lift.is_empty() => {
                        let retry: Vec<String> = running
                            .into_iter()
                            .filter(|a| to_lift.contains(a))
                            .collect();
                        let (_, missed) = me.apply(retry, false, "").await;
                        let mut s = me.state();
                        if s.generation == generation {
                            // Lifted now, or gone (a proxy that no longer
                            // runs holds no halt): only the missed remain.
                            s.to_lift = missed.into_iter().collect();
                        }
                    }
                    None => {}
                }
            }
        })
    }

    /// Sends the halt (or its lifting) in the name of `by` to `admins`;
    /// those that answered, and those that did not (with what they said).
    async fn apply(
        &self,
        admins: Vec<String>,
        halted: bool,
        by: &str,
    ) -> (Vec<String>, Vec<String>) {
        let (method, body) = if halted {
            let body = serde_json::json!({ "by": by, "reason": "ordo chaos halt; lift it with ordo chaos resume" });
            (Method::PUT, Some(body.to_string().into_bytes()))
        } else {
            (Method::DELETE, None)
        };
        let calls = admins.iter().map(|a| {
            self.proxies
                .admin
                .call(a, method.clone(), "/faults/halt", body.clone())
        });
        let answers = futures_util::future::join_all(calls).await;
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for (a, answer) in admins.into_iter().zip(answers) {
            match answer {
                Ok(r) if r.status.is_success() => ok.push(a),
                Ok(r) => {
                    tracing::warn!(
                        proxy = a,
                        error = r.error_text(),
                        "the fault halt was refused"
                    );
                    failed.push(a);
                }
                Err(e) => {
                    tracing::warn!(proxy = a, error = e, "the fault halt did not reach a proxy");
                    failed.push(a);
                }
            }
        }
        (ok, failed)
    }
}

impl FaultSwitch for ProxyFaults {
    fn set_halted<'a>(&'a self, halted: bool, by: &'a str) -> BoxFuture<'a, Result<usize, String>> {
        Box::pin(async move {
            let generation = {
                let mut s = self.state();
                s.generation += 1;
                s.halted_by = halted.then(|| by.to_owned());
                s.told.clear();
                s.to_lift.clear();
                s.generation
            };
            let (ok, failed) = self.apply(self.proxies.admins().await, halted, by).await;
            {
                let mut s = self.state();
                if s.generation == generation {
                    if halted {
                        s.told.extend(ok.iter().cloned());
                    } else {
                        s.to_lift.extend(failed.iter().cloned());
                    }
                }
            }
            if failed.is_empty() {
                Ok(ok.len())
            } else {
                Err(format!(
                    "{} of {} proxies did not answer: {}",
                    failed.len(),
                    ok.len() + failed.len(),
                    failed.join(", ")
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_summed_by_the_service_each_listener_leads_to() {
        let page = "\
# TYPE ordo_proxy_requests counter
ordo_proxy_requests_total{listener=\"to-ratings\",route=\"to-ratings\",class=\"2xx\"} 90
ordo_proxy_requests_total{listener=\"to-ratings\",route=\"to-ratings\",class=\"5xx\"} 10
ordo_proxy_requests_total{listener=\"edge\",route=\"edge\",class=\"2xx\"} 7
ordo_proxy_requests_total{listener=\"admin\",route=\"x\",class=\"2xx\"} 7
ordo_proxy_retries_total{listener=\"to-ratings\",route=\"to-ratings\"} 3
";
        let mut counts = Counts::new();
        add_requests(page, Some("web"), &mut counts);
        assert_eq!(counts["ratings"], (100, 10));
        assert_eq!(counts["web"], (7, 0));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn the_rate_is_the_share_of_5xx_since_the_oldest_scrape() {
        let rates = ProxyErrorRates {
            history: Arc::default(),
        };
        assert_eq!(rates.error_rate("ratings"), None);
        let scrape = |t: u64, f: u64| {
            let mut c = Counts::new();
            c.insert("ratings".to_owned(), (t, f));
            HashMap::from([("a:1".to_owned(), c)])
        };
        let now = Instant::now();
        {
            let mut h = rates.history.lock().unwrap();
            h.push_back((now, scrape(100, 10), false));
            h.push_back((now, scrape(300, 30), false));
        }
        assert_eq!(rates.error_rate("ratings"), Some(0.1));
        assert_eq!(rates.error_rate("catalog"), Some(0.0));
        // A sidecar that restarted counts from zero; one that went away keeps
        // what it saw.
        {
            let mut h = rates.history.lock().unwrap();
            h.clear();
            h.push_back((now, scrape(1_000_000, 1_000), false));
            h.push_back((now, scrape(1_000_100, 1_100), false));
            h.push_back((now, scrape(50, 50), false));
            h.push_back((now, HashMap::new(), false));
        }
        assert_eq!(rates.error_rate("ratings"), Some(150.0 / 150.0));
        // No proxy answered the last scrape: unknown, so no kill.
        rates
            .history
            .lock()
            .unwrap()
            .push_back((now, HashMap::new(), true));
        assert_eq!(rates.error_rate("ratings"), None);
    }
}

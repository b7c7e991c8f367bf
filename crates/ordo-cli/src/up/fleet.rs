//! A fleet running on this machine: the control plane (registry, audit
//! log, REST API) in this process, every service's instances as local
//! processes with a sidecar each, and the edge in front.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ordo_chaos::ChaosSettings;
use ordo_config::manifest::{Manifest, ServiceConfig};
use ordo_control::chaos::{ChaosMonkey, ChaosOptions};
use ordo_control::{AuditEntry, ControlClient, ControlOptions, ControlPlane, ServeHandle};
use ordo_platform::{
    AuditEvent, AuditSink, BackoffPolicy, BoxFuture, HealthSpec, LocalOptions, LocalPlatform,
    Platform, ServiceSpec,
};
use ordo_sidecar::{Edge, Sidecars};
use tokio::task::JoinHandle;

use super::signals::{Proxies, ProxyErrorRates, ProxyFaults};

/// Where the parts of a fleet listen and keep their data, after the
/// command line's overrides.
#[derive(Debug)]
pub(crate) struct Places {
    /// The manifest's folder: relative paths start here.
    pub(crate) base: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) control: String,
    pub(crate) edge: Option<String>,
}

/// A running fleet.
#[derive(Debug)]
pub(crate) struct Fleet {
    pub(crate) plane: ControlPlane,
    server: ServeHandle,
    pub(crate) control: SocketAddr,
    pub(crate) client: ControlClient,
    pub(crate) platform: Arc<LocalPlatform>,
    pub(crate) edge: Option<Edge>,
    pub(crate) logs: PathBuf,
    pub(crate) chaos: ChaosMonkey,
    proxies: Proxies,
    /// The error-rate scraper and the fault-halt keeper.
    tasks: Vec<JoinHandle<()>>,
}

/// The actor `ordo up` writes in the audit log.
pub(crate) const ACTOR: &str = "ordo-up";

impl Fleet {
    /// Opens the control plane, starts every service (dependencies
    /// first) and the edge; the Chaos Monkey runs when `chaos` and the
    /// manifest switch it on. On an error, what was started is stopped.
    pub(crate) async fn start(m: &Manifest, places: &Places, chaos: bool) -> Result<Fleet, String> {
        let mut options = ControlOptions::new(&places.data);
        options.default_lease = m.control.lease.get();
        // The instances of an earlier run died with it.
        options.forget_instances_on_start = true;
        let plane = ControlPlane::open(options)
            .await
            .map_err(|e| format!("control plane: {e}"))?;
        // Bound first: the sidecars need the address, and the API needs
        // the platform that starts the sidecars.
        let listener = tokio::net::TcpListener::bind(&places.control)
            .await
            .map_err(|e| format!("control plane: cannot listen on {}: {e}", places.control))?;
        let control = listener
            .local_addr()
            .map_err(|e| format!("control plane: {e}"))?;
        let client = ControlClient::new(&format!("http://{control}"))
            .map_err(|e| e.to_string())?
            .with_actor("sidecar");
        let _ = plane
            .audit()
            .append(
                AuditEntry::new(ACTOR, "fleet-starting", m.name.clone()).with_detail(
                    serde_json::json!({ "services": m.services.len(), "control": control.to_string() }),
                ),
            )
            .await;

        let logs = places.data.join("logs");
        let dependencies: HashMap<String, Vec<_>> = m
            .services
            .iter()
            .map(|s| (s.name.clone(), s.dependencies.clone()))
            .collect();
        let metadata = m
            .services
            .iter()
            .map(|s| (s.name.clone(), s.metadata.clone()))
            .collect();
        let sidecars = Sidecars::new(
            client.clone(),
            dependencies,
            m.control.lease.get(),
            m.control.heartbeat.get(),
        )
        .with_metadata(metadata);
        let backoff = BackoffPolicy {
            initial: m.restart.initial_backoff.get(),
            max: m.restart.max_backoff.get(),
            ..BackoffPolicy::default()
        };
        let platform = Arc::new(
            LocalPlatform::new(
                LocalOptions::new(&logs)
                    .backoff(backoff)
                    .stop_timeout(m.restart.stop_timeout.get())
                    .companion(Arc::new(sidecars))
                    .audit(Arc::new(ToAuditLog(plane.clone()))),
            )
            .map_err(|e| e.to_string())?,
        );
        let settings = ChaosSettings::from_manifest(m).map_err(|e| format!("chaos: {e}"))?;
        let settings = if chaos {
            settings
        } else {
            settings.with_enabled(false)
        };
        let proxies = Proxies::new(plane.clone(), platform.clone());
        let (rates, scraper) = ProxyErrorRates::start(proxies.clone());
        let faults = ProxyFaults::new(proxies.clone());
        let tasks = vec![scraper, faults.keep_halted()];
        let mut chaos = ChaosOptions::new(settings, Arc::new(rates));
        chaos.faults = Some(Arc::new(faults));
        let chaos = match ChaosMonkey::start(plane.clone(), platform.clone(), chaos).await {
            Ok(c) => c,
            Err(e) => {
                tasks.iter().for_each(JoinHandle::abort);
                platform.shutdown().await;
                return Err(format!("chaos monkey: {e}"));
            }
        };
        let (router, _) = plane.router_with(
            ordo_control::api::platform_routes(plane.clone(), platform.clone())
                .merge(ordo_control::api::chaos_routes(chaos.clone())),
        );
        let (_, server) = plane
            .serve_listener(listener, router)
            .map_err(|e| format!("control plane: {e}"))?;
        let mut fleet = Fleet {
            plane,
            server,
            control,
            client,
            platform,
            edge: None,
            logs,
            chaos,
            proxies,
            tasks,
        };
        for s in m.start_order() {
            if let Err(e) = fleet.platform.start(spec(s, &places.base)).await {
                fleet.stop().await;
                return Err(format!("service {}: {e}", s.name));
            }
        }
        if let (Some(e), Some(address)) = (&m.edge, &places.edge) {
            let mut e = e.clone();
            e.address = address.clone();
            match Edge::start(&e, fleet.client.clone()).await {
                Ok(edge) => {
                    if let Some(a) = edge.admin_addr().await {
                        fleet.proxies.set_edge(a.to_string(), e.service.clone());
                    }
                    fleet.edge = Some(edge);
                }
                Err(e) => {
                    fleet.stop().await;
                    return Err(e.to_string());
                }
            }
        }
        Ok(fleet)
    }

    /// Stops the Chaos Monkey, then the edge (requests in flight get two seconds), then every
    /// instance, callers before their dependencies, then the control
    /// plane.
    pub(crate) async fn stop(self) {
        self.chaos.shutdown().await;
        self.tasks.iter().for_each(JoinHandle::abort);
        if let Some(e) = self.edge {
            e.stop(Duration::from_secs(2)).await;
        }
        self.platform.shutdown().await;
        let _ = self
            .plane
            .audit()
            .append(AuditEntry::new(ACTOR, "fleet-stopped", ""))
            .await;
        self.server.shutdown().await;
    }
}

/// The platform's spec of a manifest's service.
fn spec(s: &ServiceConfig, base: &Path) -> ServiceSpec {
    let h = &s.health;
    let mut spec = ServiceSpec::new(&s.name, &s.command)
        .args(s.args.iter().cloned())
        .dir(base.join(s.dir.as_deref().unwrap_or(".")))
        .replicas(s.replicas)
        .health(HealthSpec {
            path: h.path.clone(),
            interval: h.interval.get(),
            timeout: h.timeout.get(),
            healthy_threshold: h.healthy_threshold,
            unhealthy_threshold: h.unhealthy_threshold,
            start_timeout: h.start_timeout.get(),
        });
    for (k, v) in &s.env {
        spec = spec.env(k, v);
    }
    spec
}

/// The platform's events, into the control plane's audit log.
#[derive(Debug)]
struct ToAuditLog(ControlPlane);

impl AuditSink for ToAuditLog {
    fn record(&self, event: AuditEvent) -> BoxFuture<'static, Result<(), String>> {
        let plane = self.0.clone();
        Box::pin(async move {
            plane
                .audit()
                .append(
                    AuditEntry::new(event.actor, event.action, event.target)
                        .with_detail(event.detail),
                )
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }
}

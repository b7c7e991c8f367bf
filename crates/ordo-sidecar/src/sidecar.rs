//! One instance's sidecar, and the companion that gives one to every
//! instance the platform starts.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ordo_config::ConfigErrors;
use ordo_config::manifest::DependencyConfig;
use ordo_control::{ControlClient, Registration, Status};
use ordo_platform::{Attachment, BoxFuture, Companion, Detach, Ending, Health, InstanceInfo};
use ordo_proxy::cluster::{DynamicEndpoints, EndpointSource};
use ordo_proxy::{Proxy, ProxyOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::outbound::{Outbound, outbound_config};
use crate::{SIDECAR_ADMIN, discovery, registration};

/// What a sidecar needs to know about its instance.
#[derive(Debug, Clone)]
pub struct SidecarSpec {
    /// The instance's service.
    pub service: String,
    /// The instance's id in the registry.
    pub instance: String,
    /// Where the instance itself listens: registered for callers.
    pub address: SocketAddr,
    /// The services it calls.
    pub dependencies: Vec<DependencyConfig>,
    /// The lease asked for in the registry.
    pub lease: Duration,
    /// How often the lease is renewed.
    pub heartbeat: Duration,
    /// More metadata to publish with the instance.
    pub metadata: BTreeMap<String, String>,
}

/// Why a sidecar did not start.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// Its proxy config was refused (a policy the manifest check missed).
    #[error("sidecar of {instance}: {errors}")]
    Config {
        /// The instance.
        instance: String,
        /// What was wrong.
        errors: ConfigErrors,
    },
}

/// A running sidecar.
#[derive(Debug)]
pub struct Sidecar {
    spec: SidecarSpec,
    client: ControlClient,
    proxy: Arc<Proxy>,
    env: Vec<(String, String)>,
    admin: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sidecar {
    /// Starts the outbound listeners and the registry watches, then
    /// registers the instance and keeps its lease with the status
    /// `health` reports.
    pub async fn start(
        spec: SidecarSpec,
        client: ControlClient,
        health: watch::Receiver<Health>,
    ) -> Result<Sidecar, SidecarError> {
        let outbounds: Vec<Outbound> = spec
            .dependencies
            .iter()
            .map(|d| Outbound {
                listener: format!("to-{}", d.service),
                address: "127.0.0.1:0".to_owned(),
                cluster: d.cluster(&d.service),
                policy: d.policy.clone(),
            })
            .collect();
        let failed = |errors| SidecarError::Config {
            instance: spec.instance.clone(),
            errors,
        };
        let doc = outbound_config(
            &format!("sidecar of {}", spec.instance),
            &outbounds,
            Some("127.0.0.1:0"),
        )
        .map_err(failed)?;
        let mut sources: HashMap<String, Arc<dyn EndpointSource>> = HashMap::new();
        let mut tasks = Vec::new();
        for d in &spec.dependencies {
            let endpoints = DynamicEndpoints::new(Vec::new());
            tasks.push(discovery::follow(
                client.clone(),
                d.service.clone(),
                endpoints.clone(),
            ));
            sources.insert(d.service.clone(), Arc::new(endpoints));
        }
        let proxy = match Proxy::start(
            doc,
            ProxyOptions {
                config_path: None,
                sources,
            },
        )
        .await
        {
            Ok(p) => p,
            Err(e) => {
                tasks.iter().for_each(JoinHandle::abort);
                return Err(failed(e));
            }
        };
        let mut env = Vec::new();
        for d in &spec.dependencies {
            let addr = proxy
                .listener_addr(&format!("to-{}", d.service))
                .await
                .expect("every dependency has its listener");
            env.push((d.env_name(), format!("http://{addr}")));
        }
        let admin = proxy.admin_addr().await;
        let mut metadata = spec.metadata.clone();
        if let Some(a) = admin {
            metadata.insert(SIDECAR_ADMIN.to_owned(), a.to_string());
        }
        let reg = Registration {
            id: spec.instance.clone(),
            service: spec.service.clone(),
            address: spec.address.to_string(),
            status: Some(Status::Starting),
            lease_ms: Some(u64::try_from(spec.lease.as_millis()).unwrap_or(u64::MAX)),
            metadata,
        };
        tasks.push(registration::keep(
            client.clone(),
            reg,
            health,
            spec.heartbeat,
        ));
        Ok(Sidecar {
            spec,
            client,
            proxy,
            env,
            admin,
            tasks,
        })
    }

    /// The variables the instance needs: each dependency's URL.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The sidecar's admin address (metrics, clusters, faults).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The sidecar's proxy.
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Stops the sidecar. `Graceful`: the instance leaves the registry
    /// now and requests in flight finish (up to two seconds). `Killed`:
    /// everything stops at once and the instance's lease lapses by
    /// itself, as it would if the machine died.
    pub async fn stop(self, ending: Ending) {
        for t in &self.tasks {
            t.abort();
        }
        match ending {
            Ending::Graceful => {
                if let Err(e) = self.client.deregister(&self.spec.instance).await
                    && !e.is_not_found()
                {
                    tracing::warn!(instance = %self.spec.instance, error = %e, "could not deregister; its lease will lapse");
                }
                self.proxy.drain(Duration::from_secs(2)).await;
            }
            Ending::Killed => self.proxy.drain(Duration::ZERO).await,
        }
    }
}

/// Gives every instance the platform starts its sidecar, with the
/// dependencies the manifest lists for its service.
#[derive(Debug, Clone)]
pub struct Sidecars {
    client: ControlClient,
    dependencies: Arc<HashMap<String, Vec<DependencyConfig>>>,
    metadata: Arc<HashMap<String, BTreeMap<String, String>>>,
    lease: Duration,
    heartbeat: Duration,
}

impl Sidecars {
    /// Sidecars registering with the control plane behind `client`;
    /// `dependencies` by service name.
    pub fn new(
        client: ControlClient,
        dependencies: HashMap<String, Vec<DependencyConfig>>,
        lease: Duration,
        heartbeat: Duration,
    ) -> Sidecars {
        Sidecars {
            client,
            dependencies: Arc::new(dependencies),
            metadata: Arc::default(),
            lease,
            heartbeat,
        }
    }

    /// The same sidecars, publishing `metadata` (by service name) with
    /// each instance they register.
    pub fn with_metadata(
        mut self,
        metadata: HashMap<String, BTreeMap<String, String>>,
    ) -> Sidecars {
        self.metadata = Arc::new(metadata);
        self
    }
}

impl Companion for Sidecars {
    fn attach(
        &self,
        instance: InstanceInfo,
        health: watch::Receiver<Health>,
    ) -> BoxFuture<'static, Result<Attachment, String>> {
        let this = self.clone();
        Box::pin(async move {
            let metadata = this
                .metadata
                .get(&instance.service)
                .cloned()
                .unwrap_or_default();
            let spec = SidecarSpec {
                dependencies: this
                    .dependencies
                    .get(&instance.service)
                    .cloned()
                    .unwrap_or_default(),
                service: instance.service,
                instance: instance.id,
                address: instance.address,
                lease: this.lease,
                heartbeat: this.heartbeat,
                metadata,
            };
            let sidecar = Sidecar::start(spec, this.client.clone(), health)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Attachment {
                env: sidecar.env().to_vec(),
                detach: Box::new(Detaching(sidecar)),
            })
        })
    }
}

/// Stops a sidecar when its instance ends.
#[derive(Debug)]
struct Detaching(Sidecar);

impl Detach for Detaching {
    fn detach(self: Box<Self>, ending: Ending) -> BoxFuture<'static, ()> {
        Box::pin(self.0.stop(ending))
    }
}

//! The edge: the proxy in front of a fleet's entry service, where users'
//! requests arrive, with the manifest's edge policy and the entry
//! service's instances from the registry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ordo_config::manifest::EdgeConfig;
use ordo_control::ControlClient;
use ordo_proxy::cluster::{DynamicEndpoints, EndpointSource};
use ordo_proxy::{Proxy, ProxyOptions};
use tokio::task::JoinHandle;

use crate::discovery;
use crate::outbound::{Outbound, outbound_config};
use crate::sidecar::SidecarError;

/// The listener's name in metrics and the admin API.
const LISTENER: &str = "edge";

/// A running edge proxy.
#[derive(Debug)]
pub struct Edge {
    proxy: Arc<Proxy>,
    address: SocketAddr,
    watch: JoinHandle<()>,
}

impl Edge {
    /// Binds the edge listener (and an admin listener on a free port) and
    /// follows the entry service's instances in the registry.
    pub async fn start(config: &EdgeConfig, client: ControlClient) -> Result<Edge, SidecarError> {
        let failed = |errors| SidecarError::Config {
            instance: "edge".to_owned(),
            errors,
        };
        let doc = outbound_config(
            "edge",
            &[Outbound {
                listener: LISTENER.to_owned(),
                address: config.address.clone(),
                cluster: config.cluster(&config.service),
                policy: config.policy.clone(),
            }],
            Some("127.0.0.1:0"),
        )
        .map_err(failed)?;
        let endpoints = DynamicEndpoints::new(Vec::new());
        let watch = discovery::follow(client, config.service.clone(), endpoints.clone());
        let mut sources: HashMap<String, Arc<dyn EndpointSource>> = HashMap::new();
        sources.insert(config.service.clone(), Arc::new(endpoints));
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
                watch.abort();
                return Err(failed(e));
            }
        };
        let address = proxy
            .listener_addr(LISTENER)
            .await
            .expect("the edge listener was bound");
        Ok(Edge {
            proxy,
            address,
            watch,
        })
    }

    /// Where users' requests arrive.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The edge's admin address (metrics, clusters, faults).
    pub async fn admin_addr(&self) -> Option<SocketAddr> {
        self.proxy.admin_addr().await
    }

    /// The edge's proxy.
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Stops taking requests and lets those in flight finish for up to
    /// `deadline`.
    pub async fn stop(self, deadline: Duration) {
        self.watch.abort();
        self.proxy.drain(deadline).await;
    }
}

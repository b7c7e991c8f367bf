//! The proxy's live state built from one config: listeners' route
//! tables and clusters. A reload builds a new one and swaps it in whole;
//! requests in flight keep the one they started with.

use std::collections::HashMap;
use std::sync::Arc;

use ordo_config::proxy::ProxyConfig;
use ordo_config::{ConfigErrors, Document};

use crate::cluster::{Cluster, EndpointSource};
use crate::metrics::ProxyMetrics;
use crate::policy::breaker_config;
use crate::route::Route;

/// One listener's routes.
#[derive(Debug)]
pub(crate) struct ListenerRoutes {
    pub(crate) name: Arc<str>,
    pub(crate) routes: Vec<Route>,
    pub(crate) access_log: bool,
    pub(crate) max_request_body: Option<u64>,
    /// Honour Envoy's fault headers.
    pub(crate) envoy_faults: bool,
    /// Give requests an `x-request-id` and return it.
    pub(crate) generate_request_id: bool,
    /// Set `X-Forwarded-For` and `X-Forwarded-Proto`.
    pub(crate) forwarded_headers: bool,
}

impl ListenerRoutes {
    /// The first route that matches.
    #[inline]
    pub(crate) fn route(&self, parts: &http::request::Parts) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(parts))
    }
}

/// Everything a request needs, from one config.
#[derive(Debug)]
pub struct Runtime {
    pub(crate) config: ProxyConfig,
    pub(crate) listeners: Vec<ListenerRoutes>,
    pub(crate) clusters: Vec<Arc<Cluster>>,
}

impl Runtime {
    /// Builds the runtime of a validated config. Clusters of `previous`
    /// with the same name keep their endpoints' state.
    pub fn build(
        doc: &Document<ProxyConfig>,
        previous: Option<&Runtime>,
        sources: &HashMap<String, Arc<dyn EndpointSource>>,
        metrics: &Arc<ProxyMetrics>,
    ) -> Result<Runtime, ConfigErrors> {
        let config = &doc.config;
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut clusters = Vec::new();
        for (i, c) in config.clusters.iter().enumerate() {
            let breaker = c.circuit_breaker.as_ref().map(breaker_config);
            if let Some(b) = &breaker
                && let Err(e) = b.validate()
            {
                problems.push((format!("clusters[{i}].circuit_breaker"), e.to_string()));
                continue;
            }
            let prev = previous.and_then(|p| p.clusters.iter().find(|x| x.name() == c.name));
            match Cluster::start(
                c,
                breaker,
                sources.get(&c.name).cloned(),
                prev.map(|a| &**a),
                metrics,
            ) {
                Ok(cl) => clusters.push(cl),
                Err(e) => problems.push((format!("clusters[{i}]"), e)),
            }
        }
        let by_name: HashMap<&str, &Arc<Cluster>> =
            clusters.iter().map(|c| (c.name(), c)).collect();
        let mut listeners = Vec::new();
        for (i, l) in config.listeners.iter().enumerate() {
            let mut routes = Vec::new();
            for (j, r) in l.routes.iter().enumerate() {
                let before = previous
                    .and_then(|p| p.listener(&l.name))
                    .and_then(|pl| pl.routes.iter().find(|x| *x.name == *r.name));
                match Route::build(
                    &l.name,
                    r,
                    |n| by_name.get(n).map(|c| Arc::clone(c)),
                    metrics,
                    before,
                ) {
                    Ok(route) => routes.push(route),
                    Err((field, msg)) => {
                        problems.push((format!("listeners[{i}].routes[{j}].{field}"), msg))
                    }
                }
            }
            listeners.push(ListenerRoutes {
                name: l.name.as_str().into(),
                routes,
                access_log: config.access_log,
                max_request_body: l.max_request_body,
                envoy_faults: l.fault_headers == Some(ordo_config::proxy::FaultHeaders::Envoy),
                generate_request_id: l.generate_request_id,
                forwarded_headers: l.forwarded_headers,
            });
        }
        if !problems.is_empty() {
            return Err(doc.issues(problems));
        }
        Ok(Runtime {
            config: config.clone(),
            listeners,
            clusters,
        })
    }

    /// The routes of the listener named `name`.
    #[inline]
    pub(crate) fn listener(&self, name: &str) -> Option<&ListenerRoutes> {
        self.listeners.iter().find(|l| &*l.name == name)
    }

    /// The config this runtime was built from.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Its clusters.
    pub fn clusters(&self) -> &[Arc<Cluster>] {
        &self.clusters
    }
}

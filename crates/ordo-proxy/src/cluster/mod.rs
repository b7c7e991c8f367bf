//! Clusters: a live set of endpoints, a balancer over them, the upstream
//! client (ordo's own for HTTP/1, whose idle connections each endpoint
//! pools; hyper's for HTTP/2), active health checks and outlier ejection.

mod balance;
mod connector;
mod endpoint;
mod health;
mod outlier;
mod source;

pub(crate) use balance::{Tried, hash_bytes};
pub use endpoint::InFlight;
pub use endpoint::{AttemptResult, Endpoint};
pub use source::{DynamicEndpoints, EndpointSource, EndpointSpec, StaticEndpoints};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use ordo_config::proxy::{ClusterConfig, UpstreamProtocol};
use ordo_resilience::Telemetry;
use ordo_resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::balance::{Balancer, EndpointSet};
use self::endpoint::EndpointCounters;
use crate::http::RequestBody;
use crate::metrics::{ClusterLabels, EndpointClassLabels, EndpointLabels, ProxyMetrics};
use crate::upstream::H1Client;

/// The latency the balancer records for an attempt that failed without
/// an answer (refused, reset, malformed), as Finagle's EWMA balancer
/// penalizes failures: far above a healthy endpoint's, so `p2c_ewma` keeps
/// away from a dead one until its estimate ages.
pub const FAILURE_PENALTY: Duration = Duration::from_secs(1);

/// The HTTP/2 upstream client of a cluster (hyper's, one multiplexed
/// connection per endpoint).
pub(crate) type H2Client = Client<connector::CountingConnector, RequestBody>;

/// How a cluster talks to its endpoints.
#[derive(Debug, Clone)]
pub(crate) enum UpstreamClient {
    /// ordo's HTTP/1.1 client.
    Http1(H1Client),
    /// hyper's HTTP/2 client (boxed: it is large, and HTTP/1 is the common
    /// case).
    Http2(Box<H2Client>),
}

/// A group of interchangeable endpoints.
#[derive(Debug)]
pub struct Cluster {
    name: Arc<str>,
    pub(crate) config: ClusterConfig,
    set: ArcSwap<EndpointSet>,
    balancer: Balancer,
    pub(crate) client: UpstreamClient,
    epoch: Instant,
    breaker: Option<CircuitBreakerConfig>,
    metrics: Arc<ProxyMetrics>,
    pub(crate) upstream_duration: ordo_resilience::metrics::AtomicHistogram,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().map(std::mem::take).unwrap_or_default() {
            t.abort();
        }
    }
}

impl Cluster {
    /// Builds a cluster from its config and starts its tasks (endpoint
    /// watch, health checks, outlier sweeps). `source` replaces the
    /// config's static endpoints when given. The cluster's endpoints of
    /// `previous` (same name) keep their state.
    pub(crate) fn start(
        config: &ClusterConfig,
        breaker: Option<CircuitBreakerConfig>,
        source: Option<Arc<dyn EndpointSource>>,
        previous: Option<&Cluster>,
        metrics: &Arc<ProxyMetrics>,
    ) -> Result<Arc<Cluster>, String> {
        let labels = ClusterLabels {
            cluster: config.name.clone(),
        };
        let opened = metrics.upstream_connections.get_or_create(&labels).clone();
        let open = metrics.upstream_open.get_or_create(&labels).clone();
        let client = match config.protocol {
            UpstreamProtocol::Http1 => UpstreamClient::Http1(H1Client {
                connect_timeout: config.pool.connect_timeout.get(),
                idle_timeout: config.pool.idle_timeout.get(),
                max_idle: config.pool.max_idle_per_endpoint as usize,
                opened,
                open,
            }),
            // A reload that leaves the pool's settings alone keeps the pool:
            // its warm connections carry on instead of every endpoint being
            // dialled again. (HTTP/1 pools live in the endpoints, which a
            // reload keeps.)
            UpstreamProtocol::Http2 => match previous.map(|p| (&p.client, &p.config.pool)) {
                Some((UpstreamClient::Http2(c), pool)) if *pool == config.pool => {
                    UpstreamClient::Http2(c.clone())
                }
                _ => UpstreamClient::Http2(Box::new(h2_client(config, opened, open))),
            },
        };
        let cluster = Arc::new(Cluster {
            name: config.name.as_str().into(),
            config: config.clone(),
            set: ArcSwap::from_pointee(EndpointSet::default()),
            balancer: Balancer::new(config.load_balancer.clone()),
            client,
            epoch: previous.map_or_else(Instant::now, |p| p.epoch),
            breaker,
            metrics: metrics.clone(),
            upstream_duration: metrics
                .upstream_duration
                .get_or_create(&ClusterLabels {
                    cluster: config.name.clone(),
                })
                .clone(),
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        let source: Arc<dyn EndpointSource> = source.unwrap_or_else(|| {
            Arc::new(StaticEndpoints::new(
                config
                    .endpoints
                    .iter()
                    .map(|e| EndpointSpec {
                        address: e.address.clone(),
                        weight: e.weight,
                    })
                    .collect(),
            ))
        });
        let mut rx = source.watch();
        let first = rx.borrow_and_update().clone();
        let previous_set = previous.map(|p| p.set.load_full());
        let keep: HashMap<&str, &Arc<Endpoint>> = previous_set
            .as_ref()
            .map(|s| s.endpoints.iter().map(|e| (e.address(), e)).collect())
            .unwrap_or_default();
        // Reuse endpoint state only when the endpoint-level settings are the
        // same; otherwise start fresh.
        let reuse = previous.is_some_and(|p| p.config.circuit_breaker == config.circuit_breaker);
        let set = cluster.endpoint_set(&first, &keep, reuse)?;
        cluster.set.store(Arc::new(set));

        let mut tasks = Vec::new();
        let weak = Arc::downgrade(&cluster);
        tasks.push(tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some(cluster) = weak.upgrade() else { return };
                let specs = rx.borrow_and_update().clone();
                let current = cluster.set.load_full();
                let keep: HashMap<&str, &Arc<Endpoint>> =
                    current.endpoints.iter().map(|e| (e.address(), e)).collect();
                match cluster.endpoint_set(&specs, &keep, true) {
                    Ok(set) => {
                        tracing::info!(cluster = %cluster.name, endpoints = set.endpoints.len(), "endpoints changed");
                        cluster.set.store(Arc::new(set));
                    }
                    Err(e) => tracing::warn!(cluster = %cluster.name, error = %e, "endpoint update ignored"),
                }
            }
        }));
        if let Some(hc) = &config.health_check {
            tasks.push(health::spawn(Arc::downgrade(&cluster), hc.clone()));
        }
        if let Some(o) = &config.outlier_detection {
            tasks.push(outlier::spawn_sweeps(Arc::downgrade(&cluster), o.clone()));
        }
        if let UpstreamClient::Http1(c) = &cluster.client {
            tasks.push(spawn_pool_sweeps(Arc::downgrade(&cluster), c.idle_timeout));
        }
        *cluster.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        Ok(cluster)
    }

    /// The endpoints of `specs`: those of `known` with the same address and
    /// weight are kept whole when `keep_state`; a new one takes over the
    /// idle connections of the one it replaces.
    fn endpoint_set(
        &self,
        specs: &[EndpointSpec],
        known: &HashMap<&str, &Arc<Endpoint>>,
        keep_state: bool,
    ) -> Result<EndpointSet, String> {
        let mut endpoints = Vec::with_capacity(specs.len());
        for spec in specs {
            let old = known.get(spec.address.as_str());
            if let Some(e) = old
                && keep_state
                && e.weight() == spec.weight
            {
                endpoints.push(Arc::clone(e));
                continue;
            }
            let labels = |class| EndpointClassLabels {
                cluster: self.name.to_string(),
                endpoint: spec.address.clone(),
                class,
            };
            let counters = EndpointCounters {
                by_class: ["1xx", "2xx", "3xx", "4xx", "5xx", "error"]
                    .map(|c| self.metrics.upstream.get_or_create(&labels(c)).clone()),
                ejections: self
                    .metrics
                    .ejections
                    .get_or_create(&EndpointLabels {
                        cluster: self.name.to_string(),
                        endpoint: spec.address.clone(),
                    })
                    .clone(),
            };
            let breaker = match &self.breaker {
                Some(c) => Some(
                    CircuitBreaker::new(
                        c.clone(),
                        Telemetry::new(format!("{}/{}", self.name, spec.address)),
                    )
                    .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let endpoint = Endpoint::new(&spec.address, spec.weight.max(1), breaker, counters)?;
            if let Some(old) = old {
                endpoint.pool().adopt(old.pool());
            }
            endpoints.push(Arc::new(endpoint));
        }
        Ok(EndpointSet::new(endpoints, self.balancer.uses_ring()))
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn endpoint_count(&self) -> usize {
        self.set.load().endpoints.len()
    }

    /// The endpoints now.
    pub fn endpoints(&self) -> Vec<Arc<Endpoint>> {
        self.set.load().endpoints.clone()
    }

    /// Time since the cluster's clock started, for ejection deadlines (the
    /// request path passes the instants it has read instead).
    #[inline]
    pub(crate) fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    pub(crate) fn hash_header(&self) -> Option<&str> {
        self.balancer.hash_header()
    }

    /// Picks an endpoint for an attempt: `Ok(endpoint, index)`, or why none
    /// can be picked.
    #[inline]
    pub(crate) fn pick(
        &self,
        tried: Tried,
        hash: Option<u64>,
        at: Instant,
    ) -> Result<(Arc<Endpoint>, usize), crate::Reason> {
        let set = self.set.load();
        let now = at.saturating_duration_since(self.epoch);
        let now_ms = now.as_millis() as u64;
        let now_ns = now.as_nanos() as u64;
        // When ejections leave nothing to pick, ignore them (Envoy's panic
        // mode, at its limit): passive ejection must never take a whole
        // cluster down. Health checks and open circuits still hold.
        let picked = self
            .balancer
            .pick(&set, tried, hash, now_ms, now_ns)
            .or_else(|| self.balancer.pick(&set, tried, hash, u64::MAX, now_ns));
        match picked {
            Some(i) => Ok((set.endpoints[i].clone(), i)),
            None => {
                // Name the cause: endpoints that would be up but for their
                // circuit, or none up at all.
                let circuit = set
                    .endpoints
                    .iter()
                    .any(|e| e.is_healthy() && e.breaker().is_some());
                Err(if circuit {
                    crate::Reason::CircuitOpen
                } else {
                    crate::Reason::NoHealthyEndpoint
                })
            }
        }
    }

    /// Records what an attempt on `endpoint` came to: counters, latency
    /// (a failure without an answer counts as [`FAILURE_PENALTY`]), outlier
    /// detection.
    pub(crate) fn record(
        &self,
        endpoint: &Endpoint,
        result: AttemptResult,
        rtt: Duration,
        at: Instant,
    ) {
        endpoint.count(result);
        if result == AttemptResult::Cancelled {
            return;
        }
        let now = at.saturating_duration_since(self.epoch);
        match result {
            AttemptResult::Status(_) => {
                endpoint.observe_rtt(rtt, now.as_nanos() as u64);
                self.upstream_duration.observe(rtt);
            }
            // A timed-out attempt took at least this long: the balancer
            // must see a slow endpoint as slow even when it never answers.
            AttemptResult::Timeout => endpoint.observe_rtt(rtt, now.as_nanos() as u64),
            // An attempt that broke without an answer (a killed instance
            // refuses or resets at once) teaches no latency, and the dead
            // endpoint, never busy, would look cheapest to the balancer. A
            // penalty makes it look slow instead; its cost drifts back as
            // the estimate ages, so it is tried again later.
            AttemptResult::ConnectFailure | AttemptResult::Reset | AttemptResult::Malformed => {
                endpoint.observe_rtt(rtt.max(FAILURE_PENALTY), now.as_nanos() as u64);
            }
            AttemptResult::Cancelled => {}
        }
        if let Some(o) = &self.config.outlier_detection {
            outlier::record(self, o, endpoint, result, now.as_millis() as u64);
        }
    }

    /// A snapshot for the admin API.
    pub fn status(&self) -> ClusterStatus {
        let now_ms = self.now().as_millis() as u64;
        ClusterStatus {
            name: self.name.to_string(),
            load_balancer: format!("{:?}", self.config.load_balancer),
            endpoints: self
                .set
                .load()
                .endpoints
                .iter()
                .map(|e| {
                    let until = e.ejected_until_ms();
                    EndpointStatus {
                        address: e.address().to_owned(),
                        weight: e.weight(),
                        healthy: e.is_healthy(),
                        ejected: until > now_ms,
                        ejected_for_ms: until.saturating_sub(now_ms),
                        ejections: e
                            .outlier
                            .ejections
                            .load(std::sync::atomic::Ordering::Relaxed),
                        in_flight: e.in_flight(),
                        idle_connections: e.idle_connections(),
                        circuit: e.breaker().map(|b| format!("{:?}", b.state())),
                        available: e.is_available(now_ms),
                    }
                })
                .collect(),
        }
    }
}

/// hyper's pooled client for an HTTP/2 cluster, counting its connections.
fn h2_client(config: &ClusterConfig, opened: Counter, open: Gauge) -> H2Client {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.pool.connect_timeout.get()));
    http.enforce_http(true);
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(config.pool.idle_timeout.get())
        .pool_max_idle_per_host(config.pool.max_idle_per_endpoint as usize)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .http2_only(true);
    builder.build(connector::CountingConnector {
        inner: http,
        opened,
        open,
    })
}

/// Closes idle HTTP/1 connections that outlived `idle_timeout` or that
/// their upstream closed, a few times per timeout, so a quiet proxy does
/// not hold them.
fn spawn_pool_sweeps(cluster: std::sync::Weak<Cluster>, idle_timeout: Duration) -> JoinHandle<()> {
    let every = (idle_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            let now = Instant::now();
            for e in cluster.set.load().endpoints.iter() {
                e.pool().sweep(now, idle_timeout);
            }
        }
    })
}

/// A cluster as `/clusters` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The cluster's name.
    pub name: String,
    /// Its balancer.
    pub load_balancer: String,
    /// Its endpoints.
    pub endpoints: Vec<EndpointStatus>,
}

/// An endpoint as `/clusters` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    /// `host:port`.
    pub address: String,
    /// Its weight.
    pub weight: u32,
    /// Active health checks pass (always true without checks).
    pub healthy: bool,
    /// Ejected by outlier detection now.
    pub ejected: bool,
    /// Milliseconds until the ejection ends.
    pub ejected_for_ms: u64,
    /// Ejections counted towards the next ejection's length.
    pub ejections: u32,
    /// Requests in flight.
    pub in_flight: u32,
    /// Idle HTTP/1 connections kept for it.
    pub idle_connections: usize,
    /// Its circuit's state, when it has one.
    pub circuit: Option<String>,
    /// Whether the balancer may pick it.
    pub available: bool,
}

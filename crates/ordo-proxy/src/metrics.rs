//! The proxy's Prometheus metrics. Names are constants; every series a
//! request touches is resolved when the config is built, so the request
//! path only increments atomics.

use std::sync::Arc;

use ordo_resilience::metrics::AtomicHistogram;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Requests answered, by listener, route and status class.
pub const REQUESTS: &str = "ordo_proxy_requests";
/// Time to response headers, by listener and route.
pub const REQUEST_DURATION: &str = "ordo_proxy_request_duration_seconds";
/// Attempts sent upstream, by cluster, endpoint and result class.
pub const UPSTREAM_REQUESTS: &str = "ordo_proxy_upstream_requests";
/// Time to response headers of attempts, by cluster.
pub const UPSTREAM_DURATION: &str = "ordo_proxy_upstream_duration_seconds";
/// Retries made, by listener and route.
pub const RETRIES: &str = "ordo_proxy_retries";
/// Retries refused by the budget, by listener and route.
pub const RETRY_BUDGET_EXHAUSTED: &str = "ordo_proxy_retry_budget_exhausted";
/// Responses ordo generated, by `x-ordo-reason`.
pub const GENERATED: &str = "ordo_proxy_generated_responses";
/// Outlier ejections, by cluster and endpoint.
pub const EJECTIONS: &str = "ordo_proxy_ejections";
/// 1 while an endpoint is ejected.
pub const ENDPOINT_EJECTED: &str = "ordo_proxy_endpoint_ejected";
/// 1 while active health checks pass for an endpoint.
pub const ENDPOINT_HEALTHY: &str = "ordo_proxy_endpoint_healthy";
/// Requests in flight to an endpoint.
pub const ENDPOINT_IN_FLIGHT: &str = "ordo_proxy_endpoint_in_flight";
/// Circuit state by scope (`route`, `endpoint`) and name: 0 closed, 1
/// open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only.
pub const CIRCUIT_STATE: &str = "ordo_proxy_circuit_state";
/// Config reloads by result (`applied`, `rejected`).
pub const RELOADS: &str = "ordo_proxy_config_reloads";
/// Client connections open, by listener.
pub const CONNECTIONS: &str = "ordo_proxy_downstream_connections";
/// Upstream connections opened, by cluster.
pub const UPSTREAM_CONNECTIONS: &str = "ordo_proxy_upstream_connections_opened";
/// Upstream connections open now (in use or idle in the pool), by cluster.
pub const UPSTREAM_OPEN: &str = "ordo_proxy_upstream_connections_open";
/// Faults injected, by fault id and kind (`delay`, `abort`, `reset`,
/// `grpc`, `hang`, `bandwidth`); exposed as `ordo_faults_injected_total`.
pub const FAULTS_INJECTED: &str = "ordo_faults_injected";
/// Faults active now (declared and added).
pub const FAULTS_ACTIVE: &str = "ordo_faults_active";
/// 1 while fault injection is halted (`PUT /faults/halt`), else 0.
pub const FAULTS_HALTED: &str = "ordo_faults_halted";

/// Labels of a route's series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// The listener.
    pub listener: String,
    /// The route.
    pub route: String,
}

/// Labels of a route's series by status class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteClassLabels {
    /// The listener.
    pub listener: String,
    /// The route.
    pub route: String,
    /// `1xx` to `5xx`.
    pub class: &'static str,
}

/// Labels of an endpoint's series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The cluster.
    pub cluster: String,
    /// The endpoint's address.
    pub endpoint: String,
}

/// Labels of an endpoint's series by result class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointClassLabels {
    /// The cluster.
    pub cluster: String,
    /// The endpoint's address.
    pub endpoint: String,
    /// `1xx` to `5xx`, or `error` for attempts without a response.
    pub class: &'static str,
}

/// A single `cluster` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ClusterLabels {
    /// The cluster.
    pub cluster: String,
}

/// A circuit's labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CircuitLabels {
    /// `route` or `endpoint`.
    pub scope: &'static str,
    /// `listener/route` or `cluster/endpoint`.
    pub name: String,
}

/// A single `reason` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The `x-ordo-reason` value.
    pub reason: &'static str,
}

/// A single `result` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabels {
    /// `applied` or `rejected`.
    pub result: &'static str,
}

/// A fault's labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FaultLabels {
    /// The fault's id (`x-envoy-fault` for Envoy's request headers).
    pub fault: String,
    /// What it did.
    pub kind: &'static str,
}

/// A single `listener` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ListenerLabels {
    /// The listener.
    pub listener: String,
}

/// Makes latency histograms for a family.
#[derive(Debug, Clone, Copy)]
pub struct LatencyHistogram;

impl MetricConstructor<AtomicHistogram> for LatencyHistogram {
    fn new_metric(&self) -> AtomicHistogram {
        AtomicHistogram::for_latency()
    }
}

/// Status classes, by index (status / 100 - 1).
pub(crate) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Every family of the proxy, registered once; reloads resolve new series
/// in the same families.
#[derive(Debug)]
pub struct ProxyMetrics {
    pub(crate) registry: Registry,
    pub(crate) requests: Family<RouteClassLabels, Counter>,
    pub(crate) request_duration: Family<RouteLabels, AtomicHistogram, LatencyHistogram>,
    pub(crate) upstream: Family<EndpointClassLabels, Counter>,
    pub(crate) upstream_duration: Family<ClusterLabels, AtomicHistogram, LatencyHistogram>,
    pub(crate) retries: Family<RouteLabels, Counter>,
    pub(crate) budget_exhausted: Family<RouteLabels, Counter>,
    pub(crate) generated: Family<ReasonLabels, Counter>,
    pub(crate) ejections: Family<EndpointLabels, Counter>,
    pub(crate) ejected: Family<EndpointLabels, Gauge>,
    pub(crate) healthy: Family<EndpointLabels, Gauge>,
    pub(crate) in_flight: Family<EndpointLabels, Gauge>,
    pub(crate) circuit: Family<CircuitLabels, Gauge>,
    pub(crate) reloads: Family<ResultLabels, Counter>,
    pub(crate) connections: Family<ListenerLabels, Gauge>,
    pub(crate) upstream_connections: Family<ClusterLabels, Counter>,
    pub(crate) upstream_open: Family<ClusterLabels, Gauge>,
    pub(crate) faults_injected: Family<FaultLabels, Counter>,
    pub(crate) faults_active: Gauge,
    pub(crate) faults_halted: Gauge,
}

impl ProxyMetrics {
    /// The families, registered in a fresh registry.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let m = ProxyMetrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(LatencyHistogram),
            upstream: Family::default(),
            upstream_duration: Family::new_with_constructor(LatencyHistogram),
            retries: Family::default(),
            budget_exhausted: Family::default(),
            generated: Family::default(),
            ejections: Family::default(),
            ejected: Family::default(),
            healthy: Family::default(),
            in_flight: Family::default(),
            circuit: Family::default(),
            reloads: Family::default(),
            connections: Family::default(),
            upstream_connections: Family::default(),
            upstream_open: Family::default(),
            faults_injected: Family::default(),
            faults_active: Gauge::default(),
            faults_halted: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            REQUESTS,
            "Requests answered, by route and status class",
            m.requests.clone(),
        );
        registry.register(
            REQUEST_DURATION,
            "Time to response headers, by route",
            m.request_duration.clone(),
        );
        registry.register(
            UPSTREAM_REQUESTS,
            "Attempts sent upstream, by endpoint and result class",
            m.upstream.clone(),
        );
        registry.register(
            UPSTREAM_DURATION,
            "Time to response headers of attempts, by cluster",
            m.upstream_duration.clone(),
        );
        registry.register(RETRIES, "Retries made, by route", m.retries.clone());
        registry.register(
            RETRY_BUDGET_EXHAUSTED,
            "Retries refused by the retry budget, by route",
            m.budget_exhausted.clone(),
        );
        registry.register(
            GENERATED,
            "Responses ordo generated, by x-ordo-reason",
            m.generated.clone(),
        );
        registry.register(
            EJECTIONS,
            "Outlier ejections, by endpoint",
            m.ejections.clone(),
        );
        registry.register(
            ENDPOINT_EJECTED,
            "1 while the endpoint is ejected",
            m.ejected.clone(),
        );
        registry.register(
            ENDPOINT_HEALTHY,
            "1 while active health checks pass",
            m.healthy.clone(),
        );
        registry.register(
            ENDPOINT_IN_FLIGHT,
            "Requests in flight to the endpoint",
            m.in_flight.clone(),
        );
        registry.register(
            CIRCUIT_STATE,
            "Circuit state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only",
            m.circuit.clone(),
        );
        registry.register(RELOADS, "Config reloads, by result", m.reloads.clone());
        registry.register(
            CONNECTIONS,
            "Client connections open, by listener",
            m.connections.clone(),
        );
        registry.register(
            UPSTREAM_CONNECTIONS,
            "Upstream connections opened, by cluster",
            m.upstream_connections.clone(),
        );
        registry.register(
            UPSTREAM_OPEN,
            "Upstream connections open now, in use or idle, by cluster",
            m.upstream_open.clone(),
        );
        registry.register(
            FAULTS_INJECTED,
            "Faults injected, by fault and kind",
            m.faults_injected.clone(),
        );
        registry.register(
            FAULTS_ACTIVE,
            "Faults active now, declared and added",
            m.faults_active.clone(),
        );
        registry.register(
            FAULTS_HALTED,
            "1 while fault injection is halted, else 0",
            m.faults_halted.clone(),
        );
        Arc::new(ProxyMetrics { registry, ..m })
    }

    /// The text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

//! Where a cluster's endpoints come from. Static endpoints are the config
//! file's; a registry (ordo's control plane) implements [`EndpointSource`]
//! to feed live instances without a restart.

use std::fmt::Debug;

use tokio::sync::watch;

/// One endpoint as a source describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointSpec {
    /// `host:port`.
    pub address: String,
    /// Relative share for weighted balancers (at least 1).
    pub weight: u32,
}

/// A live list of endpoints. The proxy reads the current list when the
/// cluster is built and applies every later change: endpoints that stay
/// keep their state (load, health, ejections, circuit), new ones start
/// fresh, removed ones get no new requests (their requests in flight
/// finish).
pub trait EndpointSource: Debug + Send + Sync + 'static {
    /// A receiver of the current list and its changes.
    fn watch(&self) -> watch::Receiver<Vec<EndpointSpec>>;
}

/// A fixed list: the config file's endpoints.
#[derive(Debug)]
pub struct StaticEndpoints {
    tx: watch::Sender<Vec<EndpointSpec>>,
}

impl StaticEndpoints {
    /// A source that always answers `endpoints`.
    pub fn new(endpoints: Vec<EndpointSpec>) -> Self {
        StaticEndpoints {
            tx: watch::Sender::new(endpoints),
        }
    }
}

impl EndpointSource for StaticEndpoints {
    fn watch(&self) -> watch::Receiver<Vec<EndpointSpec>> {
        self.tx.subscribe()
    }
}

/// A list that the caller changes: for tests, and for glue code that
/// learns endpoints some other way.
#[derive(Debug, Clone)]
pub struct DynamicEndpoints {
    tx: watch::Sender<Vec<EndpointSpec>>,
}

impl DynamicEndpoints {
    /// A source starting with `endpoints`.
    pub fn new(endpoints: Vec<EndpointSpec>) -> Self {
        DynamicEndpoints {
            tx: watch::Sender::new(endpoints),
        }
    }

    /// Replaces the list.
    pub fn set(&self, endpoints: Vec<EndpointSpec>) {
        self.tx.send_replace(endpoints);
    }
}

impl EndpointSource for DynamicEndpoints {
    fn watch(&self) -> watch::Receiver<Vec<EndpointSpec>> {
        self.tx.subscribe()
    }
}

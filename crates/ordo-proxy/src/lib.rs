//! ordo's data plane: an HTTP sidecar and edge proxy.
//!
//! A proxy is built from an [`ordo_config::proxy::ProxyConfig`]: listeners
//! (HTTP/1.1 and HTTP/2, cleartext or TLS) with routes, each route sending
//! to a cluster (or a weighted split of clusters) under ordo-resilience's
//! policies — total and per-try timeouts, retries with a budget on another
//! endpoint, route and endpoint circuit breakers, bulkhead, adaptive
//! concurrency, fallback. Clusters balance over live endpoints (P2C over
//! peak EWMA by default), check their health actively and eject outliers
//! passively. A new config is validated and swapped in whole while
//! requests in flight finish on the old one.
//!
//! The life of a request is drawn in `docs/life-of-a-request.md`; the
//! config reference is `docs/proxy.md`.

mod admin;
pub mod cluster;
mod fault;
pub mod http;
pub mod metrics;
mod policy;
mod proxy;
mod reason;
mod reload;
mod route;
mod runtime;
mod spare_maps;
mod tcp;
mod upstream;

pub use fault::FAULT_HEADER;
pub use proxy::{Proxy, ProxyOptions};
pub use reason::{FALLBACK_HEADER, REASON_HEADER, Reason};
pub use reload::spawn_reloader;
pub use route::Route;
pub use runtime::Runtime;

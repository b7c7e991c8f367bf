//! One upstream endpoint and everything the proxy knows about it: load
//! (requests in flight, peak-EWMA latency), health (active checks), outlier
//! state (ejections), its own circuit breaker and its pool of idle
//! HTTP/1 connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use http::uri::Authority;
use ordo_resilience::circuit_breaker::CircuitBreaker;
use prometheus_client::metrics::counter::Counter;

use crate::upstream::Pool;

/// What one attempt on an endpoint came to, as load balancing, outlier
/// detection and the endpoint's circuit breaker see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// Response headers arrived with this status.
    Status(u16),
    /// The connection could not be made.
    ConnectFailure,
    /// The connection broke before the response headers.
    Reset,
    /// The response was not valid HTTP.
    Malformed,
    /// The attempt's timeout fired.
    Timeout,
    /// The attempt was abandoned (the client went away, another attempt
    /// won): says nothing about the endpoint.
    Cancelled,
}

impl AttemptResult {
    /// Whether the endpoint failed this attempt.
    pub fn is_failure(self) -> bool {
        match self {
            AttemptResult::Status(s) => s >= 500,
            AttemptResult::ConnectFailure
            | AttemptResult::Reset
            | AttemptResult::Malformed
            | AttemptResult::Timeout => true,
            AttemptResult::Cancelled => false,
        }
    }
}

/// Pre-resolved counters of an endpoint (labels `cluster`, `endpoint`).
#[derive(Debug, Clone, Default)]
pub(crate) struct EndpointCounters {
    /// Responses by status class 1xx..5xx (index 0..4), and failures
    /// without a status (index 5).
    pub(crate) by_class: [Counter; 6],
    pub(crate) ejections: Counter,
}

/// An upstream endpoint of a cluster.
#[derive(Debug)]
pub struct Endpoint {
    address: Arc<str>,
    authority: Authority,
    /// The address when it is an IP literal (no lookup to connect).
    socket_addr: Option<SocketAddr>,
    weight: u32,
    in_flight: AtomicU32,
    /// Peak-EWMA latency in nanoseconds, and when it was last updated (ns
    /// since the cluster's epoch).
    ewma_ns: AtomicU64,
    ewma_at: AtomicU64,
    healthy: AtomicBool,
    pub(crate) outlier: OutlierState,
    breaker: Option<CircuitBreaker>,
    pub(crate) counters: EndpointCounters,
    pool: Pool,
}

/// Outlier-detection state, all atomics.
#[derive(Debug, Default)]
pub(crate) struct OutlierState {
    pub(crate) consecutive_5xx: AtomicU32,
    pub(crate) consecutive_connect: AtomicU32,
    /// Milliseconds since the cluster's epoch until which the endpoint is
    /// ejected; 0 when it is not.
    pub(crate) ejected_until_ms: AtomicU64,
    /// Ejections so far, minus one for each quiet interval (the next
    /// ejection lasts this many base times).
    pub(crate) ejections: AtomicU32,
    pub(crate) ejected_in_interval: AtomicBool,
    pub(crate) interval_total: AtomicU64,
    pub(crate) interval_success: AtomicU64,
}

/// Latency assumed for an endpoint before its first response.
const INITIAL_RTT: Duration = Duration::from_millis(5);
/// How fast the EWMA forgets: the weight of old samples falls by e every
/// this long.
const DECAY_NS: f64 = 10e9;

impl Endpoint {
    pub(crate) fn new(
        address: &str,
        weight: u32,
        breaker: Option<CircuitBreaker>,
        counters: EndpointCounters,
    ) -> Result<Self, String> {
        let authority: Authority = address
            .parse()
            .map_err(|e| format!("`{address}` is not host:port: {e}"))?;
        Ok(Endpoint {
            address: address.into(),
            authority,
            socket_addr: address.parse().ok(),
            weight,
            in_flight: AtomicU32::new(0),
            ewma_ns: AtomicU64::new(INITIAL_RTT.as_nanos() as u64),
            ewma_at: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            outlier: OutlierState::default(),
            breaker,
            counters,
            pool: Pool::default(),
        })
    }

    /// Its idle HTTP/1 connections.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Idle HTTP/1 connections kept for it now.
    pub fn idle_connections(&self) -> usize {
        self.pool.idle()
    }

    /// Its address, when it is an IP literal.
    pub(crate) fn socket_addr(&self) -> Option<SocketAddr> {
        self.socket_addr
    }

    /// `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub(crate) fn address_arc(&self) -> Arc<str> {
        self.address.clone()
    }

    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Its weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Requests in flight to it now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether active health checks consider it healthy (always true
    /// without checks).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn set_healthy(&self, healthy: bool) -> bool {
        self.healthy.swap(healthy, Ordering::Relaxed) != healthy
    }

    /// Milliseconds since the cluster epoch until which it is ejected.
    pub(crate) fn ejected_until_ms(&self) -> u64 {
        self.outlier.ejected_until_ms.load(Ordering::Relaxed)
    }

    /// Its circuit breaker, if the cluster has per-endpoint breakers.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// Whether the balancer may pick it at `now_ms`: healthy, not ejected,
    /// and its circuit (if any) not open.
    #[inline]
    pub(crate) fn is_available(&self, now_ms: u64) -> bool {
        self.is_healthy()
            && self.ejected_until_ms() <= now_ms
            && self.breaker.as_ref().is_none_or(|b| b.would_admit())
    }

    /// The peak-EWMA cost of sending it one more request.
    #[inline]
    pub(crate) fn cost(&self, now_ns: u64) -> f64 {
        let ewma = self.ewma_ns.load(Ordering::Relaxed) as f64;
        let at = self.ewma_at.load(Ordering::Relaxed);
        let age = now_ns.saturating_sub(at) as f64;
        // An endpoint not heard from for a while drifts back toward the
        // initial guess, so one slow answer does not starve it forever.
        let w = (-age / DECAY_NS).exp();
        let rtt = ewma * w + INITIAL_RTT.as_nanos() as f64 * (1.0 - w);
        rtt * f64::from(self.in_flight() + 1)
    }

    /// An attempt starts; the guard ends it.
    #[inline]
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            endpoint: self.clone(),
        }
    }

    /// Records a response time (peak EWMA: a slower sample is taken at
    /// once, a faster one blends in).
    pub(crate) fn observe_rtt(&self, rtt: Duration, now_ns: u64) {
        let sample = rtt.as_nanos().min(u128::from(u64::MAX)) as f64;
        let old = self.ewma_ns.load(Ordering::Relaxed) as f64;
        let at = self.ewma_at.swap(now_ns, Ordering::Relaxed);
        let new = if sample > old {
            sample
        } else {
            let w = (-(now_ns.saturating_sub(at) as f64) / DECAY_NS).exp();
            old * w + sample * (1.0 - w)
        };
        self.ewma_ns.store(new as u64, Ordering::Relaxed);
    }

    pub(crate) fn count(&self, result: AttemptResult) {
        let i = match result {
            AttemptResult::Status(s) => usize::from((s / 100).clamp(1, 5)) - 1,
            AttemptResult::Cancelled => return,
            _ => 5,
        };
        self.counters.by_class[i].inc();
    }
}

/// One attempt in flight on an endpoint; dropping it ends the attempt.
#[derive(Debug)]
pub struct InFlight {
    endpoint: Arc<Endpoint>,
}

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

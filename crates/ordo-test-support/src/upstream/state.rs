//! State shared between an [`Upstream`](super::Upstream) handle and its
//! connections: counters, health, the active behaviour and the last request.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::HeaderValue;
use tokio::sync::{Semaphore, watch};

use super::behaviour::Behaviour;
use super::ratio::RatioCounter;
use super::recorded::Recorded;
use super::stats::Stats;

/// What a running upstream knows; one per server, behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The upstream's name.
    pub(crate) name: String,
    /// `name` as the `x-upstream` header value, built once.
    pub(crate) name_header: HeaderValue,
    /// Body of an Ok response, built once.
    pub(crate) ok_body: Bytes,
    /// Whether to keep the last request for [`Shared::last_request`].
    pub(crate) record: bool,
    /// Whether the control API under `/__ordo/` is served.
    pub(crate) control: bool,
    /// Turns `true` (or closes) when the server shuts down.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The client a [`Behaviour::Forward`] calls its dependency with.
    pub(crate) client: crate::client::TestClient,
    hits: AtomicU64,
    health_hits: AtomicU64,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    active: ArcSwap<Active>,
    last: Mutex<Option<Recorded>>,
}

/// Options from the builder that [`Shared::new`] needs.
#[derive(Clone, Debug)]
pub(crate) struct SharedOptions {
    pub(crate) name: String,
    pub(crate) ok_body: Option<Bytes>,
    pub(crate) record: bool,
    pub(crate) control: bool,
    pub(crate) healthy: bool,
    pub(crate) behaviour: Behaviour,
}

impl Shared {
    /// State for a new server; panics if the name is not a valid header value.
    pub(crate) fn new(options: SharedOptions, shutdown: watch::Receiver<bool>) -> Self {
        let name_header = HeaderValue::from_str(&options.name)
            .expect("the upstream name must be a valid header value");
        let ok_body = options
            .ok_body
            .unwrap_or_else(|| Bytes::from(options.name.clone()));
        Self {
            name: options.name,
            name_header,
            ok_body,
            client: crate::client::http1_client(),
            record: options.record,
            control: options.control,
            shutdown,
            hits: AtomicU64::new(0),
            health_hits: AtomicU64::new(0),
            healthy: AtomicBool::new(options.healthy),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            active: ArcSwap::from_pointee(Active::new(options.behaviour)),
            last: Mutex::new(None),
        }
    }

    /// Counts a request and tracks it as in flight until the guard drops.
    pub(crate) fn begin_request(&self) -> InFlight<'_> {
        self.hits.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    /// Counts a health check and says whether the upstream is healthy.
    pub(crate) fn health_check(&self) -> bool {
        self.health_hits.fetch_add(1, Ordering::Relaxed);
        self.healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn health_hits(&self) -> u64 {
        self.health_hits.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// The counters as one snapshot (each read on its own, so not atomic as a whole).
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            name: self.name.clone(),
            hits: self.hits(),
            health_hits: self.health_hits(),
            in_flight: self.in_flight(),
            max_in_flight: self.max_in_flight(),
        }
    }

    /// Zeroes `hits` and `health_hits`; `max_in_flight` restarts from the
    /// requests in flight now. `in_flight` is a gauge and is left alone.
    pub(crate) fn reset_stats(&self) {
        self.hits.store(0, Ordering::Relaxed);
        self.health_hits.store(0, Ordering::Relaxed);
        self.max_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Replaces the behaviour; its counters and queue start afresh.
    pub(crate) fn set_behaviour(&self, behaviour: Behaviour) {
        self.active.store(Arc::new(Active::new(behaviour)));
    }

    /// The behaviour for the request being served.
    pub(crate) fn active(&self) -> Arc<Active> {
        self.active.load_full()
    }

    pub(crate) fn record(&self, request: Recorded) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(request);
    }

    pub(crate) fn last_request(&self) -> Option<Recorded> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A behaviour with the state it needs across requests.
#[derive(Debug)]
pub(crate) struct Active {
    pub(crate) behaviour: Behaviour,
    /// Decides which requests fail (`FailRatio`, `Profile::fail_ratio`).
    pub(crate) fail: RatioCounter,
    /// Decides which requests are reset (`ResetRatio`, `Profile::reset_ratio`).
    pub(crate) reset: RatioCounter,
    /// The capacity queue (`Capacity`, `Profile::capacity`); FIFO.
    pub(crate) slots: Option<Semaphore>,
}

impl Active {
    fn new(behaviour: Behaviour) -> Self {
        let (fail, reset, capacity) = match &behaviour {
            Behaviour::FailRatio { ratio, .. } => (*ratio, 0.0, None),
            Behaviour::ResetRatio(ratio) => (0.0, *ratio, None),
            Behaviour::Capacity { max_concurrent, .. } => (0.0, 0.0, Some(*max_concurrent)),
            Behaviour::Profile(p) => (p.fail_ratio, p.reset_ratio, p.capacity.map(|(n, _)| n)),
            _ => (0.0, 0.0, None),
        };
        Self {
            fail: RatioCounter::new(fail),
            reset: RatioCounter::new(reset),
            // Zero slots would hang every request forever; serve one at a time instead.
            slots: capacity.map(|n| Semaphore::new(n.max(1))),
            behaviour,
        }
    }
}

/// A request being handled; decrements the in-flight count when dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

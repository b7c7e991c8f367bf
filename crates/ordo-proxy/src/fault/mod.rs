//! Failure injection in the proxy: faults scoped to a route, a cluster or
//! one of its endpoints, a FIT scenario and request headers, decided per
//! request or per attempt, injected *inside* the attempt loop so that an
//! injected failure meets the same per-try timeout, retries, circuit
//! breakers and outlier detection a real one would (unless the fault says
//! not to record it in state shared with other requests).
//!
//! The data path pays one lock-free load per request when no fault is
//! active. Faults come from the config (`faults.declared`), from the admin
//! API (`/faults`, see `admin.rs`), and, on listeners that allow it, from
//! Envoy's fault headers on the request itself. A halt (`halt.rs`) removes
//! them all and refuses new ones until it is lifted.

mod halt;
mod inject;

pub(crate) use halt::{Halt, HaltLock};
pub(crate) use inject::{Injection, RequestFaults};

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use ordo_config::fault::{DelaySpec, FaultPer, FaultSpec, FaultsConfig};
use ordo_fault::{AddError, Delay, Lease, Leases, NewLease, Percent};
use ordo_resilience::Rng;
use prometheus_client::metrics::counter::Counter;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::metrics::{FaultLabels, ProxyMetrics};
use crate::route::HeaderMatcher;

/// Marks a response or a failure as injected: the fault's id.
pub const FAULT_HEADER: HeaderName = HeaderName::from_static("x-ordo-fault");

/// What a fault does to an attempt it holds.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub(crate) delay: Option<Delay>,
    pub(crate) abort: Option<Abort>,
    /// Response body bytes per second.
    pub(crate) bandwidth: Option<u64>,
}

/// An answer in the upstream's place.
#[derive(Debug, Clone)]
pub(crate) enum Abort {
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    Reset,
    Grpc {
        code: u16,
        message: Option<HeaderValue>,
    },
    Hang,
}

/// What a fault did, for its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Delay,
    Abort,
    Reset,
    Grpc,
    Hang,
    Bandwidth,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Delay,
        Kind::Abort,
        Kind::Reset,
        Kind::Grpc,
        Kind::Hang,
        Kind::Bandwidth,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Kind::Delay => "delay",
            Kind::Abort => "abort",
            Kind::Reset => "reset",
            Kind::Grpc => "grpc",
            Kind::Hang => "hang",
            Kind::Bandwidth => "bandwidth",
        }
    }
}

/// A fault's injection counters, one per kind, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct Counters([Counter; 6]);

impl Counters {
    fn new(metrics: &ProxyMetrics, fault: &str) -> Self {
        Counters(Kind::ALL.map(|k| {
            metrics
                .faults_injected
                .get_or_create(&FaultLabels {
                    fault: fault.to_owned(),
                    kind: k.as_str(),
                })
                .clone()
        }))
    }

    pub(crate) fn count(&self, kind: Kind) {
        self.0[kind as usize].inc();
    }
}

/// A compiled fault.
#[derive(Debug)]
pub(crate) struct Fault {
    pub(crate) spec: FaultSpec,
    route: Option<Box<str>>,
    cluster: Option<Box<str>>,
    endpoint: Option<Box<str>>,
    scenario: Option<Box<str>>,
    headers: Vec<HeaderMatcher>,
    percent: Percent,
    pub(crate) action: Action,
    per_attempt: bool,
    pub(crate) record: bool,
    pub(crate) counters: Counters,
}

impl Fault {
    /// Compiles a validated spec with the id it will have.
    pub(crate) fn compile(
        spec: &FaultSpec,
        id: &str,
        metrics: &ProxyMetrics,
    ) -> Result<Fault, (String, String)> {
        let mut headers = Vec::new();
        for (i, h) in spec.matches.headers.iter().enumerate() {
            headers.push(
                HeaderMatcher::compile(h)
                    .map_err(|(f, e)| (format!("match.headers[{i}].{f}"), e))?,
            );
        }
        let abort = match &spec.abort {
            None => None,
            Some(a) if a.reset => Some(Abort::Reset),
            Some(a) if a.hang => Some(Abort::Hang),
            Some(a) => match (a.status, a.grpc_status) {
                (Some(s), _) => {
                    let status = StatusCode::from_u16(s)
                        .map_err(|e| ("abort.status".to_owned(), e.to_string()))?;
                    let mut h = HeaderMap::new();
                    for (name, value) in &a.headers {
                        let n = HeaderName::try_from(name.as_str())
                            .map_err(|e| (format!("abort.headers.{name}"), e.to_string()))?;
                        let v = HeaderValue::try_from(value.as_str())
                            .map_err(|e| (format!("abort.headers.{name}"), e.to_string()))?;
                        h.append(n, v);
                    }
                    Some(Abort::Status {
                        status,
                        headers: h,
                        body: Bytes::from(a.body.clone().unwrap_or_default()),
                    })
                }
                (None, Some(code)) => Some(Abort::Grpc {
                    code,
                    message: match &a.grpc_message {
                        Some(m) => Some(
                            HeaderValue::try_from(m.as_str())
                                .map_err(|e| ("abort.grpc_message".to_owned(), e.to_string()))?,
                        ),
                        None => None,
                    },
                }),
                (None, None) => {
                    return Err((
                        "abort".to_owned(),
                        "give exactly one of `status`, `reset`, `grpc_status`, `hang`".to_owned(),
                    ));
                }
            },
        };
        Ok(Fault {
            route: spec.matches.route.as_deref().map(Into::into),
            cluster: spec.matches.cluster.as_deref().map(Into::into),
            endpoint: spec.matches.endpoint.as_deref().map(Into::into),
            scenario: spec.matches.scenario.as_deref().map(Into::into),
            headers,
            percent: Percent::new(spec.percent),
            action: Action {
                delay: spec.delay.as_ref().map(delay),
                abort,
                bandwidth: spec.bandwidth.as_ref().map(|b| b.bytes_per_second),
            },
            per_attempt: spec.per == FaultPer::Attempt,
            record: spec.records(),
            counters: Counters::new(metrics, id),
            spec: spec.clone(),
        })
    }

    /// Whether a request taken by `route` to `cluster` is in scope (the
    /// endpoint is checked per attempt).
    fn in_scope(&self, route: &str, cluster: &str, headers: &HeaderMap) -> bool {
        self.route.as_deref().is_none_or(|r| r == route)
            && self.cluster.as_deref().is_none_or(|c| c == cluster)
            && self
                .scenario
                .as_deref()
                .is_none_or(|s| ordo_fault::fit::in_scenario(headers, s))
            && self.headers.iter().all(|h| h.matches(headers))
    }

    /// Whether an attempt to `endpoint` is in scope.
    fn takes_endpoint(&self, endpoint: &str) -> bool {
        self.endpoint.as_deref().is_none_or(|e| e == endpoint)
    }
}

fn delay(d: &DelaySpec) -> Delay {
    match d {
        DelaySpec::Fixed(d) => Delay::Fixed(d.get()),
        DelaySpec::Uniform { min, max } => Delay::Uniform(min.get(), max.get()),
        DelaySpec::Normal { mean, stddev } => Delay::Normal(mean.get(), stddev.get()),
        DelaySpec::Lognormal { median, sigma } => Delay::LogNormal(median.get(), *sigma),
    }
}

/// The proxy's faults: those declared in config and those added at
/// runtime, with the limits runtime additions must keep.
#[derive(Debug)]
pub(crate) struct Faults {
    pub(crate) leases: Leases<Fault>,
    limits: ArcSwap<FaultsConfig>,
    metrics: Arc<ProxyMetrics>,
    pub(crate) rng: Rng,
    /// Envoy's request headers, one series set for them all.
    pub(crate) envoy_counters: Counters,
    /// The halt lock, shared with the TCP proxies' toxics.
    halt: Arc<HaltLock>,
}

/// The id a fault may not have: `/faults/halt` is the halt lock.
const RESERVED_ID: &str = "halt";

fn reserved_id(field: String) -> (String, String) {
    (
        field,
        format!("`{RESERVED_ID}` is reserved (`/faults/{RESERVED_ID}` is the halt lock)"),
    )
}

/// Why a fault could not be added.
#[derive(Debug)]
pub(crate) enum AddFaultError {
    /// The spec has problems: `(field, message)` each.
    Invalid(Vec<(String, String)>),
    /// The limits or the id refuse it.
    Refused(AddError),
    /// Fault injection is halted.
    Halted(Halt),
}

impl Faults {
    pub(crate) fn new(metrics: &Arc<ProxyMetrics>) -> Arc<Faults> {
        Arc::new(Faults {
            leases: Leases::default(),
            limits: ArcSwap::from_pointee(FaultsConfig::default()),
            envoy_counters: Counters::new(metrics, "x-envoy-fault"),
            metrics: metrics.clone(),
            rng: Rng::new(),
            halt: Arc::default(),
        })
    }

    /// The halt lock, for the other kinds of fault (toxics) to check.
    pub(crate) fn halt_lock(&self) -> &Arc<HaltLock> {
        &self.halt
    }

    /// Takes a new config's limits and declared faults (the faults added at
    /// runtime stay). While halted, the declared faults are checked but not
    /// applied.
    pub(crate) fn configure(&self, config: &FaultsConfig) -> Result<(), Vec<(String, String)>> {
        let mut declared = Vec::new();
        let mut problems = Vec::new();
        for (i, spec) in config.declared.iter().enumerate() {
            let id = spec.id.clone().unwrap_or_else(|| format!("declared-{i}"));
            if id == RESERVED_ID {
                problems.push(reserved_id(format!("faults.declared[{i}].id")));
                continue;
            }
            match Fault::compile(spec, &id, &self.metrics) {
                Ok(value) => declared.push(NewLease {
                    id,
                    value,
                    ttl: spec.ttl.map(|t| t.get()),
                    lease: spec.lease.map(|l| l.get()),
                    max_active: spec.max_active.unwrap_or(config.max_active),
                }),
                Err((field, message)) => {
                    problems.push((format!("faults.declared[{i}].{field}"), message))
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        self.limits.store(Arc::new(FaultsConfig {
            declared: Vec::new(),
            ..config.clone()
        }));
        self.halt.with(|halt| match halt {
            Some(h) if !declared.is_empty() => tracing::warn!(
                declared = declared.len(),
                halted_by = h.who(),
                "declared faults not applied: fault injection is halted"
            ),
            Some(_) => {}
            None => self.leases.replace_declared(declared, Instant::now()),
        });
        self.metrics
            .faults_active
            .set(self.leases.current().len() as i64);
        Ok(())
    }

    /// Adds a fault checked against `problems` (the spec's own and those
    /// against the running config). Its id is the spec's or a new one.
    pub(crate) fn add(
        &self,
        spec: FaultSpec,
        mut problems: Vec<(String, String)>,
    ) -> Result<Arc<Lease<Fault>>, AddFaultError> {
        if spec.id.as_deref() == Some(RESERVED_ID) {
            problems.push(reserved_id("id".to_owned()));
        }
        if !problems.is_empty() {
            return Err(AddFaultError::Invalid(problems));
        }
        let limits = self.limits.load();
        let id = spec.id.clone().unwrap_or_else(|| self.new_id());
        let value = Fault::compile(&spec, &id, &self.metrics)
            .map_err(|p| AddFaultError::Invalid(vec![p]))?;
        let ttl = spec.ttl.map_or(limits.default_ttl.get(), |t| t.get());
        let new = NewLease {
            id,
            value,
            ttl: Some(ttl),
            lease: spec.lease.map(|l| l.get()),
            max_active: spec.max_active.unwrap_or(limits.max_active),
        };
        // Checked and added under the halt lock: an add racing a halt lands
        // before it (and is removed by it) or is refused.
        let added = self.halt.with(|halt| match halt {
            Some(h) => Err(AddFaultError::Halted(h.clone())),
            None => self
                .leases
                .add(new, limits.max_faults as usize, Instant::now())
                .map_err(AddFaultError::Refused),
        })?;
        tracing::info!(
            fault = added.id(),
            ttl_ms = ttl.as_millis() as u64,
            "fault added"
        );
        self.metrics
            .faults_active
            .set(self.leases.current().len() as i64);
        Ok(added)
    }

    /// Removes a fault; whether it was there.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let removed = self.leases.remove(id);
        if removed {
            tracing::info!(fault = id, "fault removed");
            self.metrics
                .faults_active
                .set(self.leases.current().len() as i64);
        }
        removed
    }

    /// Removes every fault, declared ones too (until the next reload); how
    /// many there were. New faults may be added at once: see [`Faults::halt`]
    /// for a halt that holds.
    pub(crate) fn remove_all(&self) -> usize {
        let n = self.leases.clear();
        tracing::warn!(removed = n, "every fault removed");
        self.metrics.faults_active.set(0);
        n
    }

    /// Halts fault injection: removes every fault and refuses new ones
    /// until [`Faults::lift`]. A halt already in force stands (its `since`,
    /// `by` and `reason`); the faults are removed again all the same. The
    /// halt in force, and how many faults were removed. The caller removes
    /// the toxics after (they check the flag this raises).
    pub(crate) fn halt(&self, halt: Halt) -> (Halt, usize) {
        let asked_by = halt.by.clone();
        let (current, n) = self.halt.engage(halt, || {
            let n = self.leases.clear();
            self.metrics.faults_active.set(0);
            self.metrics.faults_halted.set(1);
            n
        });
        tracing::warn!(
            removed = n,
            by = asked_by.as_deref(),
            halted_by = current.who(),
            reason = current.reason.as_deref(),
            since = %current.since_rfc3339(),
            "fault injection halted: every fault removed, new ones refused"
        );
        (current, n)
    }

    /// Lifts a halt: faults may be added again (declared ones come back at
    /// the next reload). The halt that was in force, if any.
    pub(crate) fn lift(&self) -> Option<Halt> {
        let lifted = self.halt.lift(|| {
            self.metrics.faults_halted.set(0);
        });
        if let Some(h) = &lifted {
            tracing::warn!(
                halted_by = h.who(),
                since = %h.since_rfc3339(),
                "fault injection halt lifted"
            );
        }
        lifted
    }

    /// The halt in force, if any.
    pub(crate) fn halted(&self) -> Option<Halt> {
        self.halt.current()
    }

    /// Whether halted, without the lock (for Envoy's request headers).
    #[inline]
    pub(crate) fn is_halted(&self) -> bool {
        self.halt.is_halted()
    }

    fn new_id(&self) -> String {
        format!("fault-{:08x}", self.rng.next_u64() as u32)
    }

    /// Removes faults whose expiry or lease passed, as they pass.
    pub(crate) fn spawn_sweeper(self: &Arc<Self>) -> JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(faults) = weak.upgrade() else { return };
                let next = faults
                    .leases
                    .next_deadline()
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                {
                    let changed = faults.leases.changed();
                    tokio::select! {
                        _ = tokio::time::sleep_until(next) => {}
                        _ = changed => {}
                        // Let go of the faults now and then, so a dropped
                        // proxy ends this task.
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                for id in faults.leases.sweep(Instant::now()) {
                    tracing::info!(fault = &*id, "fault expired and reverted");
                }
                faults
                    .metrics
                    .faults_active
                    .set(faults.leases.current().len() as i64);
            }
        })
    }
}

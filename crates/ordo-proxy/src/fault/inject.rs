//! Which fault holds a request, and each of its attempts.
//!
//! When the request's cluster is known, every live fault whose scope takes
//! the request (route, cluster, FIT scenario, headers) is a candidate. A
//! `per: request` fault rolls its share once, and from the first attempt it
//! takes (its endpoint, if it names one) holds one of its `max_active`
//! slots for the request's life; a `per: attempt` fault rolls at each
//! attempt. At an attempt, the first candidate that takes the
//! attempt's endpoint and is on applies; Envoy's request headers (on
//! listeners that allow them, unless fault injection is halted) come last.
//! A removed or expired fault stops applying at the next attempt.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode};
use ordo_fault::envoy::{self, HeaderFaults};
use ordo_fault::{ActiveGuard, Delay, Lease};
use tokio::time::Instant;

use super::{Abort, Action, Counters, Fault, Faults, Kind};

/// The faults that may hold one request.
#[derive(Debug)]
pub(crate) struct RequestFaults {
    candidates: Vec<Candidate>,
    envoy: Option<Arc<EnvoyFault>>,
}

#[derive(Debug)]
struct Candidate {
    lease: Arc<Lease<Fault>>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Rolled once for the request and hit: every attempt it takes. Its
    /// slot is taken at the first attempt it takes (an endpoint-scoped
    /// fault may take none), and held until the request ends; `refused`
    /// once all slots were taken then.
    Held {
        slot: Option<ActiveGuard<Fault>>,
        refused: bool,
    },
    /// Rolls at each attempt; slots taken are held to the request's end.
    PerAttempt(Vec<ActiveGuard<Fault>>),
}

/// A fault applied to one attempt: a pointer to what it does (small, as it
/// lives in every request's state).
#[derive(Debug, Clone)]
pub(crate) enum Injection {
    /// A fault of the proxy's (declared or added).
    Fault(Arc<Lease<Fault>>),
    /// Envoy's request headers.
    Envoy(Arc<EnvoyFault>),
}

/// What a request's Envoy fault headers asked for.
#[derive(Debug)]
pub(crate) struct EnvoyFault {
    action: Action,
    counters: Counters,
}

impl RequestFaults {
    /// The faults that may hold a request taken by `route` to `cluster`;
    /// `None` (the common case, one lock-free load) when none may.
    pub(crate) fn for_request(
        faults: &Faults,
        route: &str,
        cluster: &str,
        headers: &HeaderMap,
        envoy_headers: bool,
        now: Instant,
    ) -> Option<RequestFaults> {
        let envoy = if envoy_headers {
            envoy_action(faults, &envoy::read(headers)).map(|action| {
                Arc::new(EnvoyFault {
                    action,
                    counters: faults.envoy_counters.clone(),
                })
            })
        } else {
            None
        };
        let current = faults.leases.current();
        if current.is_empty() && envoy.is_none() {
            return None;
        }
        let mut candidates = Vec::new();
        for lease in current.iter() {
            let fault = lease.value();
            if !lease.is_live(now) || !fault.in_scope(route, cluster, headers) {
                continue;
            }
            let state = if fault.per_attempt {
                State::PerAttempt(Vec::new())
            } else if roll(faults, fault) {
                State::Held {
                    slot: None,
                    refused: false,
                }
            } else {
                continue;
            };
            candidates.push(Candidate {
                lease: lease.clone(),
                state,
            });
        }
        (!candidates.is_empty() || envoy.is_some()).then_some(RequestFaults { candidates, envoy })
    }

    /// The fault for an attempt to `endpoint`, if one applies.
    pub(crate) fn for_attempt(
        &mut self,
        faults: &Faults,
        endpoint: &str,
        now: Instant,
    ) -> Option<Injection> {
        for c in &mut self.candidates {
            let fault = c.lease.value();
            if !c.lease.is_live(now) || !fault.takes_endpoint(endpoint) {
                continue;
            }
            let on = match &mut c.state {
                State::Held { refused: true, .. } => false,
                State::Held { slot: Some(_), .. } => true,
                State::Held { slot, refused } => match c.lease.try_enter() {
                    Some(g) => {
                        *slot = Some(g);
                        true
                    }
                    None => {
                        *refused = true;
                        false
                    }
                },
                State::PerAttempt(slots) => {
                    roll(faults, fault)
                        && match c.lease.try_enter() {
                            Some(g) => {
                                slots.push(g);
                                true
                            }
                            None => false,
                        }
                }
            };
            if on {
                return Some(Injection::Fault(c.lease.clone()));
            }
        }
        self.envoy.clone().map(Injection::Envoy)
    }
}

fn roll(faults: &Faults, fault: &Fault) -> bool {
    fault.percent.is_all() || fault.percent.hit(faults.rng.next_f64())
}

/// The action Envoy's headers ask for, each part rolled for its share;
/// none while fault injection is halted.
fn envoy_action(faults: &Faults, h: &HeaderFaults) -> Option<Action> {
    if h.is_empty() || faults.is_halted() {
        return None;
    }
    let hit = |p: ordo_fault::Percent| p.is_all() || p.hit(faults.rng.next_f64());
    let delay = h
        .delay
        .filter(|(_, p)| hit(*p))
        .map(|(d, _)| Delay::Fixed(d));
    let abort = h.abort.filter(|(_, p)| hit(*p)).map(|(a, _)| match a {
        envoy::Abort::Http(s) => Abort::Status {
            status: StatusCode::from_u16(s).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            headers: HeaderMap::new(),
            body: bytes::Bytes::from_static(b"fault filter abort"),
        },
        envoy::Abort::Grpc(code) => Abort::Grpc {
            code,
            message: None,
        },
    });
    let bandwidth = h.throughput.filter(|(_, p)| hit(*p)).map(|(b, _)| b);
    (delay.is_some() || abort.is_some() || bandwidth.is_some()).then_some(Action {
        delay,
        abort,
        bandwidth,
    })
}

impl Injection {
    /// What it does.
    pub(crate) fn action(&self) -> &Action {
        match self {
            Injection::Fault(l) => &l.value().action,
            Injection::Envoy(e) => &e.action,
        }
    }

    /// Whether shared state records what the attempt comes to.
    pub(crate) fn record(&self) -> bool {
        match self {
            Injection::Fault(l) => l.value().record,
            Injection::Envoy(_) => false,
        }
    }

    /// Its injection counters.
    pub(crate) fn counters(&self) -> &Counters {
        match self {
            Injection::Fault(l) => &l.value().counters,
            Injection::Envoy(e) => &e.counters,
        }
    }

    /// Waits out the fault's delay (cut short if the fault is removed),
    /// and counts it.
    pub(crate) async fn delay(&self, faults: &Faults) {
        let Some(d) = self.action().delay else { return };
        let wait = d.sample(&mut || faults.rng.next_f64());
        self.counters().count(Kind::Delay);
        match self {
            Injection::Fault(lease) => {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = lease.removed() => {}
                }
            }
            Injection::Envoy(_) => tokio::time::sleep(wait).await,
        }
    }

    /// Never returns while the fault stands (a hang); returns once it is
    /// removed, so the attempt goes on to the upstream.
    pub(crate) async fn hang(&self) {
        self.counters().count(Kind::Hang);
        match self {
            Injection::Fault(lease) => lease.removed().await,
            Injection::Envoy(_) => std::future::pending().await,
        }
    }

    /// The `x-ordo-fault` value naming the fault (`x-envoy-fault` for
    /// Envoy's headers).
    pub(crate) fn header_value(&self) -> HeaderValue {
        match self {
            Injection::Fault(l) => {
                HeaderValue::from_str(l.id()).unwrap_or(HeaderValue::from_static("fault"))
            }
            Injection::Envoy(_) => HeaderValue::from_static("x-envoy-fault"),
        }
    }
}

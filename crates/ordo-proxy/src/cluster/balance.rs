//! Picking an endpoint for an attempt. Every algorithm skips endpoints
//! that are unhealthy, ejected, behind an open circuit, or already tried by
//! this request (unless nothing else is left).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ordo_config::proxy::LoadBalancer;
use ordo_resilience::Rng;

use super::endpoint::Endpoint;

/// The endpoints of a cluster at one moment, with what the balancers
/// precompute from them.
#[derive(Debug, Default)]
pub(crate) struct EndpointSet {
    pub(crate) endpoints: Vec<Arc<Endpoint>>,
    /// Running sum of the weights, for weighted picks.
    cumulative: Vec<u64>,
    /// The hash ring: (point, endpoint index), sorted by point.
    ring: Vec<(u64, u32)>,
}

/// Virtual nodes per unit of weight on the hash ring, and the ring's cap.
const VNODES_PER_WEIGHT: u64 = 64;
const MAX_RING: u64 = 65_536;

pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

impl EndpointSet {
    pub(crate) fn new(endpoints: Vec<Arc<Endpoint>>, with_ring: bool) -> Self {
        let mut sum = 0;
        let cumulative = endpoints
            .iter()
            .map(|e| {
                sum += u64::from(e.weight().max(1));
                sum
            })
            .collect();
        let mut ring = Vec::new();
        if with_ring && !endpoints.is_empty() {
            let scale = (MAX_RING / sum.max(1)).clamp(1, VNODES_PER_WEIGHT);
            for (i, e) in endpoints.iter().enumerate() {
                for v in 0..u64::from(e.weight().max(1)) * scale {
                    let mut h = DefaultHasher::new();
                    e.address().hash(&mut h);
                    v.hash(&mut h);
                    ring.push((h.finish(), i as u32));
                }
            }
            ring.sort_unstable();
        }
        EndpointSet {
            endpoints,
            cumulative,
            ring,
        }
    }
}

/// Which endpoints a request has tried: a bit per endpoint index (the
/// first 64; further endpoints are never excluded).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tried(u64);

impl Tried {
    pub(crate) fn add(&mut self, index: usize) {
        if index < 64 {
            self.0 |= 1 << index;
        }
    }

    pub(crate) fn has(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A load-balancing algorithm with its state.
#[derive(Debug)]
pub(crate) struct Balancer {
    kind: LoadBalancer,
    rng: Rng,
    next: AtomicUsize,
}

impl Balancer {
    pub(crate) fn new(kind: LoadBalancer) -> Self {
        Balancer {
            kind,
            rng: Rng::new(),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn uses_ring(&self) -> bool {
        matches!(self.kind, LoadBalancer::ConsistentHash { .. })
    }

    /// The header a consistent-hash balancer hashes.
    pub(crate) fn hash_header(&self) -> Option<&str> {
        match &self.kind {
            LoadBalancer::ConsistentHash { header } => Some(header),
            _ => None,
        }
    }

    /// An endpoint index for the next attempt, or `None` when no endpoint
    /// is available. Tried endpoints are avoided while others remain.
    pub(crate) fn pick(
        &self,
        set: &EndpointSet,
        tried: Tried,
        hash: Option<u64>,
        now_ms: u64,
        now_ns: u64,
    ) -> Option<usize> {
        let n = set.endpoints.len();
        if n == 0 {
            return None;
        }
        let ok = |i: usize| !tried.has(i) && set.endpoints[i].is_available(now_ms);
        let found = match &self.kind {
            LoadBalancer::P2cEwma => self.p2c(n, &ok, |i| set.endpoints[i].cost(now_ns)),
            LoadBalancer::LeastRequest => {
                self.p2c(n, &ok, |i| f64::from(set.endpoints[i].in_flight()))
            }
            LoadBalancer::RoundRobin => {
                // A retry does not take a turn: it goes to the next one.
                let start = if tried.is_empty() {
                    self.next.fetch_add(1, Ordering::Relaxed)
                } else {
                    self.next.load(Ordering::Relaxed)
                } % n;
                scan(n, start, &ok)
            }
            LoadBalancer::Weighted => self.weighted(set, &ok),
            LoadBalancer::ConsistentHash { .. } => match hash {
                Some(h) => ring_walk(set, h, &ok),
                None => self.weighted(set, &ok),
            },
        };
        if found.is_none() && !tried.is_empty() {
            // Everything left was tried: a repeat is better than nothing.
            return self.pick(set, Tried::default(), hash, now_ms, now_ns);
        }
        found
    }

    fn random_ok(&self, n: usize, ok: &impl Fn(usize) -> bool) -> Option<usize> {
        for _ in 0..3 {
            let i = self.rng.below(n as u64) as usize;
            if ok(i) {
                return Some(i);
            }
        }
        scan(n, self.rng.below(n as u64) as usize, ok)
    }

    fn p2c(
        &self,
        n: usize,
        ok: &impl Fn(usize) -> bool,
        cost: impl Fn(usize) -> f64,
    ) -> Option<usize> {
        let a = self.random_ok(n, ok)?;
        if n == 1 {
            return Some(a);
        }
        // A second, different candidate.
        let b = (a + 1 + self.rng.below(n as u64 - 1) as usize) % n;
        let b = if ok(b) { b } else { return Some(a) };
        Some(if cost(b) < cost(a) { b } else { a })
    }

    fn weighted(&self, set: &EndpointSet, ok: &impl Fn(usize) -> bool) -> Option<usize> {
        let total = *set.cumulative.last()?;
        for _ in 0..3 {
            let r = self.rng.below(total);
            let i = set.cumulative.partition_point(|c| *c <= r);
            if ok(i) {
                return Some(i);
            }
        }
        scan(
            set.endpoints.len(),
            self.rng.below(set.endpoints.len() as u64) as usize,
            ok,
        )
    }
}

fn scan(n: usize, start: usize, ok: &impl Fn(usize) -> bool) -> Option<usize> {
    (0..n).map(|k| (start + k) % n).find(|&i| ok(i))
}

fn ring_walk(set: &EndpointSet, h: u64, ok: &impl Fn(usize) -> bool) -> Option<usize> {
    let len = set.ring.len();
    if len == 0 {
        return None;
    }
    let start = set.ring.partition_point(|(p, _)| *p < h);
    (0..len)
        .map(|k| set.ring[(start + k) % len].1 as usize)
        .find(|&i| ok(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::endpoint::EndpointCounters;

    fn set(n: usize, ring: bool) -> EndpointSet {
        let eps = (0..n)
            .map(|i| {
                Arc::new(
                    Endpoint::new(
                        &format!("127.0.0.1:{}", 1000 + i),
                        (i as u32) + 1,
                        None,
                        EndpointCounters::default(),
                    )
                    .unwrap(),
                )
            })
            .collect();
        EndpointSet::new(eps, ring)
    }

    #[test]
    fn round_robin_visits_each_in_turn_and_skips_tried() {
        let s = set(3, false);
        let b = Balancer::new(LoadBalancer::RoundRobin);
        let picks: Vec<_> = (0..6)
            .map(|_| b.pick(&s, Tried::default(), None, 0, 0).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        let mut tried = Tried::default();
        tried.add(0);
        tried.add(1);
        for _ in 0..5 {
            assert_eq!(b.pick(&s, tried, None, 0, 0), Some(2));
        }
        tried.add(2);
        assert!(
            b.pick(&s, tried, None, 0, 0).is_some(),
            "falls back to a repeat"
        );
    }

    #[test]
    fn weighted_follows_weights() {
        let s = set(3, false); // weights 1, 2, 3
        let b = Balancer::new(LoadBalancer::Weighted);
        let mut counts = [0u32; 3];
        for _ in 0..60_000 {
            counts[b.pick(&s, Tried::default(), None, 0, 0).unwrap()] += 1;
        }
        for (i, c) in counts.iter().enumerate() {
            let expected = 10_000.0 * (i as f64 + 1.0);
            assert!(
                (f64::from(*c) - expected).abs() < expected * 0.05,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn consistent_hash_is_sticky_and_moves_only_when_needed() {
        let s = set(5, true);
        let b = Balancer::new(LoadBalancer::ConsistentHash {
            header: "x-user".into(),
        });
        let h = hash_bytes(b"alice");
        let first = b.pick(&s, Tried::default(), Some(h), 0, 0).unwrap();
        for _ in 0..20 {
            assert_eq!(b.pick(&s, Tried::default(), Some(h), 0, 0), Some(first));
        }
        let mut tried = Tried::default();
        tried.add(first);
        let second = b.pick(&s, tried, Some(h), 0, 0).unwrap();
        assert_ne!(second, first);
    }

    #[test]
    fn p2c_prefers_the_less_loaded() {
        let s = set(2, false);
        let b = Balancer::new(LoadBalancer::LeastRequest);
        let _busy: Vec<_> = (0..5).map(|_| s.endpoints[0].start()).collect();
        for _ in 0..50 {
            assert_eq!(b.pick(&s, Tried::default(), None, 0, 0), Some(1));
        }
    }
}

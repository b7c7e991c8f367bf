//! Faults held as leases, enforced by the injector itself.
//!
//! A fault added at runtime must not outlive the test that added it, even
//! when that test, its process or its machine dies: so every fault has an
//! expiry, and a renewable one also a lease its owner must renew, and the
//! injector (not the owner) reverts it when either passes. The data path
//! checks both on every use, so an expired fault is never applied even
//! before a sweep removes it; a sweep ([`Leases::sweep`], at
//! [`Leases::next_deadline`]) tidies the list.
//!
//! Reading is lock-free (an `ArcSwap` of the list); adding, removing and
//! renewing take a lock held for the copy of a short list.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use tokio::sync::Notify;
use tokio::time::Instant;

/// One fault held as a lease.
#[derive(Debug)]
pub struct Lease<T> {
    id: Arc<str>,
    value: T,
    added: Instant,
    /// None: declared in config, lives as long as the config.
    expires: Option<Instant>,
    /// The renewal period of a renewable fault.
    lease: Option<Duration>,
    /// When the lease lapses, in ms since the list's epoch.
    lapses_ms: AtomicU64,
    epoch: Instant,
    max_active: u32,
    active: AtomicU32,
    injected: AtomicU64,
    removed: AtomicBool,
    on_removed: Notify,
    /// Declared in config (replaced on reload), not added at runtime.
    declared: bool,
}

impl<T> Lease<T> {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its id, shared.
    pub fn id_arc(&self) -> Arc<str> {
        self.id.clone()
    }

    /// What it injects.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Whether it applies at `now`: not expired, and its lease (if any)
    /// renewed in time.
    #[inline]
    pub fn is_live(&self, now: Instant) -> bool {
        !self.removed.load(Ordering::Acquire)
            && self.expires.is_none_or(|e| now < e)
            && (self.lease.is_none()
                || self.since_epoch_ms(now) < self.lapses_ms.load(Ordering::Acquire))
    }

    /// Takes one of its `max_active` slots for a request it faults; `None`
    /// when all are taken (the request then passes untouched). The guard
    /// gives the slot back.
    #[inline]
    pub fn try_enter(self: &Arc<Self>) -> Option<ActiveGuard<T>> {
        let before = self.active.fetch_add(1, Ordering::AcqRel);
        if before >= self.max_active {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(ActiveGuard {
            lease: self.clone(),
        })
    }

    /// Resolves once the fault is removed (a delay or a hang it injected
    /// ends then, so a halt frees the requests it holds).
    pub async fn removed(&self) {
        let notified = self.on_removed.notified();
        if self.removed.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
        self.on_removed.notify_waiters();
    }

    /// Requests it holds now.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Requests it has faulted so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn since_epoch_ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// When it stops applying unless removed earlier or renewed.
    fn deadline(&self) -> Option<Instant> {
        let lapse = self
            .lease
            .map(|_| self.epoch + Duration::from_millis(self.lapses_ms.load(Ordering::Acquire)));
        match (self.expires, lapse) {
            (Some(e), Some(l)) => Some(e.min(l)),
            (e, l) => e.or(l),
        }
    }

    /// Whether it was removed (by a remove, a clear or a reload), as
    /// opposed to expired.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Its state at `now`.
    pub fn info(&self, now: Instant) -> LeaseInfo {
        LeaseInfo {
            id: self.id.to_string(),
            age: now.saturating_duration_since(self.added),
            expires_in: self.expires.map(|e| e.saturating_duration_since(now)),
            lease: self.lease,
            lease_left: self.lease.map(|_| {
                Duration::from_millis(
                    self.lapses_ms
                        .load(Ordering::Acquire)
                        .saturating_sub(self.since_epoch_ms(now)),
                )
            }),
            declared: self.declared,
            active: self.active(),
            injected: self.injected(),
        }
    }
}

/// A request held by a fault; dropping it gives the slot back.
#[derive(Debug)]
pub struct ActiveGuard<T> {
    lease: Arc<Lease<T>>,
}

impl<T> ActiveGuard<T> {
    /// The fault holding the request.
    pub fn lease(&self) -> &Arc<Lease<T>> {
        &self.lease
    }
}

impl<T> Drop for ActiveGuard<T> {
    fn drop(&mut self) {
        self.lease.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A fault's state, for listing.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseInfo {
    /// Its id.
    pub id: String,
    /// Time since it was added.
    pub age: Duration,
    /// Time until it expires; none for a declared fault without a ttl.
    pub expires_in: Option<Duration>,
    /// Its renewal period, if renewable.
    pub lease: Option<Duration>,
    /// Time until its lease lapses unless renewed.
    pub lease_left: Option<Duration>,
    /// Declared in config (not added at runtime).
    pub declared: bool,
    /// Requests it holds now.
    pub active: u32,
    /// Requests it has faulted so far.
    pub injected: u64,
}

/// Why a fault could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddError {
    /// As many faults as allowed are active.
    TooMany(usize),
    /// A fault with this id is active.
    Duplicate(String),
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::TooMany(n) => write!(f, "{n} faults are active, the most allowed"),
            AddError::Duplicate(id) => write!(f, "a fault named `{id}` is active"),
        }
    }
}

impl std::error::Error for AddError {}

/// What a new fault holds.
#[derive(Debug)]
pub struct NewLease<T> {
    /// Its id.
    pub id: String,
    /// What it injects.
    pub value: T,
    /// Its expiry from now; none: it lasts until removed (declared faults
    /// only).
    pub ttl: Option<Duration>,
    /// Its renewal period, if renewable.
    pub lease: Option<Duration>,
    /// Most requests it holds at once.
    pub max_active: u32,
}

/// The active faults of one injector.
#[derive(Debug)]
pub struct Leases<T> {
    list: ArcSwap<Vec<Arc<Lease<T>>>>,
    write: Mutex<()>,
    epoch: Instant,
    changed: Notify,
}

impl<T> Default for Leases<T> {
    fn default() -> Self {
        Leases {
            list: ArcSwap::from_pointee(Vec::new()),
            write: Mutex::new(()),
            epoch: Instant::now(),
            changed: Notify::new(),
        }
    }
}

impl<T> Leases<T> {
    /// The faults now, for the data path (check [`Lease::is_live`]).
    #[inline]
    pub fn current(&self) -> Guard<Arc<Vec<Arc<Lease<T>>>>> {
        self.list.load()
    }

    /// Whether there are none (the data path's fast exit).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.load().is_empty()
    }

    /// Adds a fault at `now`, unless `max` are active or one has its id.
    pub fn add(
        &self,
        new: NewLease<T>,
        max: usize,
        now: Instant,
    ) -> Result<Arc<Lease<T>>, AddError> {
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.list.load_full();
        let (live, dead): (Vec<_>, Vec<_>) = old.iter().cloned().partition(|l| l.is_live(now));
        // Expired ones leave the list here: whatever waits on them ends.
        for l in &dead {
            l.mark_removed();
        }
        if live.iter().any(|l| *l.id == *new.id) {
            return Err(AddError::Duplicate(new.id));
        }
        if live.len() >= max {
            return Err(AddError::TooMany(max));
        }
        let lease = Arc::new(Lease {
            id: new.id.into(),
            value: new.value,
            added: now,
            expires: new.ttl.map(|t| now + t),
            lease: new.lease,
            lapses_ms: AtomicU64::new(0),
            epoch: self.epoch,
            max_active: new.max_active.max(1),
            active: AtomicU32::new(0),
            injected: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            on_removed: Notify::new(),
            declared: false,
        });
        if let Some(l) = new.lease {
            lease
                .lapses_ms
                .store(lease.since_epoch_ms(now + l), Ordering::Release);
        }
        let mut list = live;
        list.push(lease.clone());
        self.list.store(Arc::new(list));
        self.changed.notify_one();
        Ok(lease)
    }

    /// Removes the fault `id`; whether there was one.
    pub fn remove(&self, id: &str) -> bool {
        self.retain(|l| &*l.id != id) > 0
    }

    /// Removes every fault (a halt); how many there were.
    pub fn clear(&self) -> usize {
        self.retain(|_| false)
    }

    /// Keeps the faults `keep` says to; how many were removed.
    pub fn retain(&self, mut keep: impl FnMut(&Lease<T>) -> bool) -> usize {
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.list.load_full();
        let (list, gone): (Vec<_>, Vec<_>) = old.iter().cloned().partition(|l| keep(l));
        if !gone.is_empty() {
            self.list.store(Arc::new(list));
            for l in &gone {
                l.mark_removed();
            }
            self.changed.notify_one();
        }
        gone.len()
    }

    /// Renews the lease of `id` at `now`: it lapses one lease period from
    /// now (never after its expiry). `None` when there is no such live
    /// fault; `Some(false)` when it is not renewable.
    pub fn renew(&self, id: &str, now: Instant) -> Option<bool> {
        let list = self.list.load();
        let l = list.iter().find(|l| &*l.id == id && l.is_live(now))?;
        let Some(period) = l.lease else {
            return Some(false);
        };
        l.lapses_ms
            .store(l.since_epoch_ms(now + period), Ordering::Release);
        self.changed.notify_one();
        Some(true)
    }

    /// Removes the faults no longer live at `now`; their ids.
    pub fn sweep(&self, now: Instant) -> Vec<Arc<str>> {
        let mut gone = Vec::new();
        self.retain(|l| {
            let live = l.is_live(now);
            if !live {
                gone.push(l.id.clone());
            }
            live
        });
        gone
    }

    /// The earliest time a fault stops applying by itself.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.list.load().iter().filter_map(|l| l.deadline()).min()
    }

    /// Resolves when a fault is added, removed or renewed (to re-plan the
    /// next sweep).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Every live fault's state.
    pub fn list(&self, now: Instant) -> Vec<LeaseInfo> {
        self.list
            .load()
            .iter()
            .filter(|l| l.is_live(now))
            .map(|l| l.info(now))
            .collect()
    }

    /// The live fault `id`.
    pub fn get(&self, id: &str, now: Instant) -> Option<Arc<Lease<T>>> {
        self.list
            .load()
            .iter()
            .find(|l| &*l.id == id && l.is_live(now))
            .cloned()
    }

    /// State of the live fault `id`.
    pub fn info(&self, id: &str, now: Instant) -> Option<LeaseInfo> {
        self.get(id, now).map(|l| l.info(now))
    }

    /// Replaces the declared faults with `declared`, keeping the faults
    /// added at runtime: a config reload.
    pub fn replace_declared(&self, declared: Vec<NewLease<T>>, now: Instant) {
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.list.load_full();
        let (mut list, gone): (Vec<_>, Vec<_>) = old
            .iter()
            .cloned()
            .partition(|l| !l.declared && l.is_live(now));
        for l in &gone {
            l.mark_removed();
        }
        for d in declared {
            let lapses = d.lease.map_or(0, |l| {
                (now + l).saturating_duration_since(self.epoch).as_millis() as u64
            });
            list.push(Arc::new(Lease {
                id: d.id.into(),
                value: d.value,
                added: now,
                expires: d.ttl.map(|t| now + t),
                lease: d.lease,
                lapses_ms: AtomicU64::new(lapses),
                epoch: self.epoch,
                max_active: d.max_active.max(1),
                active: AtomicU32::new(0),
                injected: AtomicU64::new(0),
                removed: AtomicBool::new(false),
                on_removed: Notify::new(),
                declared: true,
            }));
        }
        self.list.store(Arc::new(list));
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str, ttl: u64, lease: Option<u64>) -> NewLease<()> {
        NewLease {
            id: id.to_owned(),
            value: (),
            ttl: Some(Duration::from_secs(ttl)),
            lease: lease.map(Duration::from_secs),
            max_active: 2,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_expires_by_itself() {
        let l = Leases::default();
        let t0 = Instant::now();
        l.add(new("a", 60, None), 10, t0).unwrap();
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(60)));
        assert!(l.current()[0].is_live(t0 + Duration::from_secs(59)));
        assert!(!l.current()[0].is_live(t0 + Duration::from_secs(60)));
        assert_eq!(
            l.list(t0 + Duration::from_secs(61)).len(),
            0,
            "not listed once dead"
        );
        let gone = l.sweep(t0 + Duration::from_secs(61));
        assert_eq!(gone.len(), 1);
        assert!(l.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_lapses_unless_renewed_and_never_outlives_its_expiry() {
        let l = Leases::default();
        let t0 = Instant::now();
        l.add(new("a", 60, Some(10)), 10, t0).unwrap();
        let s = |n| t0 + Duration::from_secs(n);
        assert_eq!(l.renew("a", s(9)), Some(true));
        assert!(l.current()[0].is_live(s(18)), "renewed at 9 for 10 more");
        assert!(!l.current()[0].is_live(s(19)));
        assert_eq!(
            l.renew("a", s(19)),
            None,
            "a lapsed fault cannot be renewed"
        );
        let l2 = Leases::default();
        l2.add(new("b", 20, Some(10)), 10, t0).unwrap();
        assert_eq!(l2.renew("b", s(9)), Some(true));
        assert_eq!(l2.renew("b", s(15)), Some(true));
        assert!(l2.current()[0].is_live(s(19)));
        assert!(!l2.current()[0].is_live(s(20)), "the expiry still holds");
        assert_eq!(l2.next_deadline(), Some(s(20)));
    }

    #[tokio::test(start_paused = true)]
    async fn removal_wakes_what_waits_on_the_fault() {
        let l = Leases::default();
        let f = l.add(new("a", 60, None), 10, Instant::now()).unwrap();
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.removed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(l.remove("a"));
        waiter.await.unwrap();
        assert!(
            !f.is_live(Instant::now()),
            "a removed fault no longer applies"
        );
        // Waiting on an already removed fault returns at once.
        f.removed().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_without_a_lease_is_not_renewable() {
        let l = Leases::default();
        let t0 = Instant::now();
        l.add(new("a", 60, None), 10, t0).unwrap();
        assert_eq!(l.renew("a", t0), Some(false));
        assert_eq!(l.renew("nope", t0), None);
    }

    #[tokio::test(start_paused = true)]
    async fn ids_are_unique_and_the_count_is_capped() {
        let l = Leases::default();
        let t0 = Instant::now();
        l.add(new("a", 60, None), 2, t0).unwrap();
        assert_eq!(
            l.add(new("a", 60, None), 2, t0).unwrap_err(),
            AddError::Duplicate("a".into())
        );
        l.add(new("b", 60, None), 2, t0).unwrap();
        assert_eq!(
            l.add(new("c", 60, None), 2, t0).unwrap_err(),
            AddError::TooMany(2)
        );
        // A dead fault does not count.
        let later = t0 + Duration::from_secs(61);
        l.add(new("a", 60, None), 2, later).unwrap();
        assert!(l.remove("a"));
        assert!(!l.remove("a"));
        assert_eq!(
            l.clear(),
            0,
            "b had expired and was dropped when a was added"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_on_active_requests_holds_and_slots_come_back() {
        let l = Leases::default();
        let f = l.add(new("a", 60, None), 10, Instant::now()).unwrap();
        let one = f.try_enter().unwrap();
        let two = f.try_enter().unwrap();
        assert!(f.try_enter().is_none());
        assert_eq!((f.active(), f.injected()), (2, 2));
        drop(one);
        let _three = f.try_enter().unwrap();
        drop(two);
        assert_eq!((f.active(), f.injected()), (1, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_replaces_declared_faults_and_keeps_added_ones() {
        let l = Leases::default();
        let t0 = Instant::now();
        let declared = |id: &str| NewLease {
            id: id.to_owned(),
            value: (),
            ttl: None,
            lease: None,
            max_active: 1,
        };
        l.replace_declared(vec![declared("d1")], t0);
        l.add(new("runtime", 60, None), 10, t0).unwrap();
        l.replace_declared(vec![declared("d2")], t0);
        let mut ids: Vec<_> = l.list(t0).into_iter().map(|i| (i.id, i.declared)).collect();
        ids.sort();
        assert_eq!(ids, [("d2".into(), true), ("runtime".into(), false)]);
    }
}

//! The instance registry, in the style of Eureka, with Consul's blocking queries.
//!
//! Instances register with an id, a service name and an address, then heartbeat within
//! their lease. An instance that stops heartbeating is evicted by the sweeper once its
//! lease lapses; one that heartbeats for an id the registry does not know gets
//! [`RegistryError::NotFound`] and registers again. Each instance reports a [`Status`];
//! an operator's override (Eureka's `overriddenstatus`) wins over whatever heartbeats
//! report until it is cleared.
//!
//! Reads come from memory; every change is written through to the store (with its audit
//! entries, in one transaction) before it is applied and answered, so a failed write
//! changes nothing. Every change a reader could see bumps the change **index**; readers
//! long-poll with [`Registry::watch`] ("answer when the index moves past the one I
//! have, or at the deadline") instead of polling. A heartbeat that changes nothing
//! only extends the lease: no write, no index bump, no audit entry.
//!
//! On open, instances are restored from the store with a fresh lease each, so restarting
//! the control plane never evicts a healthy fleet (Eureka's self-preservation idea).
//!
//! ```no_run
//! # async fn demo(plane: ordo_control::ControlPlane) -> Result<(), ordo_control::RegistryError> {
//! use std::time::Duration;
//! use tokio::time::Instant;
//! use ordo_control::{InstanceQuery, Registration, Status};
//!
//! let registry = plane.registry();
//! let reg = registry
//!     .register("sidecar", Registration::new("ratings-1", "ratings", "127.0.0.1:8081"))
//!     .await?;
//! registry.heartbeat("sidecar", "ratings-1", Some(Status::Up)).await?;
//! let listing = registry.instances(&InstanceQuery::service("ratings"));
//! // Wait up to 30 s for the next change to the ratings service.
//! let next = registry
//!     .watch(&InstanceQuery::service("ratings"), listing.index, Instant::now() + Duration::from_secs(30))
//!     .await;
//! # Ok(()) }
//! ```

mod changes;
mod error;
mod instance;
mod state;
mod sweeper;
mod validate;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub use error::RegistryError;
pub use instance::{
    Instance, InstanceQuery, Listing, Registered, Registration, ServiceSummary, Services, Status,
};
pub use validate::{
    MAX_LEASE, MAX_METADATA_KEY_LEN, MAX_METADATA_KEYS, MAX_METADATA_VALUE_LEN, MAX_NAME_LEN,
    MIN_LEASE,
};

use crate::audit::{AuditEntry, actions};
use crate::clock;
use crate::store::{RowChange, Store, StoreError, Write};
use state::{Entry, State};

/// The registry; cheap to clone (clones share one registry).
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

/// What the registry found when it opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opened {
    pub(crate) restored: usize,
    pub(crate) forgotten: usize,
    pub(crate) index: u64,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    default_lease: Duration,
    /// What readers see.
    state: Mutex<State>,
    /// Serialises changes, so the store and memory apply them in the same order. Held
    /// across the store write (it is tokio's mutex); the state lock never is.
    gate: tokio::sync::Mutex<()>,
    /// The registry index, for long-polls to wait on.
    changes: watch::Sender<u64>,
    /// Long-polls waiting now.
    waiting: AtomicUsize,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `index` visible to long-polls (after it is in the state).
    fn publish(&self, index: u64) {
        self.changes.send_replace(index);
    }
}

impl Registry {
    /// Restores the registry from `store` and starts the sweeper.
    pub(crate) async fn open(
        store: Store,
        default_lease: Duration,
        sweep_interval: Duration,
        forget_instances: bool,
    ) -> Result<(Registry, Opened), StoreError> {
        let loaded = store.load().await?;
        let index = loaded.index + 1;
        let (kept, forgotten) = if forget_instances {
            (Vec::new(), loaded.instances)
        } else {
            (loaded.instances, Vec::new())
        };
        let mut audit = Vec::new();
        if !forgotten.is_empty() {
            audit.push(
                AuditEntry::new(actions::REGISTRY_ACTOR, actions::INSTANCES_FORGOTTEN, "")
                    .with_detail(serde_json::json!({ "count": forgotten.len() })),
            );
        }
        audit.push(
            AuditEntry::new(actions::REGISTRY_ACTOR, actions::CONTROL_STARTED, "").with_detail(
                serde_json::json!({
                    "restored": kept.len(),
                    "forgotten": forgotten.len(),
                    "index": index,
                }),
            ),
        );
        let opened = Opened {
            restored: kept.len(),
            forgotten: forgotten.len(),
            index,
        };
        store
            .write(Write {
                index: Some(index),
                changes: forgotten
                    .into_iter()
                    .map(|r| RowChange::Delete(r.id))
                    .collect(),
                audit,
            })
            .await?;
        let now = Instant::now();
        let mut state = State {
            index,
            ..State::default()
        };
        for mut row in kept {
            // A row edited by hand may hold a lease out of bounds; keep it usable.
            row.lease_ms = row
                .lease_ms
                .clamp(clock::millis(MIN_LEASE), clock::millis(MAX_LEASE));
            state.service_index.insert(row.service.clone(), index);
            state.entries.insert(row.id.clone(), Entry::new(row, now));
        }
        let inner = Arc::new(Inner {
            store,
            default_lease,
            state: Mutex::new(state),
            gate: tokio::sync::Mutex::new(()),
            changes: watch::channel(index).0,
            waiting: AtomicUsize::new(0),
        });
        sweeper::spawn(Arc::downgrade(&inner), sweep_interval);
        Ok((Registry { inner }, opened))
    }

    /// Runs a change in a task of its own: the caller may stop waiting (a client hangs
    /// up), but a change that reached the store is always applied in memory too.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>> + Send + 'static,
    {
        tokio::spawn(f(Arc::clone(&self.inner)))
            .await
            .map_err(|e| RegistryError::Worker(e.to_string()))?
    }

    /// Registers an instance, or updates the registration with the same id (its
    /// override, if any, stays). The lease starts again either way.
    pub async fn register(
        &self,
        actor: &str,
        registration: Registration,
    ) -> Result<Registered, RegistryError> {
        let mut problems = registration.problems();
        problems.extend(actor_problems(actor));
        if !problems.is_empty() {
            return Err(RegistryError::Invalid(problems));
        }
        let actor = actor.to_owned();
        self.run(move |inner| inner.register(actor, registration))
            .await
    }

    /// Extends an instance's lease and, with `status`, records what it reports now.
    /// [`RegistryError::NotFound`] tells the instance to register again.
    pub async fn heartbeat(
        &self,
        actor: &str,
        id: &str,
        status: Option<Status>,
    ) -> Result<Instance, RegistryError> {
        check_actor(actor)?;
        {
            // The common case touches memory only: no write, no index bump.
            let mut state = self.inner.state();
            let now = Instant::now();
            match state.entries.get_mut(id) {
                Some(e) if e.evicting => return Err(RegistryError::NotFound(id.to_owned())),
                None => return Err(RegistryError::NotFound(id.to_owned())),
                Some(e) if status.is_none_or(|s| s == e.row.reported) => {
                    e.renew(now, clock::to_millis(clock::wall_now()));
                    return Ok(e.view(now));
                }
                Some(_) => {}
            }
        }
        let (actor, id) = (actor.to_owned(), id.to_owned());
        let status = status.expect("only a heartbeat with a new status gets here");
        self.run(move |inner| inner.report(actor, id, status)).await
    }

    /// Sets (`Some`) or clears (`None`) an operator's status override. While set, it is
    /// the instance's status whatever its heartbeats report.
    pub async fn set_override(
        &self,
        actor: &str,
        id: &str,
        status: Option<Status>,
    ) -> Result<Instance, RegistryError> {
        check_actor(actor)?;
        let (actor, id) = (actor.to_owned(), id.to_owned());
        self.run(move |inner| inner.set_override(actor, id, status))
            .await
    }

    /// Removes an instance; returns it as it was.
    pub async fn deregister(&self, actor: &str, id: &str) -> Result<Instance, RegistryError> {
        check_actor(actor)?;
        let (actor, id) = (actor.to_owned(), id.to_owned());
        self.run(move |inner| inner.deregister(actor, id)).await
    }

    /// One instance.
    pub fn get(&self, id: &str) -> Option<Instance> {
        let state = self.inner.state();
        state.entries.get(id).map(|e| e.view(Instant::now()))
    }

    /// The instances `query` selects, ordered by id, with the index they were read at
    /// (the service's index when the query names a service).
    pub fn instances(&self, query: &InstanceQuery) -> Listing {
        let state = self.inner.state();
        let now = Instant::now();
        let service = query.service.as_deref();
        Listing {
            index: state.scoped_index(service),
            instances: state
                .entries
                .values()
                .filter(|e| service.is_none_or(|s| e.row.service == s))
                .filter(|e| query.status.is_none_or(|s| e.effective() == s))
                .map(|e| e.view(now))
                .collect(),
        }
    }

    /// Every service with instances, counted by effective status.
    pub fn services(&self) -> Services {
        let state = self.inner.state();
        Services {
            index: state.index,
            services: state.summaries(),
        }
    }

    /// The registry's change index: it grows by one with each change a reader could
    /// see, and survives restarts.
    pub fn index(&self) -> u64 {
        self.inner.state().index
    }

    /// How many long-polls are waiting now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Waits until the registry's index differs from `after` or `deadline` passes, and
    /// returns the index then. An `after` that is *ahead* of the index (a client that
    /// talked to another control plane) returns at once, so the client resynchronises.
    pub async fn wait_for_change(&self, after: u64, deadline: Instant) -> u64 {
        self.wait_scoped(None, after, deadline).await
    }

    /// Long-poll for instances: waits until the index `query` reads at (its service's,
    /// or the registry's) differs from `after`, or `deadline` passes, then lists them.
    pub async fn watch(&self, query: &InstanceQuery, after: u64, deadline: Instant) -> Listing {
        self.wait_scoped(query.service.as_deref(), after, deadline)
            .await;
        self.instances(query)
    }

    /// Long-poll for the services summary, as [`Registry::wait_for_change`] then
    /// [`Registry::services`].
    pub async fn watch_services(&self, after: u64, deadline: Instant) -> Services {
        self.wait_scoped(None, after, deadline).await;
        self.services()
    }

    async fn wait_scoped(&self, service: Option<&str>, after: u64, deadline: Instant) -> u64 {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        // Subscribe before reading, so a change in between is not missed.
        let mut changes = self.inner.changes.subscribe();
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.inner.waiting);
        loop {
            let current = self.inner.state().scoped_index(service);
            if current != after {
                return current;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return current,
            }
        }
    }
}

fn actor_problems(actor: &str) -> Vec<crate::Problem> {
    AuditEntry::new(actor, "x", "")
        .problems()
        .into_iter()
        .filter(|p| p.field == "actor")
        .collect()
}

fn check_actor(actor: &str) -> Result<(), RegistryError> {
    let problems = actor_problems(actor);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid(problems))
    }
}

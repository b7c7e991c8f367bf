//! The platform's bookkeeping: which services it runs, in the order they
//! were started, and their instances by number. Everything here runs under
//! the platform's lock and never waits; the waiting (for instances to stop)
//! happens in the platform's calls, outside the lock.
//!
//! An instance leaves the books in one of two ways: a killed one at once
//! (its supervisor finishes on the side, in `killed`); a stopped or scaled
//! down one once its supervisor is done (`reap`), so `list` shows it
//! `Stopping` meanwhile and a call cancelled halfway leaves no stale entry.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use super::context::Context;
use super::instance::{self, Directive, InstanceHandle};
use super::ports::Ports;
use crate::{InstanceInfo, InstanceState, PlatformError, ServiceSpec};

/// A future that resolves when a supervisor has finished.
pub(super) type Finished = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every service and instance a platform keeps.
#[derive(Debug)]
pub(super) struct Fleet {
    ctx: Arc<Context>,
    log_dir: PathBuf,
    /// In the order they were started.
    services: Vec<Service>,
    ports: Ports,
    /// Killed instances whose supervisors are still finishing.
    killed: Vec<InstanceHandle>,
}

#[derive(Debug)]
struct Service {
    spec: Arc<ServiceSpec>,
    next_number: u64,
    instances: BTreeMap<u64, Entry>,
    stopping: bool,
}

#[derive(Debug)]
struct Entry {
    handle: InstanceHandle,
    /// Being stopped (scale down or service stop); not counted as desired.
    retiring: bool,
}

impl Service {
    fn active(&self) -> u32 {
        self.instances.values().filter(|e| !e.retiring).count() as u32
    }
}

/// What `Fleet::kill` did.
pub(super) struct Killed {
    /// The pid SIGKILLed, if a process ran.
    pub(super) pid: Option<u32>,
    /// Resolves when the killed instance's supervisor has finished.
    pub(super) finished: Finished,
    /// The replacement's id and address, unless the instance was already
    /// on its way out.
    pub(super) replacement: Option<(String, SocketAddr)>,
}

impl Fleet {
    pub(super) fn new(ctx: Arc<Context>, log_dir: PathBuf) -> Self {
        Fleet {
            ctx,
            log_dir,
            services: Vec::new(),
            ports: Ports::default(),
            killed: Vec::new(),
        }
    }

    /// Where a service's logs go.
    pub(super) fn log_dir_of(&self, service: &str) -> PathBuf {
        self.log_dir.join(service)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.spec.name == name)
    }

    /// Whether `name` runs, and if it is stopping, what to wait for before
    /// starting it again.
    pub(super) fn lookup(&self, name: &str) -> Lookup {
        match self.index(name).map(|i| &self.services[i]) {
            None => Lookup::Absent,
            Some(s) if s.stopping => {
                Lookup::Stopping(finished_all(s.instances.values().map(|e| &e.handle)))
            }
            Some(s) => Lookup::Running {
                replicas: s.active(),
            },
        }
    }

    /// Starts a new service, or replaces a running one's spec, and sets its
    /// count to `spec.replicas`. Returns the previous count (if it ran) and
    /// what to wait for (instances scaled down).
    pub(super) fn start(
        &mut self,
        spec: Arc<ServiceSpec>,
    ) -> Result<(Option<u32>, Vec<Finished>), PlatformError> {
        let replicas = spec.replicas;
        // The caller waited for a stopping service of this name to go.
        let (i, before) = match self.index(&spec.name) {
            Some(i) => {
                let before = self.services[i].active();
                self.services[i].spec = spec;
                (i, Some(before))
            }
            None => {
                self.services.push(Service {
                    spec,
                    next_number: 1,
                    instances: BTreeMap::new(),
                    stopping: false,
                });
                (self.services.len() - 1, None)
            }
        };
        let waits = self.resize(i, replicas)?;
        Ok((before, waits))
    }

    /// Sets a running service's count. Returns the previous count and what
    /// to wait for.
    pub(super) fn scale(
        &mut self,
        name: &str,
        replicas: u32,
    ) -> Result<(u32, Vec<Finished>), PlatformError> {
        let i = self
            .index(name)
            .filter(|i| !self.services[*i].stopping)
            .ok_or_else(|| PlatformError::not_found(format!("service `{name}`")))?;
        let before = self.services[i].active();
        Ok((before, self.resize(i, replicas)?))
    }

    /// Adds instances or retires the newest to reach `replicas`.
    fn resize(&mut self, i: usize, replicas: u32) -> Result<Vec<Finished>, PlatformError> {
        let active = self.services[i].active();
        for _ in active..replicas {
            self.add_instance(i)?;
        }
        let service = &mut self.services[i];
        let extra = active.saturating_sub(replicas) as usize;
        let mut waits = Vec::new();
        for entry in service
            .instances
            .values_mut()
            .rev()
            .filter(|e| !e.retiring)
            .take(extra)
        {
            entry.retiring = true;
            entry.handle.direct(Directive::Stop);
            waits.push(Box::pin(entry.handle.finished()) as Finished);
        }
        Ok(waits)
    }

    /// Starts a new instance of service `i` (next number, new port).
    fn add_instance(&mut self, i: usize) -> Result<(String, SocketAddr), PlatformError> {
        let port = self.ports.take()?;
        let service = &mut self.services[i];
        let number = service.next_number;
        service.next_number += 1;
        let id = format!("{}-{number}", service.spec.name);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let info = InstanceInfo {
            id: id.clone(),
            service: service.spec.name.clone(),
            address,
        };
        let log = self
            .log_dir
            .join(&service.spec.name)
            .join(format!("{id}.log"));
        let handle = instance::start(self.ctx.clone(), service.spec.clone(), info, log);
        service.instances.insert(
            number,
            Entry {
                handle,
                retiring: false,
            },
        );
        Ok((id, address))
    }

    /// Marks a service stopping and asks each instance to stop. Returns what
    /// to wait for and how many instances there were.
    pub(super) fn stop(&mut self, name: &str) -> Result<(usize, Vec<Finished>), PlatformError> {
        let i = self
            .index(name)
            .ok_or_else(|| PlatformError::not_found(format!("service `{name}`")))?;
        let service = &mut self.services[i];
        service.stopping = true;
        for entry in service.instances.values_mut() {
            entry.retiring = true;
            entry.handle.direct(Directive::Stop);
        }
        Ok((
            service.instances.len(),
            finished_all(service.instances.values().map(|e| &e.handle)),
        ))
    }

    /// SIGKILLs an instance's process group now and directs its supervisor
    /// to end; starts a replacement unless the instance was on its way out.
    pub(super) fn kill(&mut self, id: &str) -> Result<Killed, PlatformError> {
        let not_found = || PlatformError::not_found(format!("instance `{id}`"));
        let (i, number) = self
            .services
            .iter()
            .enumerate()
            .find_map(|(i, s)| {
                s.instances
                    .iter()
                    .find(|(_, e)| e.handle.id == id)
                    .map(|(n, _)| (i, *n))
            })
            .ok_or_else(not_found)?;
        let entry = &self.services[i].instances[&number];
        let pid = entry.handle.pid();
        if let Some(pid) = pid {
            super::group::signal_group(pid, Some(nix::sys::signal::Signal::SIGKILL));
        }
        entry.handle.direct(Directive::Kill);
        let finished: Finished = Box::pin(entry.handle.finished());
        if entry.retiring {
            return Ok(Killed {
                pid,
                finished,
                replacement: None,
            });
        }
        let entry = self.services[i]
            .instances
            .remove(&number)
            .expect("the entry was found above");
        self.killed.push(entry.handle);
        let replacement = Some(self.add_instance(i)?);
        Ok(Killed {
            pid,
            finished,
            replacement,
        })
    }

    /// Forgets instances and services whose supervisors have finished after
    /// being stopped, and killed instances that have finished.
    pub(super) fn reap(&mut self) {
        for service in &mut self.services {
            service
                .instances
                .retain(|_, e| !(e.retiring && e.handle.is_done()));
        }
        self.services
            .retain(|s| !(s.stopping && s.instances.is_empty()));
        self.killed.retain(|h| !h.is_done());
    }

    /// Every instance's state, by service name then instance number.
    pub(super) fn states(&self) -> Vec<InstanceState> {
        let mut services: Vec<&Service> = self.services.iter().collect();
        services.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        services
            .into_iter()
            .flat_map(|s| s.instances.values().map(|e| e.handle.state()))
            .collect()
    }

    /// Service names, in the order they were started.
    pub(super) fn names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.spec.name.clone()).collect()
    }

    /// What to wait for until every killed instance's supervisor finished.
    pub(super) fn killed_finished(&self) -> Vec<Finished> {
        finished_all(self.killed.iter())
    }

    /// Ends every supervisor at once (their process groups are SIGKILLed).
    pub(super) fn abort_all(&self) {
        for service in &self.services {
            for entry in service.instances.values() {
                entry.handle.abort();
            }
        }
        for handle in &self.killed {
            handle.abort();
        }
    }
}

/// Whether a service runs, as [`Fleet::lookup`] sees it.
pub(super) enum Lookup {
    Absent,
    Running { replicas: u32 },
    Stopping(Vec<Finished>),
}

fn finished_all<'a>(handles: impl Iterator<Item = &'a InstanceHandle>) -> Vec<Finished> {
    handles
        .map(|h| Box::pin(h.finished()) as Finished)
        .collect()
}

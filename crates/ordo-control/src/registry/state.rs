//! The registry's in-memory state: entries with their leases, and the change indexes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::{Instance, ServiceSummary, Status};
use crate::clock;
use crate::store::InstanceRow;

/// One instance: its stored row and its lease.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// What is stored (its `last_heartbeat_ms` is fresher here than in the store, which is
    /// written only on changes).
    pub(super) row: InstanceRow,
    /// When its lease lapses.
    pub(super) deadline: Instant,
    /// The sweeper is removing it: heartbeats answer "not found".
    pub(super) evicting: bool,
}

impl Entry {
    pub(super) fn new(row: InstanceRow, now: Instant) -> Self {
        let deadline = now + lease(&row);
        Entry {
            row,
            deadline,
            evicting: false,
        }
    }

    pub(super) fn effective(&self) -> Status {
        effective(&self.row)
    }

    /// Extends the lease from `now`, and notes the heartbeat's wall time.
    pub(super) fn renew(&mut self, now: Instant, wall_ms: i64) {
        self.deadline = now + lease(&self.row);
        self.row.last_heartbeat_ms = wall_ms;
    }

    pub(super) fn view(&self, now: Instant) -> Instance {
        let r = &self.row;
        Instance {
            id: r.id.clone(),
            service: r.service.clone(),
            address: r.address.clone(),
            status: self.effective(),
            reported_status: r.reported,
            override_status: r.override_status,
            metadata: r.metadata.clone(),
            lease_ms: r.lease_ms,
            registered_at: clock::rfc3339(clock::from_millis(r.registered_at_ms)),
            last_heartbeat: clock::rfc3339(clock::from_millis(r.last_heartbeat_ms)),
            expires_in_ms: clock::millis(self.deadline.saturating_duration_since(now)),
        }
    }
}

/// The status that counts for a row: its override, else what it reported.
pub(super) fn effective(row: &InstanceRow) -> Status {
    row.override_status.unwrap_or(row.reported)
}

fn lease(row: &InstanceRow) -> Duration {
    Duration::from_millis(row.lease_ms)
}

/// Everything readers see, under one lock so a listing and its index agree.
#[derive(Debug, Default)]
pub(super) struct State {
    /// The registry's change index.
    pub(super) index: u64,
    /// Each service's index: the registry index of the last change to one of its
    /// instances. Services never seen use the registry index.
    pub(super) service_index: HashMap<String, u64>,
    /// Instances by id.
    pub(super) entries: BTreeMap<String, Entry>,
}

impl State {
    /// Records a change at `index` touching `services`.
    pub(super) fn bump<'a>(&mut self, index: u64, services: impl IntoIterator<Item = &'a str>) {
        self.index = index;
        for s in services {
            self.service_index.insert(s.to_owned(), index);
        }
    }

    /// The index a reader of `service` (or of everything) compares against.
    pub(super) fn scoped_index(&self, service: Option<&str>) -> u64 {
        service
            .and_then(|s| self.service_index.get(s).copied())
            .unwrap_or(self.index)
    }

    pub(super) fn summaries(&self) -> Vec<ServiceSummary> {
        let mut by_name: BTreeMap<&str, ServiceSummary> = BTreeMap::new();
        for e in self.entries.values() {
            let s = by_name
                .entry(&e.row.service)
                .or_insert_with(|| ServiceSummary {
                    name: e.row.service.clone(),
                    ..ServiceSummary::default()
                });
            s.total += 1;
            match e.effective() {
                Status::Up => s.up += 1,
                Status::Down => s.down += 1,
                Status::Starting => s.starting += 1,
                Status::OutOfService => s.out_of_service += 1,
            }
        }
        by_name.into_values().collect()
    }
}

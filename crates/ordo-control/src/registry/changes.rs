//! The changes: each takes the gate, writes the store (rows, index and audit entries in
//! one transaction), then applies the same change in memory and publishes the index.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::state::{Entry, effective};
use super::{Inner, Instance, Registered, Registration, RegistryError, Status};
use crate::audit::{AuditEntry, actions};
use crate::clock;
use crate::store::{InstanceRow, RowChange, Write};

impl Inner {
    pub(super) async fn register(
        self: Arc<Self>,
        actor: String,
        reg: Registration,
    ) -> Result<Registered, RegistryError> {
        let _gate = self.gate.lock().await;
        let wall_ms = clock::to_millis(clock::wall_now());
        let lease = reg
            .lease_ms
            .unwrap_or_else(|| clock::millis(self.default_lease));
        let prior = self.state().entries.get(&reg.id).map(|e| e.row.clone());
        let row = InstanceRow {
            id: reg.id,
            service: reg.service,
            address: reg.address,
            reported: reg.status.unwrap_or(Status::Up),
            override_status: prior.as_ref().and_then(|p| p.override_status),
            metadata: reg.metadata,
            lease_ms: lease,
            registered_at_ms: prior.as_ref().map_or(wall_ms, |p| p.registered_at_ms),
            last_heartbeat_ms: wall_ms,
        };
        let mut audit = Vec::new();
        let entry = |action: &str| AuditEntry::new(actor.as_str(), action, row.id.as_str());
        match &prior {
            None => audit.push(entry(actions::REGISTERED).with_detail(json!({
                "service": row.service,
                "address": row.address,
                "status": row.reported,
                "lease_ms": row.lease_ms,
                "metadata": row.metadata,
            }))),
            Some(p) => {
                let changed = changed_fields(p, &row);
                if !changed.is_empty() {
                    audit.push(entry(actions::UPDATED).with_detail(json!({ "changed": changed })));
                }
                if let Some(e) = status_change(p, &row) {
                    audit.push(entry(actions::STATUS_CHANGED).with_detail(e));
                }
                if changed.is_empty() && p.reported == row.reported {
                    // Nothing a reader could see: this is a heartbeat.
                    let mut state = self.state();
                    let now = Instant::now();
                    let e = state
                        .entries
                        .get_mut(&row.id)
                        .expect("the gate is held, so the entry read above is still there");
                    e.renew(now, wall_ms);
                    return Ok(Registered {
                        instance: e.view(now),
                        created: false,
                    });
                }
            }
        }
        let index = self.state().index + 1;
        self.store
            .write(Write {
                index: Some(index),
                changes: vec![RowChange::Upsert(row.clone())],
                audit,
            })
            .await?;
        let instance = {
            let mut state = self.state();
            let now = Instant::now();
            let services = [
                prior.as_ref().map(|p| p.service.clone()),
                Some(row.service.clone()),
            ];
            let entry = Entry::new(row, now);
            let instance = entry.view(now);
            state.entries.insert(instance.id.clone(), entry);
            state.bump(index, services.iter().flatten().map(String::as_str));
            instance
        };
        self.publish(index);
        Ok(Registered {
            instance,
            created: prior.is_none(),
        })
    }

    /// A heartbeat that reports a new status.
    pub(super) async fn report(
        self: Arc<Self>,
        actor: String,
        id: String,
        status: Status,
    ) -> Result<Instance, RegistryError> {
        self.change(
            actor,
            id,
            |row| {
                row.reported = status;
                row.last_heartbeat_ms = clock::to_millis(clock::wall_now());
                Vec::new()
            },
            true,
        )
        .await
    }

    pub(super) async fn set_override(
        self: Arc<Self>,
        actor: String,
        id: String,
        status: Option<Status>,
    ) -> Result<Instance, RegistryError> {
        self.change(
            actor,
            id,
            |row| {
                let previous = row.override_status;
                row.override_status = status;
                match status {
                    Some(s) => vec![(
                        actions::OVERRIDE_SET,
                        json!({ "status": s, "previous": previous }),
                    )],
                    None => vec![(actions::OVERRIDE_CLEARED, json!({ "previous": previous }))],
                }
            },
            false,
        )
        .await
    }

    /// Applies `edit` to instance `id`'s row; a no-op edit returns the instance as it is.
    /// `renew` extends the lease too (a heartbeat).
    async fn change(
        self: Arc<Self>,
        actor: String,
        id: String,
        edit: impl FnOnce(&mut InstanceRow) -> Vec<(&'static str, Value)>,
        renew: bool,
    ) -> Result<Instance, RegistryError> {
        let _gate = self.gate.lock().await;
        let Some(prior) = self.state().entries.get(&id).map(|e| e.row.clone()) else {
            return Err(RegistryError::NotFound(id));
        };
        let mut row = prior.clone();
        let mut audit: Vec<AuditEntry> = Vec::new();
        for (action, detail) in edit(&mut row) {
            audit.push(AuditEntry::new(actor.as_str(), action, id.as_str()).with_detail(detail));
        }
        let visible =
            row.reported != prior.reported || row.override_status != prior.override_status;
        if !visible {
            let mut state = self.state();
            let now = Instant::now();
            let e = state
                .entries
                .get_mut(&id)
                .expect("the gate keeps the entry");
            if renew {
                e.renew(now, row.last_heartbeat_ms);
            }
            return Ok(e.view(now));
        }
        if let Some(detail) = status_change(&prior, &row) {
            audit.push(
                AuditEntry::new(actor.as_str(), actions::STATUS_CHANGED, id.as_str())
                    .with_detail(detail),
            );
        }
        let index = self.state().index + 1;
        self.store
            .write(Write {
                index: Some(index),
                changes: vec![RowChange::Upsert(row.clone())],
                audit,
            })
            .await?;
        let instance = {
            let mut state = self.state();
            let now = Instant::now();
            let e = state
                .entries
                .get_mut(&id)
                .expect("the gate keeps the entry");
            // Keep the lease as heartbeats left it while the write ran.
            let last_heartbeat_ms = e.row.last_heartbeat_ms.max(row.last_heartbeat_ms);
            e.row = row;
            e.row.last_heartbeat_ms = last_heartbeat_ms;
            if renew {
                e.renew(now, last_heartbeat_ms);
            }
            let instance = e.view(now);
            state.bump(index, [instance.service.as_str()]);
            instance
        };
        self.publish(index);
        Ok(instance)
    }

    pub(super) async fn deregister(
        self: Arc<Self>,
        actor: String,
        id: String,
    ) -> Result<Instance, RegistryError> {
        let _gate = self.gate.lock().await;
        let Some(prior) = self
            .state()
            .entries
            .get(&id)
            .map(|e| e.view(Instant::now()))
        else {
            return Err(RegistryError::NotFound(id));
        };
        let index = self.state().index + 1;
        self.store
            .write(Write {
                index: Some(index),
                changes: vec![RowChange::Delete(id.clone())],
                audit: vec![
                    AuditEntry::new(actor, actions::DEREGISTERED, id.as_str()).with_detail(json!({
                        "service": prior.service,
                        "address": prior.address,
                    })),
                ],
            })
            .await?;
        {
            let mut state = self.state();
            state.entries.remove(&id);
            state.bump(index, [prior.service.as_str()]);
        }
        self.publish(index);
        Ok(prior)
    }

    /// Evicts every instance whose lease has lapsed.
    pub(super) async fn sweep(self: Arc<Self>) -> Result<(), RegistryError> {
        let _gate = self.gate.lock().await;
        let now = Instant::now();
        let (lapsed, index) = {
            let mut state = self.state();
            let mut lapsed = Vec::new();
            for e in state.entries.values_mut() {
                if e.deadline <= now {
                    e.evicting = true;
                    lapsed.push(e.row.clone());
                }
            }
            (lapsed, state.index + 1)
        };
        if lapsed.is_empty() {
            return Ok(());
        }
        let write = Write {
            index: Some(index),
            changes: lapsed
                .iter()
                .map(|r| RowChange::Delete(r.id.clone()))
                .collect(),
            audit: lapsed
                .iter()
                .map(|r| {
                    AuditEntry::new(
                        actions::REGISTRY_ACTOR,
                        actions::LEASE_EXPIRED,
                        r.id.as_str(),
                    )
                    .with_detail(json!({
                        "service": r.service,
                        "address": r.address,
                        "lease_ms": r.lease_ms,
                        "last_heartbeat": clock::rfc3339(clock::from_millis(r.last_heartbeat_ms)),
                    }))
                })
                .collect(),
        };
        if let Err(e) = self.store.write(write).await {
            let mut state = self.state();
            for r in &lapsed {
                if let Some(e) = state.entries.get_mut(&r.id) {
                    e.evicting = false;
                }
            }
            return Err(e.into());
        }
        {
            let mut state = self.state();
            for r in &lapsed {
                state.entries.remove(&r.id);
            }
            state.bump(index, lapsed.iter().map(|r| r.service.as_str()));
        }
        for r in &lapsed {
            tracing::info!(instance = %r.id, service = %r.service, "lease expired; instance evicted");
        }
        self.publish(index);
        Ok(())
    }
}

/// The fields a re-registration changed, with their new values.
fn changed_fields(old: &InstanceRow, new: &InstanceRow) -> Map<String, Value> {
    let mut changed = Map::new();
    if old.service != new.service {
        changed.insert("service".into(), json!(new.service));
    }
    if old.address != new.address {
        changed.insert("address".into(), json!(new.address));
    }
    if old.metadata != new.metadata {
        changed.insert("metadata".into(), json!(new.metadata));
    }
    if old.lease_ms != new.lease_ms {
        changed.insert("lease_ms".into(), json!(new.lease_ms));
    }
    changed
}

/// The `status-changed` detail, when the effective status differs.
fn status_change(old: &InstanceRow, new: &InstanceRow) -> Option<Value> {
    let (from, to) = (effective(old), effective(new));
    (from != to).then(|| {
        json!({
            "from": from,
            "to": to,
            "reported": new.reported,
            "override": new.override_status,
        })
    })
}

//! Rows: instances in, instances out, audit records appended and queried.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Loaded, StoreError, Write, sql};
use crate::audit::{AuditEntry, AuditQuery, AuditRecord, Order};
use crate::clock;
use crate::registry::Status;

/// An instance as stored: what survives a restart. Leases are not stored, because a
/// restarted control plane gives every instance a fresh one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InstanceRow {
    pub(crate) id: String,
    pub(crate) service: String,
    pub(crate) address: String,
    pub(crate) reported: Status,
    pub(crate) override_status: Option<Status>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) lease_ms: u64,
    pub(crate) registered_at_ms: i64,
    pub(crate) last_heartbeat_ms: i64,
}

/// A change to the instances table.
#[derive(Debug)]
pub(crate) enum RowChange {
    /// Insert or replace the row with this id.
    Upsert(InstanceRow),
    /// Delete the row with this id.
    Delete(String),
}

pub(super) fn write(conn: &mut Connection, write: Write) -> Result<Vec<AuditRecord>, StoreError> {
    let tx = conn.transaction().map_err(sql("starting a write"))?;
    for change in &write.changes {
        match change {
            RowChange::Upsert(row) => upsert(&tx, row)?,
            RowChange::Delete(id) => {
                tx.execute("DELETE FROM instances WHERE id = ?1", [id])
                    .map_err(sql("deleting an instance"))?;
            }
        }
    }
    if let Some(index) = write.index {
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'index'",
            [i64::try_from(index).unwrap_or(i64::MAX)],
        )
        .map_err(sql("writing the change index"))?;
    }
    let records = append_audit(&tx, write.audit)?;
    tx.commit().map_err(sql("committing a write"))?;
    Ok(records)
}

/// Appends `entries` to the audit log inside `conn`'s open transaction; the records
/// exist once the caller commits.
pub(super) fn append_audit(
    conn: &Connection,
    entries: Vec<AuditEntry>,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut records = Vec::with_capacity(entries.len());
    if entries.is_empty() {
        return Ok(records);
    }
    let at_ms = clock::to_millis(clock::wall_now());
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO audit (at_ms, actor, action, target, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sql("appending to the audit log"))?;
    for entry in entries {
        let detail = serde_json::to_string(&entry.detail).map_err(|e| StoreError::Corrupt {
            what: "an audit entry's detail".into(),
            detail: e.to_string(),
        })?;
        insert
            .execute(params![
                at_ms,
                entry.actor,
                entry.action,
                entry.target,
                detail
            ])
            .map_err(sql("appending to the audit log"))?;
        records.push(AuditRecord {
            id: u64::try_from(conn.last_insert_rowid()).unwrap_or(0),
            at: clock::rfc3339(clock::from_millis(at_ms)),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            detail: entry.detail,
        });
    }
    Ok(records)
}

fn upsert(conn: &Connection, row: &InstanceRow) -> Result<(), StoreError> {
    let metadata = serde_json::to_string(&row.metadata).map_err(|e| StoreError::Corrupt {
        what: format!("instance {}'s metadata", row.id),
        detail: e.to_string(),
    })?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO instances (id, service, address, reported_status,
             override_status, metadata, lease_ms, registered_at_ms, last_heartbeat_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.id,
            row.service,
            row.address,
            row.reported.as_str(),
            row.override_status.map(Status::as_str),
            metadata,
            i64::try_from(row.lease_ms).unwrap_or(i64::MAX),
            row.registered_at_ms,
            row.last_heartbeat_ms,
        ])
    })
    .map_err(sql("writing an instance"))?;
    Ok(())
}

pub(super) fn load(conn: &mut Connection) -> Result<Loaded, StoreError> {
    let index: i64 = conn
        .query_row("SELECT value FROM meta WHERE key = 'index'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql("reading the change index"))?
        .unwrap_or(0);
    let mut stmt = conn
        .prepare(
            "SELECT id, service, address, reported_status, override_status, metadata,
                    lease_ms, registered_at_ms, last_heartbeat_ms
             FROM instances ORDER BY id",
        )
        .map_err(sql("reading instances"))?;
    let raw = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
            ))
        })
        .map_err(sql("reading instances"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql("reading instances"))?;
    let mut instances = Vec::with_capacity(raw.len());
    for (id, service, address, reported, override_status, metadata, lease_ms, reg, hb) in raw {
        let corrupt = |what: &str, detail: String| StoreError::Corrupt {
            what: format!("instance {id}'s {what}"),
            detail,
        };
        let reported = reported
            .parse()
            .map_err(|e: String| corrupt("reported_status", e))?;
        let override_status = override_status
            .map(|s| s.parse())
            .transpose()
            .map_err(|e: String| corrupt("override_status", e))?;
        let metadata =
            serde_json::from_str(&metadata).map_err(|e| corrupt("metadata", e.to_string()))?;
        instances.push(InstanceRow {
            id,
            service,
            address,
            reported,
            override_status,
            metadata,
            lease_ms: u64::try_from(lease_ms).unwrap_or(0),
            registered_at_ms: reg,
            last_heartbeat_ms: hb,
        });
    }
    Ok(Loaded {
        index: u64::try_from(index).unwrap_or(0),
        instances,
    })
}

pub(super) fn query_audit(
    conn: &mut Connection,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut text = String::from("SELECT id, at_ms, actor, action, target, detail FROM audit");
    let mut conditions = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |condition: &str, value: Value| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("?{}", values.len())));
    };
    if let Some(after) = q.after {
        bind(
            "id > ?",
            Value::Integer(i64::try_from(after).unwrap_or(i64::MAX)),
        );
    }
    if let Some(before) = q.before {
        bind(
            "id < ?",
            Value::Integer(i64::try_from(before).unwrap_or(i64::MAX)),
        );
    }
    for (column, filter) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("target", &q.target),
    ] {
        if let Some(v) = filter {
            bind(&format!("{column} = ?"), Value::Text(v.clone()));
        }
    }
    if !conditions.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conditions.join(" AND "));
    }
    text.push_str(match q.order {
        Order::Asc => " ORDER BY id ASC",
        Order::Desc => " ORDER BY id DESC",
    });
    text.push_str(&format!(" LIMIT {}", q.limit_or_default()));
    let mut stmt = conn.prepare(&text).map_err(sql("querying the audit log"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values), audit_row)
        .map_err(sql("querying the audit log"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql("querying the audit log"))?;
    rows.into_iter()
        .map(|(id, at_ms, actor, action, target, detail)| {
            let detail = serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt {
                what: format!("audit record {id}'s detail"),
                detail: e.to_string(),
            })?;
            Ok(AuditRecord {
                id: u64::try_from(id).unwrap_or(0),
                at: clock::rfc3339(clock::from_millis(at_ms)),
                actor,
                action,
                target,
                detail,
            })
        })
        .collect()
}

type RawAudit = (i64, i64, String, String, String, String);

fn audit_row(r: &Row<'_>) -> rusqlite::Result<RawAudit> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

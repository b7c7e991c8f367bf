//! Chaos Monkey's tables: a row per group and slot, and the switches.
//!
//! A slot's row is written when the group is drawn (or not) for that slot,
//! so a restart never draws a group twice in one slot. A kill moves the row
//! `planned → intent` in the same transaction as the `kill-intent` audit
//! record, and only a row still `planned` can move: that is what makes a
//! second kill for one slot impossible, whatever crashes in between.

use std::collections::HashMap;

use rusqlite::{Connection, Row, params};

use super::rows::append_audit;
use super::{Store, StoreError, sql};
use crate::audit::{AuditEntry, AuditRecord};
use crate::clock;

/// What became of a group's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SlotState {
    /// Not drawn this slot: no kill.
    NotDrawn,
    /// Drawn: a kill is due at `at_ms`.
    Planned,
    /// The intent is recorded; the kill is under way (or the process died here).
    Intent,
    /// Killed.
    Killed,
    /// Leashed: the kill was decided and recorded, not done.
    Leashed,
    /// A guardrail refused the kill (`reason`).
    Skipped,
    /// The platform failed to kill (`reason`).
    Failed,
    /// An intent found open after a restart, settled without killing again.
    Resolved,
}

impl SlotState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SlotState::NotDrawn => "not-drawn",
            SlotState::Planned => "planned",
            SlotState::Intent => "intent",
            SlotState::Killed => "killed",
            SlotState::Leashed => "leashed",
            SlotState::Skipped => "skipped",
            SlotState::Failed => "failed",
            SlotState::Resolved => "resolved",
        }
    }

    fn parse(s: &str) -> Option<SlotState> {
        Some(match s {
            "not-drawn" => SlotState::NotDrawn,
            "planned" => SlotState::Planned,
            "intent" => SlotState::Intent,
            "killed" => SlotState::Killed,
            "leashed" => SlotState::Leashed,
            "skipped" => SlotState::Skipped,
            "failed" => SlotState::Failed,
            "resolved" => SlotState::Resolved,
            _ => return None,
        })
    }
}

/// A group's row for one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotRow {
    /// The calendar its slot number belongs to (`days`, `slots:<ms>`).
    pub(crate) calendar: String,
    pub(crate) group: String,
    pub(crate) slot: i64,
    pub(crate) service: String,
    /// When the kill is due (planned rows), in Unix milliseconds.
    pub(crate) at_ms: Option<i64>,
    pub(crate) state: SlotState,
    pub(crate) target: Option<String>,
    /// The `kill-intent` audit record.
    pub(crate) intent_id: Option<u64>,
    pub(crate) reason: Option<String>,
}

/// A switch's last setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SwitchRow {
    pub(crate) on: bool,
    pub(crate) actor: String,
    pub(crate) at_ms: i64,
}

/// The calendar of kill-now rows: their slot number is the intent's audit
/// record id.
pub(crate) const KILL_NOW: &str = "kill-now";

const COLUMNS: &str = "calendar, grp, slot, service, at_ms, state, target, intent_id, reason";

fn slot_row(r: &Row<'_>) -> rusqlite::Result<SlotRow> {
    let state: String = r.get(5)?;
    Ok(SlotRow {
        calendar: r.get(0)?,
        group: r.get(1)?,
        slot: r.get(2)?,
        service: r.get(3)?,
        at_ms: r.get(4)?,
        state: SlotState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                format!("`{state}` is not a chaos slot state").into(),
            )
        })?,
        target: r.get(6)?,
        intent_id: r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64),
        reason: r.get(8)?,
    })
}

fn rows(
    conn: &Connection,
    query: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<SlotRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(query)
        .map_err(sql("reading chaos slots"))?;
    let rows = stmt
        .query_map(params, slot_row)
        .map_err(sql("reading chaos slots"))?;
    rows.collect::<Result<_, _>>()
        .map_err(sql("reading chaos slots"))
}

impl Store {
    /// Every row of `slot` of `calendar`.
    pub(crate) async fn chaos_slot(
        &self,
        calendar: String,
        slot: i64,
    ) -> Result<Vec<SlotRow>, StoreError> {
        self.call(move |conn| {
            rows(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM chaos_slots WHERE calendar = ?1 AND slot = ?2 ORDER BY grp"
                ),
                params![calendar, slot],
            )
        })
        .await
    }

    /// Rows in `state`, oldest slot first.
    pub(crate) async fn chaos_in_state(
        &self,
        state: SlotState,
    ) -> Result<Vec<SlotRow>, StoreError> {
        self.call(move |conn| {
            rows(
                conn,
                &format!("SELECT {COLUMNS} FROM chaos_slots WHERE state = ?1 ORDER BY slot, grp"),
                [state.as_str()],
            )
        })
        .await
    }

    /// The `limit` rows written last that are not `not-drawn`, newest
    /// first (by when they were written: slot numbers of different
    /// calendars do not compare).
    pub(crate) async fn chaos_recent(&self, limit: u32) -> Result<Vec<SlotRow>, StoreError> {
        self.call(move |conn| {
            rows(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM chaos_slots WHERE state <> 'not-drawn'
                     ORDER BY rowid DESC LIMIT ?1"
                ),
                [limit],
            )
        })
        .await
    }

    /// Each group's newest slot of `calendar` that counts as a kill.
    pub(crate) async fn chaos_last_kills(
        &self,
        calendar: String,
    ) -> Result<HashMap<String, i64>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT grp, max(slot) FROM chaos_slots WHERE calendar = ?1
                     AND state IN ('intent', 'killed', 'leashed', 'resolved') GROUP BY grp",
                )
                .map_err(sql("reading chaos kills"))?;
            let rows = stmt
                .query_map([calendar], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(sql("reading chaos kills"))?;
            rows.collect::<Result<_, _>>()
                .map_err(sql("reading chaos kills"))
        })
        .await
    }

    /// Writes a slot's draws and their audit entries in one transaction. Rows
    /// that exist already are left alone (a draw is never redone).
    pub(crate) async fn chaos_draw(
        &self,
        draws: Vec<SlotRow>,
        audit: Vec<AuditEntry>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction().map_err(sql("recording chaos draws"))?;
            {
                let mut insert = tx
                    .prepare_cached(&format!(
                        "INSERT OR IGNORE INTO chaos_slots ({COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    ))
                    .map_err(sql("recording chaos draws"))?;
                for d in &draws {
                    insert
                        .execute(params![
                            d.calendar,
                            d.group,
                            d.slot,
                            d.service,
                            d.at_ms,
                            d.state.as_str(),
                            d.target,
                            d.intent_id.map(|v| v as i64),
                            d.reason
                        ])
                        .map_err(sql("recording chaos draws"))?;
                }
            }
            let records = append_audit(&tx, audit)?;
            tx.commit().map_err(sql("recording chaos draws"))?;
            Ok(records)
        })
        .await
    }

    /// Moves `group`'s row of `slot` of `calendar` from `from` to `to`
    /// (setting `target` and `reason` when given) and appends `entry`, in
    /// one transaction. Returns `None`, writing nothing, when the row is not
    /// in `from`. A move to [`SlotState::Intent`] records the entry's id as
    /// the intent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn chaos_move(
        &self,
        calendar: String,
        group: String,
        slot: i64,
        from: SlotState,
        to: SlotState,
        target: Option<String>,
        reason: Option<String>,
        entry: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        self.call(move |conn| {
            let tx = conn
                .transaction()
                .map_err(sql("recording a chaos decision"))?;
            // An intent is refused, in the same transaction, while a switch
            // is on: a pause or halt committed after the guardrails were
            // checked still stops the kill.
            let unless_switched = if to == SlotState::Intent {
                " AND NOT EXISTS (SELECT 1 FROM chaos_switches WHERE on_ = 1)"
            } else {
                ""
            };
            let changed = tx
                .execute(
                    &format!(
                        "UPDATE chaos_slots
                         SET state = ?1, target = coalesce(?2, target), reason = coalesce(?3, reason)
                         WHERE grp = ?4 AND slot = ?5 AND state = ?6 AND calendar = ?7{unless_switched}"
                    ),
                    params![to.as_str(), target, reason, group, slot, from.as_str(), calendar],
                )
                .map_err(sql("recording a chaos decision"))?;
            if changed == 0 {
                return Ok(None);
            }
            let record = append_audit(&tx, vec![entry])?
                .pop()
                .expect("one entry appended gives one record");
            if to == SlotState::Intent {
                tx.execute(
                    "UPDATE chaos_slots SET intent_id = ?1
                     WHERE grp = ?2 AND slot = ?3 AND calendar = ?4",
                    params![record.id as i64, group, slot, calendar],
                )
                .map_err(sql("recording a chaos decision"))?;
            }
            tx.commit().map_err(sql("recording a chaos decision"))?;
            Ok(Some(record))
        })
        .await
    }

    /// Appends a kill-now's intent unless a switch is on, with a row of
    /// the calendar [`KILL_NOW`] (its slot is the intent's record id) in
    /// state `intent`, in one transaction; `None` (nothing written) when
    /// paused or halted. The row lets a restart settle an intent whose
    /// kill was interrupted, as for scheduled kills.
    pub(crate) async fn chaos_intent_now(
        &self,
        group: String,
        service: String,
        entry: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction().map_err(sql("recording a kill intent"))?;
            let switched: i64 = tx
                .query_row(
                    "SELECT count(*) FROM chaos_switches WHERE on_ = 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql("recording a kill intent"))?;
            if switched > 0 {
                return Ok(None);
            }
            let target = entry.target.clone();
            let record = append_audit(&tx, vec![entry])?
                .pop()
                .expect("one entry appended gives one record");
            tx.execute(
                &format!(
                    "INSERT INTO chaos_slots ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, NULL, 'intent', ?5, ?3, NULL)"
                ),
                params![KILL_NOW, group, record.id as i64, service, target],
            )
            .map_err(sql("recording a kill intent"))?;
            tx.commit().map_err(sql("recording a kill intent"))?;
            Ok(Some(record))
        })
        .await
    }

    /// Every switch's last setting.
    pub(crate) async fn chaos_switches(&self) -> Result<HashMap<String, SwitchRow>, StoreError> {
        self.call(|conn| read_switches(conn)).await
    }

    /// Sets switches and appends `entry`, in one transaction.
    pub(crate) async fn chaos_set_switches(
        &self,
        switches: Vec<(&'static str, bool)>,
        actor: String,
        entry: AuditEntry,
    ) -> Result<(AuditRecord, HashMap<String, SwitchRow>), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction().map_err(sql("setting a chaos switch"))?;
            let at_ms = clock::to_millis(clock::wall_now());
            for (name, on) in switches {
                tx.execute(
                    "INSERT OR REPLACE INTO chaos_switches (name, on_, actor, at_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![name, i64::from(on), actor, at_ms],
                )
                .map_err(sql("setting a chaos switch"))?;
            }
            let record = append_audit(&tx, vec![entry])?
                .pop()
                .expect("one entry appended gives one record");
            let switches = read_switches(&tx)?;
            tx.commit().map_err(sql("setting a chaos switch"))?;
            Ok((record, switches))
        })
        .await
    }
}

fn read_switches(conn: &Connection) -> Result<HashMap<String, SwitchRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT name, on_, actor, at_ms FROM chaos_switches")
        .map_err(sql("reading chaos switches"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                SwitchRow {
                    on: r.get::<_, i64>(1)? != 0,
                    actor: r.get(2)?,
                    at_ms: r.get(3)?,
                },
            ))
        })
        .map_err(sql("reading chaos switches"))?;
    rows.collect::<Result<_, _>>()
        .map_err(sql("reading chaos switches"))
}

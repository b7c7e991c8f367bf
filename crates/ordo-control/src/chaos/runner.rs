//! The runner: one task that owns the schedule and its random source,
//! draws each slot, and carries out (or refuses) each kill when it is due.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use ordo_chaos::{ChaosSchedule, Facts, Group, Member, Skip, Slot, SlotId};
use ordo_platform::Phase;
use tokio::sync::{mpsc, oneshot, watch};

use super::monkey::{Shared, Switches};
use super::view::KillNow;
use super::{ACTOR, ChaosError, actions};
use crate::AuditEntry;
use crate::store::{KILL_NOW, SlotRow, SlotState};

/// What the handle asks of the runner.
#[derive(Debug)]
pub(super) enum Command {
    KillNow {
        actor: String,
        service: String,
        reply: oneshot::Sender<Result<KillNow, ChaosError>>,
    },
}

pub(super) struct Runner {
    shared: Arc<Shared>,
    schedule: ChaosSchedule,
    inbox: mpsc::Receiver<Command>,
    switched: watch::Receiver<Switches>,
    /// The slot whose rows are in `rows`.
    slot: Option<SlotId>,
    /// This slot's row of each group.
    rows: BTreeMap<String, SlotRow>,
    /// Each group's newest slot that counts as a kill.
    last_kills: HashMap<String, i64>,
    /// What the slot numbers count: `days`, or `slots:<ms>`.
    calendar: String,
}

/// The identity of a calendar's slot numbers: work days are days since
/// the epoch in the window's time zone, slots are multiples of their
/// length since the epoch; numbers of different calendars never compare.
pub(super) fn calendar_id(calendar: &ordo_chaos::Calendar) -> String {
    match calendar.slot_length() {
        Some(len) => format!("slots:{}ms", len.as_millis()),
        None => "days".to_owned(),
    }
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("slot", &self.slot)
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

/// `base` with the fields of `extra` added: an audit record's detail.
fn merged(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(extra)) = (base.as_object_mut(), extra) {
        b.extend(extra);
    }
    base
}

fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Runner {
    pub(super) async fn new(
        shared: Arc<Shared>,
        inbox: mpsc::Receiver<Command>,
        switched: watch::Receiver<Switches>,
    ) -> Result<Runner, ChaosError> {
        let seed = shared
            .options
            .seed
            .unwrap_or_else(|| shared.options.clock.now().as_nanosecond() as u64);
        let calendar = calendar_id(shared.options.settings.calendar());
        let last_kills = shared
            .plane
            .store()
            .chaos_last_kills(calendar.clone())
            .await?;
        Ok(Runner {
            schedule: ChaosSchedule::new(shared.options.settings.clone(), seed),
            shared,
            inbox,
            switched,
            slot: None,
            rows: BTreeMap::new(),
            last_kills,
            calendar,
        })
    }

    /// Settles every intent a previous run left open: the row becomes
    /// `resolved`, the log says whether the target still runs, and the
    /// kill is not tried again.
    pub(super) async fn resolve_open_intents(&mut self) -> Result<(), ChaosError> {
        self.skip_missed().await?;
        let store = self.shared.plane.store();
        let open = store.chaos_in_state(SlotState::Intent).await?;
        if open.is_empty() {
            return Ok(());
        }
        let running: Vec<String> = match self.shared.platform.list().await {
            Ok(list) => list.into_iter().map(|i| i.id).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the platform cannot list its instances");
                Vec::new()
            }
        };
        for row in open {
            let target = row.target.clone().unwrap_or_default();
            let still = running.contains(&target);
            let reason = if still {
                "interrupted before the kill; the instance still runs and is left alone"
            } else {
                "interrupted around the kill; the instance is gone"
            };
            let entry = AuditEntry::new(ACTOR, actions::KILL_RESOLVED, target.clone()).with_detail(
                serde_json::json!({
                    "group": row.group, "slot": row.slot, "intent": row.intent_id,
                    "running": still, "message": reason,
                }),
            );
            store
                .chaos_move(
                    row.calendar.clone(),
                    row.group.clone(),
                    row.slot,
                    SlotState::Intent,
                    SlotState::Resolved,
                    None,
                    Some(reason.to_owned()),
                    entry,
                )
                .await?;
            tracing::warn!(
                group = row.group,
                slot = row.slot,
                target,
                still_running = still,
                "an open kill intent was resolved without killing again"
            );
        }
        Ok(())
    }

    /// Settles kills that were due while no controller ran: their slot
    /// has closed, so they are skipped as `missed` (a kill is never carried
    /// into another slot).
    async fn skip_missed(&self) -> Result<(), ChaosError> {
        let now = self.shared.options.clock.now();
        let calendar = self.shared.options.settings.calendar();
        let store = self.shared.plane.store();
        for row in store.chaos_in_state(SlotState::Planned).await? {
            let open = row.calendar == self.calendar
                && calendar
                    .slot(&SlotId(row.slot))
                    .is_some_and(|s| now < s.closes);
            if open {
                continue;
            }
            let message = "missed: no controller ran while it was due";
            let entry = AuditEntry::new(ACTOR, actions::KILL_SKIPPED, row.group.clone())
                .with_detail(serde_json::json!({
                    "group": row.group, "service": row.service, "slot": row.slot,
                    "reason": "missed", "message": message,
                }));
            store
                .chaos_move(
                    row.calendar.clone(),
                    row.group.clone(),
                    row.slot,
                    SlotState::Planned,
                    SlotState::Skipped,
                    None,
                    Some("missed".to_owned()),
                    entry,
                )
                .await?;
        }
        Ok(())
    }

    pub(super) async fn run(mut self) {
        loop {
            let clock = self.shared.options.clock.clone();
            let wake = self.step(clock.now()).await;
            let nap = clock.until(wake).min(self.shared.options.tick);
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                command = self.inbox.recv() => match command {
                    Some(Command::KillNow { actor, service, reply }) => {
                        let _ = reply.send(self.kill_now(&actor, &service).await);
                    }
                    None => return,
                },
                changed = self.switched.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Draws new groups, carries out what is due; returns when to look again.
    async fn step(&mut self, now: Timestamp) -> Timestamp {
        let settings = &self.shared.options.settings;
        let retry = now
            .checked_add(jiff::SignedDuration::from_secs(60))
            .unwrap_or(Timestamp::MAX);
        if !settings.enabled() {
            return retry;
        }
        let calendar = settings.calendar();
        let Some(slot) = calendar.slot_at(now) else {
            return calendar.next_slot(now).map_or(retry, |s| s.opens);
        };
        if self.slot.as_ref() != Some(&slot.id) {
            // Kills of the slot that closed and were not carried out (a
            // stalled step) are settled now, not at the next restart.
            if self.slot.is_some()
                && let Err(e) = self.skip_missed().await
            {
                tracing::error!(error = %e, "cannot settle the kills of the last slot");
            }
            match self
                .shared
                .plane
                .store()
                .chaos_slot(self.calendar.clone(), slot.id.0)
                .await
            {
                Ok(rows) => {
                    self.rows = rows.into_iter().map(|r| (r.group.clone(), r)).collect();
                    self.slot = Some(slot.id.clone());
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the chaos schedule; no kill until it can");
                    return now
                        .checked_add(jiff::SignedDuration::from_secs(1))
                        .unwrap_or(Timestamp::MAX);
                }
            }
        }
        let groups = ordo_chaos::groups(settings, self.shared.members().await);
        self.draw(&slot, &groups, now).await;
        let mut due: Vec<(i64, String)> = self
            .rows
            .values()
            .filter(|r| r.state == SlotState::Planned)
            .filter_map(|r| r.at_ms.map(|at| (at, r.group.clone())))
            .filter(|(at, _)| *at <= millis(now))
            .collect();
        due.sort();
        for (_, group) in due {
            let now = self.shared.options.clock.now();
            self.execute(&slot, &group, &groups, now).await;
        }
        self.rows
            .values()
            .filter(|r| r.state == SlotState::Planned)
            .filter_map(|r| r.at_ms)
            .map(timestamp)
            .filter(|at| *at > now)
            .min()
            .map_or(slot.closes, |at| at.min(slot.closes))
    }

    /// Draws every eligible group that has no row in this slot yet, over
    /// what is left of the slot.
    async fn draw(&mut self, slot: &Slot, groups: &[Group], now: Timestamp) {
        let fresh: Vec<&Group> = groups
            .iter()
            .filter(|g| g.eligibility.is_ok() && !self.rows.contains_key(&g.key.0))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let rest = Slot {
            id: slot.id.clone(),
            opens: slot.opens.max(now),
            closes: slot.closes,
        };
        let plans = self.schedule.plan(&rest, &fresh);
        let mut rows = Vec::with_capacity(fresh.len());
        let mut audit = Vec::new();
        for g in &fresh {
            let plan = plans.iter().find(|p| p.group == g.key);
            rows.push(SlotRow {
                calendar: self.calendar.clone(),
                group: g.key.0.clone(),
                slot: slot.id.0,
                service: g.service.clone(),
                at_ms: plan.map(|p| millis(p.at)),
                state: if plan.is_some() {
                    SlotState::Planned
                } else {
                    SlotState::NotDrawn
                },
                target: None,
                intent_id: None,
                reason: None,
            });
            if let Some(p) = plan {
                audit.push(
                    AuditEntry::new(ACTOR, actions::KILL_SCHEDULED, g.key.0.clone()).with_detail(
                        serde_json::json!({
                            "service": g.service, "slot": slot.id.0, "at": p.at.to_string(),
                            "leashed": self.shared.options.settings.leashed(),
                        }),
                    ),
                );
            }
        }
        match self
            .shared
            .plane
            .store()
            .chaos_draw(rows.clone(), audit)
            .await
        {
            Ok(_) => {
                for r in rows {
                    self.rows.entry(r.group.clone()).or_insert(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record this slot's draws; drawing again later")
            }
        }
    }

    /// Whether the platform is changing `service`: an instance starting,
    /// stopping or waiting to restart.
    async fn deploying(&self, service: &str) -> bool {
        match self.shared.platform.list().await {
            Ok(list) => list.iter().any(|i| {
                i.service == service
                    && matches!(
                        i.phase,
                        Phase::Starting | Phase::Stopping | Phase::Backoff { .. }
                    )
            }),
            Err(e) => {
                tracing::warn!(error = %e, "the platform cannot list its instances; assuming a change is under way");
                true
            }
        }
    }

    async fn facts(&self, service: &str, last_kill: Option<i64>) -> Facts {
        let switches = self.shared.switches.borrow().clone();
        Facts {
            paused: switches.paused(),
            halted: switches.halted(),
            error_rate: self.shared.options.error_rates.error_rate(service),
            deploying: self.deploying(service).await,
            last_kill: last_kill.map(SlotId),
        }
    }

    /// The due kill of `group` in `slot`: checked, recorded, done.
    async fn execute(&mut self, slot: &Slot, group: &str, groups: &[Group], now: Timestamp) {
        let Some(row) = self.rows.get(group).cloned() else {
            return;
        };
        // Slot numbers of another calendar (a demo's seconds-scale slots on
        // the same store) are not comparable: a last kill numbered above
        // this slot is ignored.
        let last = self
            .last_kills
            .get(group)
            .copied()
            .filter(|s| *s <= slot.id.0);
        let facts = self.facts(&row.service, last).await;
        let found = groups.iter().find(|g| g.key.0 == group);
        let victim: Option<Member> = found.and_then(|g| self.schedule.pick(g)).cloned();
        let settings = &self.shared.options.settings;
        let verdict = match found {
            Some(g) => ordo_chaos::check(settings, now, slot, g, victim.as_ref(), &facts),
            None => Err(Skip::NoMember),
        };
        let store = self.shared.plane.store();
        let detail = |extra| {
            merged(
                serde_json::json!({ "group": group, "service": row.service, "slot": slot.id.0 }),
                extra,
            )
        };
        let victim = match (verdict, victim) {
            (Err(skip), _) => {
                let entry =
                    AuditEntry::new(ACTOR, actions::KILL_SKIPPED, group).with_detail(detail(
                        serde_json::json!({ "reason": skip.code(), "message": skip.to_string() }),
                    ));
                self.settle(
                    group,
                    slot,
                    SlotState::Planned,
                    SlotState::Skipped,
                    None,
                    Some(skip.code().to_owned()),
                    entry,
                )
                .await;
                return;
            }
            (Ok(()), None) => return,
            (Ok(()), Some(v)) => v,
        };
        if settings.leashed() {
            let entry = AuditEntry::new(ACTOR, actions::KILL_LEASHED, victim.id.clone())
                .with_detail(detail(
                    serde_json::json!({ "message": "leashed: recorded, not killed" }),
                ));
            if self
                .settle(
                    group,
                    slot,
                    SlotState::Planned,
                    SlotState::Leashed,
                    Some(victim.id.clone()),
                    None,
                    entry,
                )
                .await
            {
                self.last_kills.insert(group.to_owned(), slot.id.0);
            }
            return;
        }
        let healthy = found.map_or(0, |g| g.members.iter().filter(|m| m.healthy).count());
        let entry = AuditEntry::new(ACTOR, actions::KILL_INTENT, victim.id.clone())
            .with_detail(detail(serde_json::json!({ "healthy": healthy })));
        let intent = match store
            .chaos_move(
                self.calendar.clone(),
                group.to_owned(),
                slot.id.0,
                SlotState::Planned,
                SlotState::Intent,
                Some(victim.id.clone()),
                None,
                entry,
            )
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => {
                self.reload(group, slot).await;
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, group, target = victim.id, "the kill intent could not be recorded; nothing is killed");
                return;
            }
        };
        self.last_kills.insert(group.to_owned(), slot.id.0);
        self.mark(group, SlotState::Intent, Some(victim.id.clone()), None);
        let (to, action, extra) = match self.shared.platform.kill(&victim.id).await {
            Ok(()) => {
                tracing::warn!(group, target = victim.id, "Chaos Monkey killed an instance");
                (
                    SlotState::Killed,
                    actions::KILLED,
                    serde_json::json!({ "intent": intent.id }),
                )
            }
            Err(e) => {
                tracing::error!(error = %e, group, target = victim.id, "Chaos Monkey could not kill");
                (
                    SlotState::Failed,
                    actions::KILL_FAILED,
                    serde_json::json!({ "intent": intent.id, "error": e.to_string() }),
                )
            }
        };
        let reason = extra
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_owned);
        let entry = AuditEntry::new(ACTOR, action, victim.id.clone()).with_detail(detail(extra));
        self.settle(group, slot, SlotState::Intent, to, None, reason, entry)
            .await;
    }

    /// Moves a row and records it; whether it moved.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &mut self,
        group: &str,
        slot: &Slot,
        from: SlotState,
        to: SlotState,
        target: Option<String>,
        reason: Option<String>,
        entry: AuditEntry,
    ) -> bool {
        let moved = self
            .shared
            .plane
            .store()
            .chaos_move(
                self.calendar.clone(),
                group.to_owned(),
                slot.id.0,
                from,
                to,
                target.clone(),
                reason.clone(),
                entry,
            )
            .await;
        match moved {
            Ok(Some(_)) => {
                self.mark(group, to, target, reason);
                true
            }
            Ok(None) => {
                self.reload(group, slot).await;
                false
            }
            Err(e) => {
                tracing::error!(error = %e, group, to = to.as_str(), "cannot record a chaos decision");
                false
            }
        }
    }

    fn mark(
        &mut self,
        group: &str,
        state: SlotState,
        target: Option<String>,
        reason: Option<String>,
    ) {
        if let Some(r) = self.rows.get_mut(group) {
            r.state = state;
            if target.is_some() {
                r.target = target;
            }
            if reason.is_some() {
                r.reason = reason;
            }
        }
    }

    /// Reads a row that moved under us (another writer) back from the store.
    async fn reload(&mut self, group: &str, slot: &Slot) {
        if let Ok(rows) = self
            .shared
            .plane
            .store()
            .chaos_slot(self.calendar.clone(), slot.id.0)
            .await
            && let Some(r) = rows.into_iter().find(|r| r.group == group)
        {
            self.rows.insert(group.to_owned(), r);
        }
    }

    async fn kill_now(&mut self, actor: &str, service: &str) -> Result<KillNow, ChaosError> {
        let settings = self.shared.options.settings.clone();
        let groups = ordo_chaos::groups(&settings, self.shared.members().await);
        let mine: Vec<&Group> = groups.iter().filter(|g| g.service == service).collect();
        if mine.is_empty() {
            return Err(ChaosError::Unknown(format!(
                "no instance of `{service}` is in the registry"
            )));
        }
        let outcome = |outcome: &str,
                       group: Option<&Group>,
                       target: Option<&str>,
                       reason: Option<&str>,
                       message: String| KillNow {
            outcome: outcome.to_owned(),
            service: service.to_owned(),
            group: group.map(|g| g.key.0.clone()),
            target: target.map(str::to_owned),
            reason: reason.map(str::to_owned),
            message,
        };
        // The group with the most healthy members: the one a kill hurts least.
        let group = mine
            .iter()
            .copied()
            .filter(|g| g.eligibility.is_ok())
            .max_by_key(|g| g.members.iter().filter(|m| m.healthy).count())
            .unwrap_or(mine[0]);
        let victim = self.schedule.pick(group).cloned();
        let facts = self.facts(service, None).await;
        let verdict = ordo_chaos::check_now(&settings, group, victim.as_ref(), &facts);
        let detail = |extra| {
            merged(
                serde_json::json!({ "group": group.key.0, "service": service, "requested_by": actor }),
                extra,
            )
        };
        let audit = self.shared.plane.audit().clone();
        let victim = match (verdict, victim) {
            (Err(skip), _) => {
                let message = skip.to_string();
                audit
                    .append(
                        AuditEntry::new(actor, actions::KILL_SKIPPED, group.key.0.clone())
                            .with_detail(detail(
                                serde_json::json!({ "reason": skip.code(), "message": message }),
                            )),
                    )
                    .await?;
                return Ok(outcome(
                    "skipped",
                    Some(group),
                    None,
                    Some(skip.code()),
                    message,
                ));
            }
            (Ok(()), None) => {
                return Ok(outcome(
                    "skipped",
                    Some(group),
                    None,
                    Some(Skip::NoMember.code()),
                    Skip::NoMember.to_string(),
                ));
            }
            (Ok(()), Some(v)) => v,
        };
        if settings.leashed() {
            audit
                .append(
                    AuditEntry::new(actor, actions::KILL_LEASHED, victim.id.clone()).with_detail(
                        detail(serde_json::json!({ "message": "leashed: recorded, not killed" })),
                    ),
                )
                .await?;
            return Ok(outcome(
                "leashed",
                Some(group),
                Some(&victim.id),
                None,
                format!("leashed: {} would have been killed; nothing was", victim.id),
            ));
        }
        // Validated here (the actor came from a header), committed only if
        // no pause or halt is in force at the moment of writing.
        let entry = AuditEntry::new(actor, actions::KILL_INTENT, victim.id.clone()).with_detail(
            detail(serde_json::json!({ "healthy": group.members.iter().filter(|m| m.healthy).count() })),
        );
        let problems = entry.problems();
        if !problems.is_empty() {
            return Err(crate::AuditError::Invalid {
                what: "entry",
                problems,
            }
            .into());
        }
        let Some(intent) = self
            .shared
            .plane
            .store()
            .chaos_intent_now(group.key.0.clone(), service.to_owned(), entry)
            .await?
        else {
            let switches = self.shared.switches.borrow().clone();
            let skip = if switches.halted() {
                Skip::Halted
            } else {
                Skip::Paused
            };
            return Ok(outcome(
                "skipped",
                Some(group),
                None,
                Some(skip.code()),
                skip.to_string(),
            ));
        };
        self.took_the_slot(&group.key.0, actor).await;
        // From here on the kill may have happened: whatever the log says
        // after it, the caller learns what the platform did.
        let (result, action, extra) = match self.shared.platform.kill(&victim.id).await {
            Ok(()) => (
                outcome(
                    "killed",
                    Some(group),
                    Some(&victim.id),
                    None,
                    format!("killed {}; the platform replaces it", victim.id),
                ),
                actions::KILLED,
                serde_json::json!({ "intent": intent.id }),
            ),
            Err(e) => (
                outcome(
                    "failed",
                    Some(group),
                    Some(&victim.id),
                    None,
                    format!("could not kill {}: {e}", victim.id),
                ),
                actions::KILL_FAILED,
                serde_json::json!({ "intent": intent.id, "error": e.to_string() }),
            ),
        };
        let to = if action == actions::KILLED {
            SlotState::Killed
        } else {
            SlotState::Failed
        };
        let reason = extra
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_owned);
        let record = AuditEntry::new(actor, action, victim.id.clone()).with_detail(detail(extra));
        let settled = self
            .shared
            .plane
            .store()
            .chaos_move(
                KILL_NOW.to_owned(),
                group.key.0.clone(),
                intent.id as i64,
                SlotState::Intent,
                to,
                None,
                reason,
                record,
            )
            .await;
        if let Err(e) = settled {
            tracing::error!(error = %e, target = victim.id, action, "the outcome of a kill-now could not be recorded");
        }
        Ok(result)
    }

    /// A kill-now in an open slot is that slot's kill of the group: it
    /// counts for the minimum interval, and a kill still planned for the
    /// slot is skipped.
    async fn took_the_slot(&mut self, group: &str, actor: &str) {
        let now = self.shared.options.clock.now();
        let Some(slot) = self.shared.options.settings.calendar().slot_at(now) else {
            return;
        };
        self.last_kills.insert(group.to_owned(), slot.id.0);
        if self.slot.as_ref() != Some(&slot.id) {
            return;
        }
        let planned = self
            .rows
            .get(group)
            .is_some_and(|r| r.state == SlotState::Planned);
        if planned {
            let message = format!("this slot's kill was taken by a kill-now of {actor}");
            let entry = AuditEntry::new(ACTOR, actions::KILL_SKIPPED, group).with_detail(
                serde_json::json!({ "group": group, "slot": slot.id.0, "reason": "kill-now", "message": message }),
            );
            self.settle(
                group,
                &slot,
                SlotState::Planned,
                SlotState::Skipped,
                None,
                Some("kill-now".to_owned()),
                entry,
            )
            .await;
        }
    }
}

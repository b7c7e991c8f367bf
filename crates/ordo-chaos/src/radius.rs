//! The blast radius (`ordo chaos plan`): every group, whether it may lose
//! an instance, how often it would, and how many instances could go now
//! before `min_healthy` stops the next kill. Nothing is drawn or killed.

use serde::Serialize;

use crate::{ChaosSettings, Group, GroupKey, Ineligible};

/// The blast radius of the current fleet under the settings.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct BlastRadius {
    /// Chaos Monkey is switched on.
    pub enabled: bool,
    /// Decisions only, no kills.
    pub leashed: bool,
    /// The calendar, in words.
    pub schedule: String,
    /// `work day` or `slot`: what `probability_per_slot` is per.
    pub slot_unit: &'static str,
    /// Every group, by key.
    pub groups: Vec<GroupRadius>,
    /// Groups that may lose an instance.
    pub eligible_groups: usize,
    /// Instances a kill may take now, summed over the eligible groups.
    pub killable_now: u32,
}

/// One group's part of the blast radius.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct GroupRadius {
    /// The group.
    pub key: GroupKey,
    /// Its service.
    pub service: String,
    /// Its instances.
    pub members: u32,
    /// Its healthy instances.
    pub healthy: u32,
    /// Its instances that may be killed (not excepted, canary or
    /// baseline).
    pub candidates: u32,
    /// It may lose an instance.
    pub eligible: bool,
    /// Why not, when it may not.
    pub ineligible: Option<Ineligible>,
    /// Why not, in words.
    pub reason: Option<String>,
    /// The chance of a draw in each work slot: 1/mean (0 when
    /// ineligible).
    pub probability_per_slot: f64,
    /// Kills expected per week in the long run (work-day mode; the
    /// minimum interval included, holidays not).
    pub expected_kills_per_week: Option<f64>,
    /// Kills expected per minute while the window is open (slot mode; the
    /// minimum interval included).
    pub expected_kills_per_minute: Option<f64>,
    /// Healthy instances it must keep (`min_healthy`).
    pub min_healthy_required: u32,
    /// Instances that could be killed one after another now before
    /// `min_healthy` refuses: every unhealthy candidate, and healthy ones
    /// down to the required count.
    pub killable_now: u32,
}

/// The blast radius of `groups` under `settings`.
pub fn blast_radius(settings: &ChaosSettings, groups: &[Group]) -> BlastRadius {
    let calendar = settings.calendar();
    let slot_ms = calendar.slot_length().map(|d| d.as_millis() as f64);
    let list: Vec<GroupRadius> = groups
        .iter()
        .map(|g| {
            let s = settings.service_or_default(&g.service);
            let eligible = g.eligibility.is_ok() && settings.opted_in(&g.service);
            let ineligible = match &g.eligibility {
                Err(why) => Some(why.clone()),
                Ok(()) if !eligible => Some(Ineligible::NotOptedIn),
                Ok(()) => None,
            };
            let required = s.min_healthy.required(g.members.len());
            let healthy = g.healthy();
            let (healthy_candidates, unhealthy_candidates) =
                g.candidates().fold((0u32, 0u32), |(h, u), m| {
                    if m.healthy { (h + 1, u) } else { (h, u + 1) }
                });
            let killable = if eligible {
                healthy_candidates.min(healthy.saturating_sub(required)) + unhealthy_candidates
            } else {
                0
            };
            let rate = if eligible { s.kills_per_slot() } else { 0.0 };
            GroupRadius {
                key: g.key.clone(),
                service: g.service.clone(),
                members: g.members.len() as u32,
                healthy,
                candidates: healthy_candidates + unhealthy_candidates,
                eligible,
                reason: ineligible.as_ref().map(ToString::to_string),
                ineligible,
                probability_per_slot: if eligible { s.probability() } else { 0.0 },
                expected_kills_per_week: slot_ms
                    .is_none()
                    .then(|| rate * calendar.work_slots_per_week()),
                expected_kills_per_minute: slot_ms.map(|ms| rate * 60_000.0 / ms),
                min_healthy_required: required,
                killable_now: killable,
            }
        })
        .collect();
    BlastRadius {
        enabled: settings.enabled(),
        leashed: settings.leashed(),
        schedule: calendar.to_string(),
        slot_unit: if slot_ms.is_some() {
            "slot"
        } else {
            "work day"
        },
        eligible_groups: list.iter().filter(|g| g.eligible).count(),
        killable_now: list.iter().map(|g| g.killable_now).sum(),
        groups: list,
    }
}

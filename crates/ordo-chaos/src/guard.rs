//! The guardrails, checked when a kill is due, in this order (the first
//! that fails is the reason):
//!
//! 1. Chaos Monkey is switched on and the service has opted in;
//! 2. no halt, 3. no pause;
//! 4. now is inside the planned slot's window (not a weekend, a holiday,
//!    outside the hours, or another slot);
//! 5. the group and the victim are eligible (not excepted, canary or
//!    baseline);
//! 6. the group's last kill is at least `min_time_between_kills` work
//!    slots back (and never in this slot);
//! 7. the service is not in an outage: its error rate is known and at
//!    most `outage.max_error_rate` (an unknown rate fails closed);
//! 8. it is not being deployed (with `outage.deploys`);
//! 9. the group keeps `min_healthy` healthy members after the kill;
//! 10. there is a victim.
//!
//! A leashed Chaos Monkey runs the same checks: leashing changes what the
//! caller does with a kill, not the decision.

use std::fmt;

use jiff::Timestamp;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::{ChaosSettings, Closed, Group, Ineligible, Member, Slot, SlotId};

/// What the caller knows at kill time about the switches and the
/// service; the rest comes from the settings and the group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// `ordo chaos pause` is in force.
    pub paused: bool,
    /// `ordo chaos halt` is in force.
    pub halted: bool,
    /// The service's share of failed requests (0 to 1) as its sidecars
    /// report it; none when unknown.
    pub error_rate: Option<f64>,
    /// The service is being deployed (instances starting or stopping).
    pub deploying: bool,
    /// The slot of the group's last kill (leashed ones count too).
    pub last_kill: Option<SlotId>,
}

impl Facts {
    /// Nothing in the way: no switch, a zero error rate, no deploy, no
    /// earlier kill.
    pub fn calm() -> Facts {
        Facts {
            error_rate: Some(0.0),
            ..Facts::default()
        }
    }
}

/// Why a due kill was not carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// Chaos Monkey is switched off (`chaos.enabled: false`).
    Disabled,
    /// The service has not opted in.
    NotOptedIn,
    /// A halt is in force.
    Halted,
    /// A pause is in force.
    Paused,
    /// Not inside the slot's window.
    Closed(Closed),
    /// The group or the victim is never killed.
    Ineligible(Ineligible),
    /// The group's last kill is too recent.
    TooSoon {
        /// The slot of the last kill.
        last: SlotId,
        /// Work slots since it (this one included).
        since: u64,
        /// Work slots required.
        min: u64,
    },
    /// The service's error rate is above the outage threshold.
    Outage {
        /// The error rate.
        error_rate: f64,
        /// The threshold.
        max: f64,
    },
    /// The service's error rate is unknown: counted as an outage.
    ErrorRateUnknown,
    /// The service is being deployed.
    Deploying,
    /// The kill would leave the group with too few healthy members.
    MinHealthy {
        /// Healthy members now.
        healthy: u32,
        /// Healthy members after the kill.
        after: u32,
        /// Healthy members required.
        required: u32,
    },
    /// No member may be killed (or the one given is not in the group).
    NoMember,
}

impl Skip {
    /// A stable kebab-case code for logs and the API: `disabled`,
    /// `not-opted-in`, `halted`, `paused`, the [`Closed`] code
    /// (`weekend`, `holiday`, `outside-hours`, `outside-slot`), the
    /// [`Ineligible`] code (`excepted`, `canary`, `baseline`), `too-soon`,
    /// `outage`, `error-rate-unknown`, `deploying`, `min-healthy`,
    /// `no-member`.
    pub fn code(&self) -> &'static str {
        match self {
            Skip::Disabled => "disabled",
            Skip::NotOptedIn => "not-opted-in",
            Skip::Halted => "halted",
            Skip::Paused => "paused",
            Skip::Closed(c) => c.code(),
            Skip::Ineligible(i) => i.code(),
            Skip::TooSoon { .. } => "too-soon",
            Skip::Outage { .. } => "outage",
            Skip::ErrorRateUnknown => "error-rate-unknown",
            Skip::Deploying => "deploying",
            Skip::MinHealthy { .. } => "min-healthy",
            Skip::NoMember => "no-member",
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Disabled => f.write_str(
                "Chaos Monkey is switched off; set `chaos.enabled: true` in the manifest to schedule kills",
            ),
            Skip::NotOptedIn => f.write_str(
                "the service has not opted in to Chaos Monkey; give it a `chaos: {}` block in the manifest",
            ),
            Skip::Halted => f.write_str(
                "Chaos Monkey is halted; `ordo chaos resume` lifts the halt",
            ),
            Skip::Paused => f.write_str("Chaos Monkey is paused; `ordo chaos resume` resumes it"),
            Skip::Closed(c) => c.fmt(f),
            Skip::Ineligible(i) => i.fmt(f),
            Skip::TooSoon { last, since, min } => write!(
                f,
                "the group lost an instance in slot {last}, {since} work slot(s) ago; \
                 chaos.min_time_between_kills asks for {min}"
            ),
            Skip::Outage { error_rate, max } => write!(
                f,
                "the service's error rate {:.2}% is above the outage threshold {:.2}% \
                 (chaos.outage.max_error_rate): a kill now would make an outage worse",
                error_rate * 100.0,
                max * 100.0
            ),
            Skip::ErrorRateUnknown => f.write_str(
                "the service's error rate is unknown, which counts as an outage; \
                 kills resume once its sidecars report one",
            ),
            Skip::Deploying => f.write_str(
                "the service is being deployed; kills wait until it is done (chaos.outage.deploys)",
            ),
            Skip::MinHealthy {
                healthy,
                after,
                required,
            } => write!(
                f,
                "the group has {healthy} healthy instance(s); a kill would leave {after}, \
                 fewer than the {required} required (chaos.min_healthy)"
            ),
            Skip::NoMember => f.write_str("the group has no instance that may be killed"),
        }
    }
}

impl Serialize for Skip {
    /// `{"code": "min-healthy", "message": "...", "healthy": 2, ...}`: the
    /// code, the sentence, and the variant's numbers.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("code", self.code())?;
        m.serialize_entry("message", &self.to_string())?;
        match self {
            Skip::Ineligible(Ineligible::Excepted { rule }) => m.serialize_entry("rule", rule)?,
            Skip::TooSoon { last, since, min } => {
                m.serialize_entry("last", last)?;
                m.serialize_entry("since", since)?;
                m.serialize_entry("min", min)?;
            }
            Skip::Outage { error_rate, max } => {
                m.serialize_entry("error_rate", error_rate)?;
                m.serialize_entry("max", max)?;
            }
            Skip::MinHealthy {
                healthy,
                after,
                required,
            } => {
                m.serialize_entry("healthy", healthy)?;
                m.serialize_entry("after", after)?;
                m.serialize_entry("required", required)?;
            }
            _ => {}
        }
        m.end()
    }
}

/// Whether `victim` of `group` may be killed at `now`, in the kill
/// planned for `slot`: every guardrail of the module doc, in order.
pub fn check(
    settings: &ChaosSettings,
    now: Timestamp,
    slot: &Slot,
    group: &Group,
    victim: Option<&Member>,
    facts: &Facts,
) -> Result<(), Skip> {
    switches(settings, group, facts)?;
    let calendar = settings.calendar();
    if let Some(closed) = calendar.closed_because(now) {
        return Err(Skip::Closed(closed));
    }
    if !slot.contains(now) || calendar.slot_at(now).is_none_or(|s| s.id != slot.id) {
        return Err(Skip::Closed(Closed::OutsideSlot));
    }
    eligible(group, victim)?;
    if let Some(last) = &facts.last_kill {
        let min = u64::from(
            settings
                .service_or_default(&group.service)
                .min_time_between_kills,
        );
        let since = calendar.work_slots_between_capped(last, &slot.id, min);
        if *last >= slot.id || since < min {
            return Err(Skip::TooSoon {
                last: last.clone(),
                since,
                min,
            });
        }
    }
    service_and_group(settings, group, victim, facts)
}

/// [`check`] without the calendar: for a kill asked for by hand (`ordo
/// chaos kill-now`), which needs no window and no minimum interval but
/// keeps every other guardrail, in the same order.
pub fn check_now(
    settings: &ChaosSettings,
    group: &Group,
    victim: Option<&Member>,
    facts: &Facts,
) -> Result<(), Skip> {
    switches(settings, group, facts)?;
    eligible(group, victim)?;
    service_and_group(settings, group, victim, facts)
}

fn switches(settings: &ChaosSettings, group: &Group, facts: &Facts) -> Result<(), Skip> {
    if !settings.enabled() {
        return Err(Skip::Disabled);
    }
    if !settings.opted_in(&group.service) {
        return Err(Skip::NotOptedIn);
    }
    if facts.halted {
        return Err(Skip::Halted);
    }
    if facts.paused {
        return Err(Skip::Paused);
    }
    Ok(())
}

fn eligible(group: &Group, victim: Option<&Member>) -> Result<(), Skip> {
    if let Err(why) = &group.eligibility {
        return Err(Skip::Ineligible(why.clone()));
    }
    if let Some(v) = victim {
        if group.member(&v.id).is_none() {
            return Err(Skip::NoMember);
        }
        if let Some(why) = group.excluded.get(&v.id) {
            return Err(Skip::Ineligible(why.clone()));
        }
    }
    Ok(())
}

fn service_and_group(
    settings: &ChaosSettings,
    group: &Group,
    victim: Option<&Member>,
    facts: &Facts,
) -> Result<(), Skip> {
    if let Some(outage) = settings.outage() {
        match facts.error_rate {
            Some(rate) if rate.is_finite() => {
                if rate > outage.max_error_rate {
                    return Err(Skip::Outage {
                        error_rate: rate,
                        max: outage.max_error_rate,
                    });
                }
            }
            _ => return Err(Skip::ErrorRateUnknown),
        }
        if outage.deploys && facts.deploying {
            return Err(Skip::Deploying);
        }
    }
    let required = settings
        .service_or_default(&group.service)
        .min_healthy
        .required(group.members.len());
    let healthy = group.healthy();
    // The victim as the group holds it: its health in the registry.
    let loses = victim
        .and_then(|v| group.member(&v.id))
        .is_some_and(|v| v.healthy);
    let after = healthy - u32::from(loses);
    if after < required {
        return Err(Skip::MinHealthy {
            healthy,
            after,
            required,
        });
    }
    match victim {
        Some(_) => Ok(()),
        None => Err(Skip::NoMember),
    }
}

//! Chaos Monkey: instances of opted-in services are killed at random in
//! working hours, so that every service is built, and keeps being built,
//! to lose an instance without its users noticing. An outage at 3 a.m. is
//! the same failure as a kill at 11 a.m.; the kill happens while the team
//! is at work to learn from it.
//!
//! This crate is the pure part, in the manner of Netflix's Chaos Monkey
//! v2 plus ordo's guardrails: the calendar, the groups, the per-slot
//! plan, and the checks made at kill time. It does no IO, reads no clock
//! and kills nothing; the controller in `ordo-control` records every
//! decision in its audit log first and kills through the platform.
//!
//! # Semantics
//!
//! - **Opt-in**: only services with a `chaos:` block take part; Chaos
//!   Monkey as a whole is off (`enabled: false`) and *leashed* (decisions
//!   recorded, nothing killed) until switched on.
//! - **Calendar** ([`Calendar`]): a work day is a weekday (unless
//!   `weekdays_only` is off) that is not a holiday, in the window's time
//!   zone; its window is `[start_hour, end_hour)` local time, daylight
//!   saving included. With `slot: 5s`, epoch-aligned slots of that length
//!   take the place of work days; a slot counts when its start is inside
//!   the window of a work day.
//! - **Groups** ([`groups`]): by app, stack or cluster; excepted, canary
//!   and baseline instances are never candidates.
//! - **Plan** ([`ChaosSchedule::plan`]): per slot, each eligible group is
//!   drawn with probability 1/mean, at a time uniform in the window; at
//!   most one kill per group per slot.
//! - **Guardrails** ([`check`]), at kill time, first failure wins:
//!   switched off or not opted in; halted; paused; outside the window;
//!   ineligible; too soon after the group's last kill
//!   (`min_time_between_kills` work slots); outage (error rate above
//!   `outage.max_error_rate`, or unknown: fail closed); deploy in
//!   progress; `min_healthy` would be broken; no member.
//! - Leashed is not a guardrail: the decision is the same, the caller
//!   records it instead of killing.
//!
//! ```
//! use ordo_chaos::{ChaosSchedule, ChaosSettings, Facts, Member, Timestamp, check, groups};
//!
//! let manifest: ordo_config::manifest::Manifest = ordo_config::parse(
//!     "name: demo\n\
//!      chaos: { enabled: true, mean_time_between_kills: 1, window: { time_zone: UTC } }\n\
//!      services:\n  - { name: api, command: x, replicas: 3, chaos: {} }\n",
//!     "ordo.yaml",
//! )
//! .unwrap()
//! .config;
//! let settings = ChaosSettings::from_manifest(&manifest).unwrap();
//! assert!(settings.leashed(), "leashed until said otherwise");
//! let fleet: Vec<Member> = (0..3).map(|i| Member::new(&format!("api-{i}"), "api")).collect();
//! let groups = groups(&settings, fleet);
//!
//! // Monday 2025-01-06 is a work day; with a mean of 1 the group is drawn.
//! let monday: Timestamp = "2025-01-06T10:00:00Z".parse().unwrap();
//! let slot = settings.calendar().next_slot(monday).unwrap();
//! let mut schedule = ChaosSchedule::new(settings.clone(), 42);
//! let plans = schedule.plan(&slot, &groups.iter().collect::<Vec<_>>());
//! assert_eq!(plans.len(), 1);
//! let victim = schedule.pick(&groups[0]);
//! assert_eq!(check(&settings, plans[0].at, &slot, &groups[0], victim, &Facts::calm()), Ok(()));
//! ```

mod calendar;
mod group;
mod guard;
mod plan;
mod radius;
mod settings;
pub mod sim;

pub use jiff::Timestamp;

pub use calendar::{Calendar, Closed, LOOKAHEAD_DAYS, Slot, SlotId};
pub use group::{CLUSTER, Group, GroupKey, Ineligible, Member, ROLE, STACK, groups};
pub use guard::{Facts, Skip, check, check_now};
pub use plan::{ChaosSchedule, Plan};
pub use radius::{BlastRadius, GroupRadius, blast_radius};
pub use settings::{ChaosSettings, Exception, ServiceSettings, SettingsError};

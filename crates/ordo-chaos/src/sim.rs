//! A deterministic simulation of Chaos Monkey: a simulated clock walks
//! from work slot to work slot, planning each slot and carrying out each
//! planned kill at its time (group, pick, check), against a [`World`] that
//! says who is up and how each service is doing. No runtime, no sleeps, no
//! wall clock: thousands of work days run in a test.
//!
//! ```
//! use ordo_chaos::sim::{FixedWorld, Simulation};
//! use ordo_chaos::{ChaosSchedule, ChaosSettings, Member, Timestamp};
//!
//! let manifest: ordo_config::manifest::Manifest = ordo_config::parse(
//!     "name: demo\nchaos: { enabled: true, leashed: false, mean_time_between_kills: 2, \
//!      window: { time_zone: UTC } }\nservices:\n  - { name: api, command: x, replicas: 3, chaos: {} }\n",
//!     "ordo.yaml",
//! )
//! .unwrap()
//! .config;
//! let settings = ChaosSettings::from_manifest(&manifest).unwrap();
//! let fleet = (0..3).map(|i| Member::new(&format!("api-{i}"), "api")).collect();
//! let mut sim = Simulation::new(ChaosSchedule::new(settings, 7), FixedWorld::new(fleet));
//! let start: Timestamp = "2025-01-06T00:00:00Z".parse().unwrap();
//! sim.run(start, 100);
//! let kills = sim.kills().count();
//! assert!((30..=70).contains(&kills), "{kills}");
//! ```

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::{ChaosSchedule, Facts, GroupKey, Member, Skip, SlotId, check, groups};

/// What the simulation asks of the simulated fleet.
pub trait World {
    /// The live registry at `at`.
    fn members(&mut self, at: Timestamp) -> Vec<Member>;

    /// The switches and the state of `service` at `at`. `last_kill` is
    /// ignored: the simulation keeps it.
    fn facts(&mut self, service: &str, at: Timestamp) -> Facts;

    /// `member` is killed at `at` (not called when leashed).
    fn kill(&mut self, member: &Member, at: Timestamp) {
        let _ = (member, at);
    }
}

/// What became of one planned kill.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The victim was killed.
    Killed,
    /// The victim would have been killed; leashed, it was not.
    Leashed,
    /// A guardrail refused it.
    Skipped {
        /// Which, and why.
        skip: Skip,
    },
}

/// One planned kill and what became of it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Decision {
    /// The slot.
    pub slot: SlotId,
    /// The group.
    pub group: GroupKey,
    /// Its service.
    pub service: String,
    /// When it was due.
    pub at: Timestamp,
    /// The instance picked, if any.
    pub victim: Option<String>,
    /// Killed, leashed or skipped (flattened: `"outcome": "skipped",
    /// "skip": {...}`).
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Decision {
    /// Killed, or would have been if not leashed.
    pub fn is_kill(&self) -> bool {
        matches!(self.outcome, Outcome::Killed | Outcome::Leashed)
    }

    /// The guardrail that refused it, if one did.
    pub fn skip(&self) -> Option<&Skip> {
        match &self.outcome {
            Outcome::Skipped { skip } => Some(skip),
            _ => None,
        }
    }
}

/// The simulation: a schedule, a world, and each group's last kill.
#[derive(Debug)]
pub struct Simulation<W> {
    schedule: ChaosSchedule,
    world: W,
    last_kill: BTreeMap<GroupKey, SlotId>,
    decisions: Vec<Decision>,
    slots: u64,
    clock: Option<Timestamp>,
}

impl<W: World> Simulation<W> {
    /// A simulation of `schedule` against `world`.
    pub fn new(schedule: ChaosSchedule, world: W) -> Self {
        Simulation {
            schedule,
            world,
            last_kill: BTreeMap::new(),
            decisions: Vec::new(),
            slots: 0,
            clock: None,
        }
    }

    /// Runs the next `work_slots` work slots from `from` (or from where
    /// the last run stopped, if later): plans each, then carries out its
    /// kills in time order. Stops early when the calendar has no more work
    /// slots. Returns the decisions of all runs so far.
    pub fn run(&mut self, from: Timestamp, work_slots: u64) -> &[Decision] {
        let mut now = self.clock.map_or(from, |c| c.max(from));
        for _ in 0..work_slots {
            let settings = self.schedule.settings().clone();
            let Some(slot) = settings.calendar().next_slot(now) else {
                break;
            };
            let at_open = groups(&settings, self.world.members(slot.opens));
            let refs: Vec<_> = at_open.iter().collect();
            for plan in self.schedule.plan(&slot, &refs) {
                let now_groups = groups(&settings, self.world.members(plan.at));
                let group = now_groups.iter().find(|g| g.key == plan.group);
                let victim = group.and_then(|g| self.schedule.pick(g)).cloned();
                let mut facts = self.world.facts(&plan.service, plan.at);
                facts.last_kill = self.last_kill.get(&plan.group).cloned();
                let verdict = match group {
                    Some(g) => check(&settings, plan.at, &slot, g, victim.as_ref(), &facts),
                    None => Err(Skip::NoMember),
                };
                let outcome = match (verdict, &victim) {
                    (Ok(()), Some(v)) => {
                        self.last_kill.insert(plan.group.clone(), slot.id.clone());
                        if settings.leashed() {
                            Outcome::Leashed
                        } else {
                            self.world.kill(v, plan.at);
                            Outcome::Killed
                        }
                    }
                    (Ok(()), None) => Outcome::Skipped {
                        skip: Skip::NoMember,
                    },
                    (Err(skip), _) => Outcome::Skipped { skip },
                };
                self.decisions.push(Decision {
                    slot: slot.id.clone(),
                    group: plan.group,
                    service: plan.service,
                    at: plan.at,
                    victim: victim.map(|v| v.id),
                    outcome,
                });
            }
            self.slots += 1;
            now = slot.closes;
        }
        self.clock = Some(now);
        &self.decisions
    }

    /// Every decision so far, in time order.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// The kills so far (leashed ones included).
    pub fn kills(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.is_kill())
    }

    /// Work slots simulated so far.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// The world.
    pub fn world(&self) -> &W {
        &self.world
    }

    /// The schedule.
    pub fn schedule(&self) -> &ChaosSchedule {
        &self.schedule
    }
}

/// A world that does not change: the same members, calm facts (or those
/// set per service). Kills are recorded, and the instance stays (the
/// platform replaced it at once).
#[derive(Debug, Clone, Default)]
pub struct FixedWorld {
    /// The registry.
    pub members: Vec<Member>,
    /// Facts per service; [`Facts::calm`] for the others.
    pub facts: BTreeMap<String, Facts>,
    /// Every kill: instance id and time.
    pub killed: Vec<(String, Timestamp)>,
}

impl FixedWorld {
    /// A world of `members`, all facts calm.
    pub fn new(members: Vec<Member>) -> FixedWorld {
        FixedWorld {
            members,
            ..FixedWorld::default()
        }
    }
}

impl World for FixedWorld {
    fn members(&mut self, _: Timestamp) -> Vec<Member> {
        self.members.clone()
    }

    fn facts(&mut self, service: &str, _: Timestamp) -> Facts {
        self.facts.get(service).cloned().unwrap_or_else(Facts::calm)
    }

    fn kill(&mut self, member: &Member, at: Timestamp) {
        self.killed.push((member.id.clone(), at));
    }
}

//! Thousands of simulated work days, slot by slot, on a simulated clock:
//! Chaos Monkey kills as often as configured, and never where or when a
//! guardrail forbids it.
//!
//! Every run is seeded, so every number here is the same on every run.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{fleet, fleet_as, settings, ts};
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use ordo_chaos::sim::{Decision, FixedWorld, Outcome, Simulation, World};
use ordo_chaos::{ChaosSchedule, ChaosSettings, Facts, Member, ServiceSettings, SlotId, Timestamp};
use ordo_config::manifest::{Grouping, MinHealthy};

/// Monday 3 January 2000.
fn start() -> Timestamp {
    ts("2000-01-03T00:00:00Z")
}

/// New Year's Day and Christmas of 2000 to 2099.
fn holidays() -> Vec<String> {
    (2000..2100)
        .flat_map(|y| [format!("{y}-01-01"), format!("{y}-12-25")])
        .collect()
}

fn chaos(extra: &str) -> String {
    format!(
        "enabled: true\nleashed: false\nwindow: {{ time_zone: Europe/Berlin }}\nholidays: [{}]\n{extra}",
        holidays().join(", ")
    )
}

const FOUR: &str = "\
- { name: api, command: x, chaos: {} }
- { name: web, command: x, chaos: {} }
- { name: db, command: x, chaos: {} }
- { name: cache, command: x, chaos: {} }
";

fn four_services() -> Vec<Member> {
    ["api", "web", "db", "cache"]
        .into_iter()
        .flat_map(|s| fleet(s, 3, &[]))
        .collect()
}

fn simulate(
    s: &ChaosSettings,
    seed: u64,
    members: Vec<Member>,
    days: u64,
) -> Simulation<FixedWorld> {
    let mut sim = Simulation::new(
        ChaosSchedule::new(s.clone(), seed),
        FixedWorld::new(members),
    );
    sim.run(start(), days);
    assert_eq!(sim.slots(), days, "the calendar ran out of work days");
    sim
}

fn kills_by_group(sim: &Simulation<FixedWorld>) -> BTreeMap<String, Vec<SlotId>> {
    let mut by: BTreeMap<String, Vec<SlotId>> = BTreeMap::new();
    for d in sim.kills() {
        by.entry(d.group.0.clone())
            .or_default()
            .push(d.slot.clone());
    }
    by
}

#[test]
fn each_group_is_killed_once_in_mean_work_days() {
    let s = settings(&chaos("mean_time_between_kills: 5"), FOUR);
    const DAYS: u64 = 20_000;
    let expected = DAYS as f64 / 5.0;
    let mut total = 0usize;
    for seed in [1, 2, 3] {
        let sim = simulate(&s, seed, four_services(), DAYS);
        let by = kills_by_group(&sim);
        assert_eq!(by.len(), 4);
        for (group, slots) in &by {
            let n = slots.len() as f64;
            println!(
                "seed {seed} {group}: {n} kills in {DAYS} work days = {:.4} per day (expected 0.2000)",
                n / DAYS as f64
            );
            assert!(
                (n - expected).abs() <= expected * 0.05,
                "seed {seed} {group}: {n} kills, expected {expected} ± 5%"
            );
            // Never twice in one work day.
            assert!(slots.windows(2).all(|w| w[0] < w[1]), "{group}");
            total += slots.len();
        }
        assert!(
            sim.decisions().iter().all(Decision::is_kill),
            "nothing in the way"
        );
    }
    let all = expected * 12.0;
    println!(
        "all: {total} kills in {} group-days = {:.4} per group per day (expected 0.2000)",
        12 * DAYS,
        total as f64 / (12 * DAYS) as f64
    );
    assert!((total as f64 - all).abs() <= all * 0.02, "{total} vs {all}");
}

#[test]
fn a_mean_of_two_without_a_minimum_kills_every_other_day() {
    let s = settings(
        &chaos("mean_time_between_kills: 2\nmin_time_between_kills: 0"),
        FOUR,
    );
    const DAYS: u64 = 10_000;
    for seed in [11, 12] {
        let sim = simulate(&s, seed, four_services(), DAYS);
        for (group, slots) in kills_by_group(&sim) {
            let rate = slots.len() as f64 / DAYS as f64;
            println!("seed {seed} {group}: {rate:.4} per day (expected 0.5000)");
            assert!((rate - 0.5).abs() <= 0.5 * 0.05, "{group}: {rate}");
        }
    }
}

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap()
}

/// Whether `at` is inside a work day's window in Berlin, computed apart
/// from the calendar.
fn in_berlin_window(at: Timestamp, holidays: &BTreeSet<Date>) -> bool {
    let local = at.to_zoned_datetime(berlin());
    let weekday = !matches!(local.weekday(), Weekday::Saturday | Weekday::Sunday);
    weekday && (9..15).contains(&local.hour()) && !holidays.contains(&local.date())
}

#[test]
fn no_kill_outside_the_window_on_weekends_or_holidays() {
    let holidays: BTreeSet<Date> = holidays().iter().map(|h| h.parse().unwrap()).collect();
    let s = settings(
        &chaos("mean_time_between_kills: 1\nmin_time_between_kills: 0"),
        FOUR,
    );
    let sim = simulate(&s, 5, four_services(), 10_000);
    assert_eq!(
        sim.kills().count(),
        40_000,
        "mean 1: every group every work day"
    );
    let mut hours = BTreeSet::new();
    for d in sim.decisions() {
        assert!(in_berlin_window(d.at, &holidays), "{d:?}");
        hours.insert(d.at.to_zoned_datetime(berlin()).hour());
    }
    assert_eq!(hours.len(), 6, "kills spread over 9:00 to 15:00: {hours:?}");

    // Seconds-scale: every kill in a 5 s slot that starts in the window.
    let s = settings(
        &chaos("mean_time_between_kills: 3\nmin_time_between_kills: 0\nslot: 5s"),
        FOUR,
    );
    let sim = simulate(&s, 6, four_services(), 50_000);
    let kills = sim.kills().count() as f64;
    let expected = 4.0 * 50_000.0 / 3.0;
    println!("5s slots: {kills} kills in 50000 slots x 4 groups (expected {expected:.0})");
    assert!((kills - expected).abs() <= expected * 0.05);
    for d in sim.decisions() {
        let opens = Timestamp::from_millisecond(d.slot.0 * 5000).unwrap();
        assert!(in_berlin_window(opens, &holidays), "{d:?}");
        assert!(opens <= d.at && d.at.as_millisecond() < opens.as_millisecond() + 5000);
    }
}

#[test]
fn excepted_canary_and_baseline_instances_are_never_killed() {
    let services = "\
- { name: api, command: x, chaos: {} }
- { name: web, command: x, chaos: {} }
- { name: mix, command: x, chaos: { grouping: app } }
- { name: db, command: x }
";
    let s = settings(
        &chaos(
            "mean_time_between_kills: 1\nmin_time_between_kills: 0\n\
             exceptions: [ { cluster: '*-legacy' }, { service: mix, stack: 'blue*' } ]",
        ),
        services,
    );
    let mut members = fleet("api", 3, &[]);
    members.extend(fleet_as(
        "api-canary",
        "api",
        3,
        &[("cluster", "api-canary")],
    ));
    members.extend(fleet_as(
        "api-baseline",
        "api",
        3,
        &[("cluster", "api-baseline")],
    ));
    members.extend(fleet_as(
        "api-legacy",
        "api",
        3,
        &[("cluster", "api-legacy")],
    ));
    members.extend(fleet_as(
        "web-c",
        "web",
        3,
        &[("role", "canary"), ("cluster", "web-2")],
    ));
    members.extend(fleet("web", 3, &[]));
    members.extend(fleet_as("mix-blue", "mix", 3, &[("stack", "blue-1")]));
    members.extend(fleet_as("mix-green", "mix", 3, &[("stack", "green")]));
    members.extend(fleet("db", 3, &[]));
    let never: BTreeSet<String> = members
        .iter()
        .filter(|m| {
            m.cluster.ends_with("-canary")
                || m.cluster.ends_with("-baseline")
                || m.cluster.ends_with("-legacy")
                || m.role.is_some()
                || m.stack.starts_with("blue")
                || m.service == "db"
        })
        .map(|m| m.id.clone())
        .collect();
    let sim = simulate(&s, 8, members, 5000);
    let by = kills_by_group(&sim);
    assert_eq!(
        by.keys().collect::<Vec<_>>(),
        ["api", "mix", "web"],
        "only the eligible groups"
    );
    assert!(by.values().all(|slots| slots.len() == 5000));
    let victims: BTreeSet<&str> = sim.kills().filter_map(|d| d.victim.as_deref()).collect();
    for v in &victims {
        assert!(!never.contains(*v), "{v} was killed");
    }
    assert_eq!(
        victims.len(),
        9,
        "each eligible instance in turn: {victims:?}"
    );
}

#[test]
fn kills_keep_the_minimum_interval() {
    // mean 1, min 3 (allowed in a simulation, not in a manifest): a kill
    // exactly every third work day, across weekends and holidays.
    let base = settings(&chaos(""), FOUR);
    let s = base
        .with_service(
            "api",
            ServiceSettings {
                mean_time_between_kills: 1.0,
                min_time_between_kills: 3,
                grouping: Grouping::Cluster,
                min_healthy: MinHealthy::Count(1),
            },
        )
        .unwrap();
    let sim = simulate(&s, 4, fleet("api", 3, &[]), 3000);
    let slots = &kills_by_group(&sim)["api"];
    assert_eq!(slots.len(), 1000);
    let calendar = s.calendar();
    for w in slots.windows(2) {
        assert_eq!(
            calendar.work_slots_between(w[0].clone(), w[1].clone()),
            3,
            "{w:?}"
        );
    }
    let too_soon = sim
        .decisions()
        .iter()
        .filter(|d| d.skip().map(|s| s.code()) == Some("too-soon"))
        .count();
    assert_eq!(too_soon, 2000, "the other two days are skipped as too soon");

    // A manifest's mean 3, min 3: never closer than 3 work days, and on
    // average 3 - 1 + 3 = 5 apart.
    let s = settings(
        &chaos("mean_time_between_kills: 3\nmin_time_between_kills: 3"),
        FOUR,
    );
    let sim = simulate(&s, 9, four_services(), 20_000);
    for (group, slots) in kills_by_group(&sim) {
        let gaps: Vec<u64> = slots
            .windows(2)
            .map(|w| s.calendar().work_slots_between(w[0].clone(), w[1].clone()))
            .collect();
        assert!(gaps.iter().all(|g| *g >= 3), "{group}");
        let mean = gaps.iter().sum::<u64>() as f64 / gaps.len() as f64;
        println!("{group}: kills {mean:.3} work days apart (expected 5)");
        assert!((mean - 5.0).abs() <= 0.25, "{group}: {mean}");
    }
}

/// A world whose health and facts change from day to day.
struct Weather {
    members: Vec<Member>,
    /// Day number (days since 1970) to the ids down that day.
    down: Box<dyn Fn(i64) -> Vec<usize>>,
    /// Day number to the facts of every service that day.
    facts: Box<dyn Fn(i64) -> Facts>,
    killed: usize,
}

fn day(at: Timestamp) -> i64 {
    at.as_second().div_euclid(86_400)
}

impl World for Weather {
    fn members(&mut self, at: Timestamp) -> Vec<Member> {
        let down = (self.down)(day(at));
        let mut members = self.members.clone();
        for i in down {
            members[i].healthy = false;
        }
        members
    }

    fn facts(&mut self, _: &str, at: Timestamp) -> Facts {
        (self.facts)(day(at))
    }

    fn kill(&mut self, _: &Member, _: Timestamp) {
        self.killed += 1;
    }
}

#[test]
fn no_kill_below_the_minimum_healthy_count() {
    let s = settings(
        &chaos("mean_time_between_kills: 1\nmin_time_between_kills: 0\nmin_healthy: 75%"),
        "- { name: api, command: x, chaos: {} }\n",
    );
    let world = Weather {
        members: fleet("api", 4, &[]),
        // 0, 1 or 2 instances down, by day.
        down: Box::new(|d| (0..(d.rem_euclid(3) as usize)).collect()),
        facts: Box::new(|_| Facts::calm()),
        killed: 0,
    };
    let mut sim = Simulation::new(ChaosSchedule::new(s.clone(), 21), world);
    sim.run(start(), 3000);
    let mut refused = 0;
    for d in sim.decisions() {
        let down = d.at.as_second().div_euclid(86_400).rem_euclid(3);
        let victim_down = d
            .victim
            .as_deref()
            .is_some_and(|v| (v.trim_start_matches("api-").parse::<i64>().unwrap()) < down);
        let healthy_after = 4 - down - i64::from(!victim_down);
        match &d.outcome {
            Outcome::Killed => assert!(healthy_after >= 3, "{d:?}"),
            Outcome::Skipped { skip } => {
                assert_eq!(skip.code(), "min-healthy", "{d:?}");
                assert!(healthy_after < 3);
                refused += 1;
            }
            Outcome::Leashed => unreachable!("not leashed"),
        }
    }
    println!(
        "min_healthy 75% of 4: {} kills, {refused} refused",
        sim.world().killed
    );
    assert!(refused > 1000 && sim.world().killed > 1000);
}

#[test]
fn no_kill_while_the_outage_check_trips() {
    let s = settings(
        &chaos("mean_time_between_kills: 1\nmin_time_between_kills: 0"),
        FOUR,
    );
    let weather = |d: i64| match d.rem_euclid(5) {
        1 => Facts {
            error_rate: Some(0.2),
            ..Facts::calm()
        },
        2 => Facts {
            error_rate: None,
            ..Facts::calm()
        },
        3 => Facts {
            deploying: true,
            ..Facts::calm()
        },
        _ => Facts {
            error_rate: Some(0.01),
            ..Facts::calm()
        },
    };
    let world = Weather {
        members: four_services(),
        down: Box::new(|_| Vec::new()),
        facts: Box::new(weather),
        killed: 0,
    };
    let mut sim = Simulation::new(ChaosSchedule::new(s, 31), world);
    sim.run(start(), 5000);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for d in sim.decisions() {
        let bad = (1..=3).contains(&day(d.at).rem_euclid(5));
        assert_eq!(d.is_kill(), !bad, "{d:?}");
        *seen
            .entry(d.skip().map_or("killed", |s| s.code()))
            .or_default() += 1;
    }
    println!("outage check: {seen:?}");
    for code in ["outage", "error-rate-unknown", "deploying", "killed"] {
        assert!(
            seen.get(code).copied().unwrap_or(0) > 1000,
            "{code}: {seen:?}"
        );
    }
}

#[test]
fn leashed_decides_the_same_and_kills_nothing() {
    let unleashed = settings(
        &chaos("mean_time_between_kills: 3\nmin_time_between_kills: 2"),
        FOUR,
    );
    let leashed = unleashed.clone().with_leashed(true);
    assert!(leashed.leashed() && !unleashed.leashed());
    let free = simulate(&unleashed, 77, four_services(), 5000);
    let held = simulate(&leashed, 77, four_services(), 5000);
    assert!(held.world().killed.is_empty(), "leashed kills nothing");
    assert_eq!(free.world().killed.len(), free.kills().count());
    assert!(free.kills().count() > 4000);
    assert_eq!(free.decisions().len(), held.decisions().len());
    for (a, b) in free.decisions().iter().zip(held.decisions()) {
        let expected = match &a.outcome {
            Outcome::Killed => Outcome::Leashed,
            other => other.clone(),
        };
        assert_eq!(
            (&a.slot, &a.group, a.at, &a.victim, &expected),
            (&b.slot, &b.group, b.at, &b.victim, &b.outcome)
        );
    }
    // Every decision is there to log, as JSON.
    let json = serde_json::to_value(held.kills().next().unwrap()).unwrap();
    assert_eq!(json["outcome"], "leashed");
    let skipped = held
        .decisions()
        .iter()
        .find(|d| d.skip().is_some())
        .unwrap();
    let json = serde_json::to_value(skipped).unwrap();
    assert_eq!(json["outcome"], "skipped");
    assert_eq!(json["skip"]["code"], "too-soon");
}

#[test]
fn a_schedule_replays_from_its_seed() {
    let s = settings(&chaos(""), FOUR);
    let a = simulate(&s, 123, four_services(), 500);
    let b = simulate(&s, 123, four_services(), 500);
    let c = simulate(&s, 124, four_services(), 500);
    assert_eq!(a.decisions(), b.decisions());
    assert_ne!(a.decisions(), c.decisions());
    // The groups do not depend on the order the registry lists them in.
    let mut reversed = four_services();
    reversed.reverse();
    let d = simulate(&s, 123, reversed, 500);
    assert_eq!(a.decisions(), d.decisions());
}

//! Grouping by app, stack and cluster; exceptions with wildcards; canary
//! and baseline instances; opting in; the plan's draws and the pick.

mod common;

use std::collections::BTreeMap;

use common::{fleet, fleet_as, settings, ts};
use ordo_chaos::{ChaosSchedule, GroupKey, Ineligible, Member, Slot, SlotId, groups};

const SERVICES: &str = "\
- { name: api, command: x, chaos: {} }
- { name: web, command: x, chaos: {} }
- { name: db, command: x }
";

fn keys(gs: &[ordo_chaos::Group]) -> Vec<&str> {
    gs.iter().map(|g| g.key.0.as_str()).collect()
}

#[test]
fn metadata_gives_stack_cluster_and_role() {
    let md: BTreeMap<String, String> = [("stack", "eu"), ("role", "canary")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let m = Member::from_metadata("api-1", "api", &md, false);
    assert_eq!(m.stack, "eu");
    assert_eq!(m.cluster, "api", "the cluster defaults to the service");
    assert_eq!(m.role.as_deref(), Some("canary"));
    assert!(!m.healthy);
    assert_eq!(Member::new("x-0", "x").stack, "");
}

#[test]
fn each_grouping_has_its_keys() {
    let mut members = fleet("api", 2, &[("stack", "eu"), ("cluster", "api-eu")]);
    members.extend(fleet_as("api-plain", "api", 2, &[]));
    members.extend(fleet("web", 1, &[]));
    let by = |grouping: &str| {
        let s = settings(&format!("grouping: {grouping}"), SERVICES);
        groups(&s, members.clone())
    };
    assert_eq!(keys(&by("app")), ["api", "web"]);
    assert_eq!(by("app")[0].members.len(), 4);
    assert_eq!(keys(&by("stack")), ["api", "api/eu", "web"]);
    assert_eq!(keys(&by("cluster")), ["api", "api-eu", "web"]);
    let g = &by("cluster")[1];
    assert_eq!(g.service, "api");
    assert_eq!(g.members.len(), 2);
    assert!(g.eligibility.is_ok());
}

#[test]
fn a_service_may_group_its_own_way() {
    let services = "\
- { name: api, command: x, chaos: { grouping: app } }
- { name: web, command: x, chaos: {} }
";
    let s = settings("grouping: stack", services);
    let mut members = fleet("api", 2, &[("stack", "eu")]);
    members.extend(fleet_as("api-us", "api", 2, &[("stack", "us")]));
    members.extend(fleet("web", 2, &[("stack", "eu")]));
    assert_eq!(keys(&groups(&s, members)), ["api", "web/eu"]);
}

#[test]
fn a_cluster_named_by_two_services_is_split_by_service() {
    let s = settings("{}", SERVICES);
    let mut members = fleet("api", 1, &[("cluster", "shared")]);
    members.extend(fleet("web", 1, &[("cluster", "shared")]));
    assert_eq!(keys(&groups(&s, members)), ["shared@api", "shared@web"]);
}

#[test]
fn a_service_not_opted_in_never_renames_a_group_that_may_be_drawn() {
    let s = settings("{}", SERVICES);
    let api = fleet("api", 2, &[("cluster", "shared")]);
    assert_eq!(keys(&groups(&s, api.clone())), ["shared"]);
    // db (not opted in) names the same cluster: api's key, which its
    // draws and last kill are stored under, stays; db's is qualified.
    let mut both = api;
    both.extend(fleet("db", 1, &[("cluster", "shared")]));
    assert_eq!(keys(&groups(&s, both)), ["shared", "shared@db"]);
}

#[test]
fn services_not_opted_in_are_grouped_but_ineligible() {
    let s = settings("{}", SERVICES);
    let gs = groups(&s, fleet("db", 3, &[]));
    assert_eq!(gs[0].eligibility, Err(Ineligible::NotOptedIn));
    assert_eq!(gs[0].candidates().count(), 0);
    let off = "- { name: api, command: x, chaos: { enabled: false } }\n";
    let s = settings("{}", off);
    assert!(!s.opted_in("api"));
    assert_eq!(s.services().count(), 0);
}

#[test]
fn exceptions_match_with_wildcards() {
    let chaos = "\
exceptions:
  - { service: 'we*' }
  - { service: api, stack: 'eu-*' }
  - { cluster: '*-legacy' }
";
    let s = settings(chaos, SERVICES);
    let mut members = fleet("web", 2, &[]);
    members.extend(fleet_as(
        "api-eu",
        "api",
        2,
        &[("stack", "eu-west"), ("cluster", "api-eu")],
    ));
    members.extend(fleet_as(
        "api-us",
        "api",
        2,
        &[("stack", "us-east"), ("cluster", "api-us")],
    ));
    members.extend(fleet_as("api-old", "api", 1, &[("cluster", "api-legacy")]));
    let gs = groups(&s, members);
    let find = |k: &str| gs.iter().find(|g| g.key.0 == k).unwrap();
    assert_eq!(
        find("web").eligibility,
        Err(Ineligible::Excepted {
            rule: "chaos.exceptions[0] {service: we*}".into()
        })
    );
    assert_eq!(
        find("api-eu").eligibility,
        Err(Ineligible::Excepted {
            rule: "chaos.exceptions[1] {service: api, stack: eu-*}".into()
        })
    );
    assert!(find("api-us").eligibility.is_ok());
    assert_eq!(
        find("api-legacy").eligibility.as_ref().unwrap_err().code(),
        "excepted"
    );
}

#[test]
fn a_group_mixing_excepted_members_keeps_the_others() {
    let s = settings(
        "grouping: app\nexceptions: [ { service: api, stack: blue } ]",
        SERVICES,
    );
    let mut members = fleet_as("api-blue", "api", 2, &[("stack", "blue")]);
    members.extend(fleet_as("api-green", "api", 2, &[("stack", "green")]));
    let gs = groups(&s, members);
    assert_eq!(gs.len(), 1);
    assert!(gs[0].eligibility.is_ok());
    let candidates: Vec<&str> = gs[0].candidates().map(|m| m.id.as_str()).collect();
    assert_eq!(candidates, ["api-green-0", "api-green-1"]);
    assert_eq!(gs[0].excluded.len(), 2);
}

#[test]
fn canary_and_baseline_groups_are_never_eligible() {
    let s = settings("{}", SERVICES);
    let mut members = fleet_as("c", "api", 1, &[("cluster", "api-canary")]);
    members.extend(fleet_as("b", "api", 1, &[("cluster", "api-baseline")]));
    members.extend(fleet_as("r", "web", 2, &[("role", "canary")]));
    members.extend(fleet_as(
        "rb",
        "web",
        2,
        &[("role", "Baseline"), ("cluster", "web-b")],
    ));
    let gs = groups(&s, members);
    let reasons: Vec<(&str, Result<(), Ineligible>)> = gs
        .iter()
        .map(|g| (g.key.0.as_str(), g.eligibility.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("api-baseline", Err(Ineligible::Baseline)),
            ("api-canary", Err(Ineligible::Canary)),
            ("web", Err(Ineligible::Canary)),
            ("web-b", Err(Ineligible::Baseline)),
        ]
    );
    // In an app group the canary is left out and the rest stay candidates.
    let s = settings("grouping: app", SERVICES);
    let mut members = fleet("api", 2, &[]);
    members.extend(fleet_as("api-c", "api", 1, &[("role", "canary")]));
    let gs = groups(&s, members);
    assert_eq!(gs[0].candidates().count(), 2);
    assert_eq!(
        gs[0].exclusion(gs[0].member("api-c-0").unwrap()),
        Some(&Ineligible::Canary)
    );
}

fn slot() -> Slot {
    Slot {
        id: SlotId(20_094),
        opens: ts("2025-01-06T09:00:00Z"),
        closes: ts("2025-01-06T15:00:00Z"),
    }
}

#[test]
fn a_plan_is_the_same_for_the_same_seed_slot_and_group() {
    let s = settings(
        "mean_time_between_kills: 2\nwindow: { time_zone: UTC }",
        SERVICES,
    );
    let mut members = Vec::new();
    for c in 0..40 {
        members.extend(fleet_as(
            &format!("a{c}"),
            "api",
            2,
            &[("cluster", &format!("api-{c}"))],
        ));
    }
    let gs = groups(&s, members);
    let all: Vec<_> = gs.iter().collect();
    let plans = ChaosSchedule::new(s.clone(), 9).plan(&slot(), &all);
    assert!(
        (10..=30).contains(&plans.len()),
        "about half of 40 groups: {}",
        plans.len()
    );
    for p in &plans {
        assert!(slot().contains(p.at), "{p:?}");
        assert_eq!(p.slot, slot().id);
    }
    assert!(
        plans.windows(2).all(|w| w[0].at <= w[1].at),
        "in time order"
    );
    // Again, with the groups reversed and half of them gone: the same
    // draws for the groups that are left.
    let mut fewer: Vec<_> = gs.iter().step_by(2).collect();
    fewer.reverse();
    let again = ChaosSchedule::new(s.clone(), 9).plan(&slot(), &fewer);
    let kept: Vec<_> = plans
        .iter()
        .filter(|p| fewer.iter().any(|g| g.key == p.group))
        .cloned()
        .collect();
    assert_eq!(again, kept);
    // Another seed draws otherwise.
    assert_ne!(ChaosSchedule::new(s, 10).plan(&slot(), &all), plans);
}

#[test]
fn only_eligible_groups_are_planned() {
    let s = settings(
        "mean_time_between_kills: 1\nwindow: { time_zone: UTC }",
        SERVICES,
    );
    let mut members = fleet("db", 3, &[]);
    members.extend(fleet_as("c", "api", 3, &[("role", "canary")]));
    members.extend(fleet("web", 3, &[]));
    let gs = groups(&s, members);
    let plans = ChaosSchedule::new(s, 1).plan(&slot(), &gs.iter().collect::<Vec<_>>());
    let planned: Vec<&GroupKey> = plans.iter().map(|p| &p.group).collect();
    assert_eq!(
        planned,
        [&GroupKey("web".into())],
        "mean 1 draws every eligible group"
    );
}

#[test]
fn the_pick_is_uniform_over_candidates() {
    let s = settings("grouping: app", SERVICES);
    let mut members = fleet("api", 4, &[]);
    members.extend(fleet_as("api-c", "api", 2, &[("role", "canary")]));
    let gs = groups(&s, members);
    let mut schedule = ChaosSchedule::new(s, 3);
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..8000 {
        let m = schedule.pick(&gs[0]).unwrap();
        *counts.entry(m.id.clone()).or_default() += 1;
    }
    assert_eq!(counts.len(), 4, "never a canary: {counts:?}");
    for (id, n) in counts {
        assert!((1800..=2200).contains(&n), "{id}: {n} of 8000");
    }
}

/// `*` as any run of characters, by brute force.
fn naive_match(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) => (0..=t.len()).any(|i| naive_match(rest, &t[i..])),
        Some((c, rest)) => t.first() == Some(c) && naive_match(rest, &t[1..]),
    }
}

proptest::proptest! {
    #[test]
    fn wildcards_match_as_brute_force_does(p in "[ab*-]{0,8}", t in "[ab-]{0,10}") {
        proptest::prop_assert_eq!(
            ordo_config::manifest::wildcard_match(&p, &t),
            naive_match(p.as_bytes(), t.as_bytes())
        );
    }
}

//! Each guardrail, the order in which they are checked, the minimum
//! healthy arithmetic, what a skip says, and the blast radius.

mod common;

use common::{fleet, fleet_as, settings, ts};
use ordo_chaos::{
    ChaosSettings, Closed, Facts, Group, Ineligible, Skip, Slot, SlotId, Timestamp, blast_radius,
    check, check_now, groups,
};

const SERVICES: &str = "\
- { name: api, command: x, chaos: {} }
- { name: db, command: x }
";

const BASE: &str = "\
enabled: true
window: { time_zone: UTC }
holidays: [2025-01-01]
";

fn base(extra: &str) -> ChaosSettings {
    settings(&format!("{BASE}{extra}"), SERVICES)
}

/// Monday 2025-01-06's slot, and an instant inside it.
fn monday(s: &ChaosSettings) -> (Slot, Timestamp) {
    let now = ts("2025-01-06T10:00:00Z");
    (s.calendar().slot_at(now).unwrap(), now)
}

fn api(s: &ChaosSettings, healthy: &[bool]) -> Group {
    let mut members = fleet("api", healthy.len(), &[]);
    for (m, h) in members.iter_mut().zip(healthy) {
        m.healthy = *h;
    }
    groups(s, members).remove(0)
}

fn verdict(s: &ChaosSettings, g: &Group, victim: usize, facts: &Facts) -> Result<(), Skip> {
    let (slot, now) = monday(s);
    check(s, now, &slot, g, g.members.get(victim), facts)
}

#[test]
fn a_kill_passes_when_nothing_is_in_the_way() {
    let s = base("");
    let g = api(&s, &[true, true, true]);
    assert_eq!(verdict(&s, &g, 0, &Facts::calm()), Ok(()));
}

#[test]
fn the_switches_come_first() {
    let s = base("");
    let g = api(&s, &[true, true, true]);
    let everything = Facts {
        halted: true,
        paused: true,
        error_rate: None,
        deploying: true,
        last_kill: None,
    };
    let off = s.clone().with_enabled(false);
    assert_eq!(verdict(&off, &g, 0, &everything), Err(Skip::Disabled));
    let db = groups(&s, fleet("db", 3, &[])).remove(0);
    assert_eq!(verdict(&s, &db, 0, &everything), Err(Skip::NotOptedIn));
    assert_eq!(verdict(&s, &g, 0, &everything), Err(Skip::Halted));
    let paused = Facts {
        halted: false,
        ..everything.clone()
    };
    assert_eq!(verdict(&s, &g, 0, &paused), Err(Skip::Paused));
    // Leashed settings decide the same.
    let leashed = s.clone().with_leashed(true);
    assert!(leashed.leashed());
    assert_eq!(verdict(&leashed, &g, 0, &paused), Err(Skip::Paused));
    assert_eq!(verdict(&leashed, &g, 0, &Facts::calm()), Ok(()));
}

#[test]
fn kills_happen_only_inside_the_planned_slot() {
    let s = base("");
    let g = api(&s, &[true, true, true]);
    let (slot, _) = monday(&s);
    let at = |t: &str| check(&s, ts(t), &slot, &g, g.members.first(), &Facts::calm());
    assert_eq!(
        at("2025-01-04T10:00:00Z"),
        Err(Skip::Closed(Closed::Weekend))
    );
    assert_eq!(
        at("2025-01-01T10:00:00Z"),
        Err(Skip::Closed(Closed::Holiday))
    );
    assert_eq!(
        at("2025-01-06T08:00:00Z"),
        Err(Skip::Closed(Closed::OutsideHours))
    );
    assert_eq!(
        at("2025-01-06T15:00:00Z"),
        Err(Skip::Closed(Closed::OutsideHours))
    );
    assert_eq!(
        at("2025-01-07T10:00:00Z"),
        Err(Skip::Closed(Closed::OutsideSlot))
    );
    assert_eq!(at("2025-01-06T14:59:59Z"), Ok(()));
}

#[test]
fn ineligible_groups_and_victims_are_refused() {
    let s = base("exceptions: [ { service: api, stack: blue } ]\n");
    let canary = groups(&s, fleet("api", 3, &[("cluster", "api-canary")])).remove(0);
    assert_eq!(
        verdict(&s, &canary, 0, &Facts::calm()),
        Err(Skip::Ineligible(Ineligible::Canary))
    );
    // A victim excluded from a group that has other candidates.
    let mut members = fleet_as("blue", "api", 1, &[("stack", "blue")]);
    members.extend(fleet("api", 3, &[]));
    let g = groups(&s, members).remove(0);
    let blue = g.member("blue-0").unwrap();
    let (slot, now) = monday(&s);
    assert_eq!(
        check(&s, now, &slot, &g, Some(blue), &Facts::calm()),
        Err(Skip::Ineligible(Ineligible::Excepted {
            rule: "chaos.exceptions[0] {service: api, stack: blue}".into()
        }))
    );
}

#[test]
fn the_minimum_interval_counts_work_slots() {
    let last = |slot: &str| Facts {
        last_kill: Some(SlotId(ts(slot).as_second() / 86_400)),
        ..Facts::calm()
    };
    let monday = "2025-01-06T10:00:00Z";
    let friday = "2025-01-03T10:00:00Z";
    let s = base("");
    let g = api(&s, &[true, true, true]);
    assert_eq!(
        verdict(&s, &g, 0, &last(friday)),
        Ok(()),
        "min 1: the next work day"
    );
    assert_eq!(
        verdict(&s, &g, 0, &last(monday)),
        Err(Skip::TooSoon {
            last: SlotId(20_094),
            since: 0,
            min: 1
        })
    );
    let s = base("mean_time_between_kills: 3\nmin_time_between_kills: 3\n");
    let g = api(&s, &[true, true, true]);
    assert_eq!(
        verdict(&s, &g, 0, &last(friday)),
        Err(Skip::TooSoon {
            last: SlotId(20_091),
            since: 1,
            min: 3
        })
    );
    assert_eq!(
        verdict(&s, &g, 0, &last("2025-01-01T10:00:00Z")),
        Ok(()),
        "holiday, Thu, Fri, Mon"
    );
    let s = base("min_time_between_kills: 0\n");
    let g = api(&s, &[true, true, true]);
    assert_eq!(verdict(&s, &g, 0, &last(friday)), Ok(()));
    assert!(
        matches!(verdict(&s, &g, 0, &last(monday)), Err(Skip::TooSoon { .. })),
        "never twice in one slot"
    );
}

#[test]
fn an_outage_or_a_deploy_stops_kills() {
    let s = base("");
    let g = api(&s, &[true, true, true]);
    let rate = |r: Option<f64>| Facts {
        error_rate: r,
        ..Facts::calm()
    };
    assert_eq!(
        verdict(&s, &g, 0, &rate(Some(0.06))),
        Err(Skip::Outage {
            error_rate: 0.06,
            max: 0.05
        })
    );
    assert_eq!(
        verdict(&s, &g, 0, &rate(Some(0.05))),
        Ok(()),
        "at the threshold is fine"
    );
    assert_eq!(verdict(&s, &g, 0, &rate(None)), Err(Skip::ErrorRateUnknown));
    assert_eq!(
        verdict(&s, &g, 0, &rate(Some(f64::NAN))),
        Err(Skip::ErrorRateUnknown)
    );
    let deploying = Facts {
        deploying: true,
        ..Facts::calm()
    };
    assert_eq!(verdict(&s, &g, 0, &deploying), Err(Skip::Deploying));

    let lax = base("outage: { max_error_rate: 0.5, deploys: false }\n");
    let g = api(&lax, &[true, true, true]);
    assert_eq!(verdict(&lax, &g, 0, &rate(Some(0.4))), Ok(()));
    assert_eq!(verdict(&lax, &g, 0, &deploying), Ok(()));
    let off = base("outage: null\n");
    let g = api(&off, &[true, true, true]);
    assert_eq!(
        verdict(&off, &g, 0, &rate(None)),
        Ok(()),
        "the check turned off"
    );
}

#[test]
fn a_kill_never_leaves_fewer_healthy_than_required() {
    // The default: one healthy instance stays.
    let s = base("");
    let single = api(&s, &[true]);
    assert_eq!(
        verdict(&s, &single, 0, &Facts::calm()),
        Err(Skip::MinHealthy {
            healthy: 1,
            after: 0,
            required: 1
        })
    );
    let s = base("min_healthy: 2\n");
    let g = api(&s, &[true, true, false]);
    assert_eq!(
        verdict(&s, &g, 0, &Facts::calm()),
        Err(Skip::MinHealthy {
            healthy: 2,
            after: 1,
            required: 2
        })
    );
    assert_eq!(
        verdict(&s, &g, 2, &Facts::calm()),
        Ok(()),
        "an unhealthy victim costs nothing"
    );
    // 50% of 3 is 2 (rounded up); 50% of 4 is 2.
    let s = base("min_healthy: 50%\n");
    assert!(matches!(
        verdict(&s, &api(&s, &[true, true, false]), 0, &Facts::calm()),
        Err(Skip::MinHealthy { required: 2, .. })
    ));
    assert_eq!(
        verdict(&s, &api(&s, &[true, true, true, false]), 0, &Facts::calm()),
        Ok(())
    );
    let s = base("min_healthy: 0\n");
    assert_eq!(verdict(&s, &api(&s, &[true]), 0, &Facts::calm()), Ok(()));
    // A service's own setting wins.
    let s = settings(
        BASE,
        "- { name: api, command: x, chaos: { min_healthy: 3 } }\n",
    );
    assert!(matches!(
        verdict(&s, &api(&s, &[true, true, true]), 0, &Facts::calm()),
        Err(Skip::MinHealthy { required: 3, .. })
    ));
}

#[test]
fn no_victim_is_the_last_reason() {
    let s = base("");
    let g = api(&s, &[true, true, true]);
    assert_eq!(verdict(&s, &g, 99, &Facts::calm()), Err(Skip::NoMember));
    let stranger = fleet("web", 1, &[]).remove(0);
    let (slot, now) = monday(&s);
    assert_eq!(
        check(&s, now, &slot, &g, Some(&stranger), &Facts::calm()),
        Err(Skip::NoMember)
    );
    // A group already below its minimum says so rather than `no-member`.
    let s = base("min_healthy: 3\n");
    let g = api(&s, &[true, true]);
    assert!(matches!(
        verdict(&s, &g, 99, &Facts::calm()),
        Err(Skip::MinHealthy { after: 2, .. })
    ));
}

#[test]
fn kill_now_skips_the_calendar_but_not_the_rest() {
    let s = base("");
    let g = api(&s, &[true, true, true]);
    let facts = Facts {
        last_kill: Some(SlotId(i64::MAX)),
        ..Facts::calm()
    };
    assert_eq!(check_now(&s, &g, g.members.first(), &facts), Ok(()));
    let halted = Facts {
        halted: true,
        ..Facts::calm()
    };
    assert_eq!(
        check_now(&s, &g, g.members.first(), &halted),
        Err(Skip::Halted)
    );
    assert!(matches!(
        check_now(
            &s,
            &api(&s, &[true]),
            Some(&fleet("api", 1, &[])[0]),
            &Facts::calm()
        ),
        Err(Skip::MinHealthy { .. })
    ));
}

#[test]
fn a_skip_has_a_code_a_sentence_and_its_numbers() {
    let skips = [
        (Skip::Disabled, "disabled"),
        (Skip::NotOptedIn, "not-opted-in"),
        (Skip::Halted, "halted"),
        (Skip::Paused, "paused"),
        (Skip::Closed(Closed::Weekend), "weekend"),
        (Skip::Closed(Closed::Holiday), "holiday"),
        (Skip::Closed(Closed::OutsideHours), "outside-hours"),
        (Skip::Closed(Closed::OutsideSlot), "outside-slot"),
        (Skip::Ineligible(Ineligible::Canary), "canary"),
        (Skip::Ineligible(Ineligible::Baseline), "baseline"),
        (
            Skip::Ineligible(Ineligible::Excepted {
                rule: "chaos.exceptions[0] {service: api}".into(),
            }),
            "excepted",
        ),
        (
            Skip::TooSoon {
                last: SlotId(1),
                since: 0,
                min: 1,
            },
            "too-soon",
        ),
        (
            Skip::Outage {
                error_rate: 0.2,
                max: 0.05,
            },
            "outage",
        ),
        (Skip::ErrorRateUnknown, "error-rate-unknown"),
        (Skip::Deploying, "deploying"),
        (
            Skip::MinHealthy {
                healthy: 2,
                after: 1,
                required: 2,
            },
            "min-healthy",
        ),
        (Skip::NoMember, "no-member"),
    ];
    for (skip, code) in skips {
        assert_eq!(skip.code(), code);
        let sentence = skip.to_string();
        assert!(
            sentence.len() > 20 && !sentence.ends_with('.'),
            "{sentence}"
        );
        let json = serde_json::to_value(&skip).unwrap();
        assert_eq!(json["code"], code);
        assert_eq!(json["message"], sentence);
    }
    let json = serde_json::to_value(Skip::MinHealthy {
        healthy: 2,
        after: 1,
        required: 2,
    })
    .unwrap();
    assert_eq!(json["after"], 1);
    assert_eq!(
        Skip::Outage {
            error_rate: 0.2,
            max: 0.05
        }
        .to_string(),
        "the service's error rate 20.00% is above the outage threshold 5.00% \
         (chaos.outage.max_error_rate): a kill now would make an outage worse"
    );
    assert!(Skip::Halted.to_string().contains("ordo chaos resume"));
}

#[test]
fn the_blast_radius_shows_rates_and_what_may_go() {
    let s = settings(
        "enabled: true\nmin_healthy: 2\nwindow: { time_zone: UTC }",
        "\
- { name: api, command: x, chaos: {} }
- { name: web, command: x, chaos: { mean_time_between_kills: 2, min_time_between_kills: 2 } }
- { name: db, command: x }
",
    );
    let mut members = fleet("api", 4, &[]);
    members[3].healthy = false;
    members.extend(fleet("web", 2, &[]));
    members.extend(fleet("db", 2, &[]));
    let r = blast_radius(&s, &groups(&s, members));
    assert_eq!(r.slot_unit, "work day");
    assert_eq!(r.eligible_groups, 2);
    let api = &r.groups[0];
    assert_eq!((api.members, api.healthy, api.candidates), (4, 3, 4));
    assert_eq!(api.probability_per_slot, 0.2);
    assert_eq!(api.expected_kills_per_week, Some(1.0));
    assert_eq!(api.min_healthy_required, 2);
    assert_eq!(api.killable_now, 2, "one healthy and the unhealthy one");
    let db = &r.groups[1];
    assert!(!db.eligible);
    assert_eq!(db.ineligible, Some(Ineligible::NotOptedIn));
    assert_eq!(db.killable_now, 0);
    let web = &r.groups[2];
    assert!((web.expected_kills_per_week.unwrap() - 5.0 / 3.0).abs() < 1e-9);
    assert_eq!(web.killable_now, 0, "2 healthy, 2 required");
    assert_eq!(r.killable_now, 2);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["groups"][1]["ineligible"]["code"], "not-opted-in");

    let s = settings(
        "slot: 5s\nwindow: { start_hour: 0, end_hour: 24, weekdays_only: false, time_zone: UTC }",
        "- { name: api, command: x, chaos: {} }\n",
    );
    let r = blast_radius(&s, &groups(&s, fleet("api", 3, &[])));
    assert_eq!(r.slot_unit, "slot");
    assert!((r.groups[0].expected_kills_per_minute.unwrap() - 2.4).abs() < 1e-9);
    assert_eq!(r.groups[0].expected_kills_per_week, None);
}

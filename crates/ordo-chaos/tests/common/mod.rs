//! Settings from manifest snippets, fleets and instants, for the tests.
#![allow(dead_code, reason = "each test file uses some of these")]

use std::collections::BTreeMap;

use ordo_chaos::{ChaosSettings, Member, Timestamp};

/// The settings of a manifest whose `chaos:` section is `chaos` (YAML,
/// one mapping per line) and whose services are `services` (a YAML list).
pub(crate) fn settings(chaos: &str, services: &str) -> ChaosSettings {
    let indented: String = chaos.lines().map(|l| format!("  {l}\n")).collect();
    let text = format!("name: test\nchaos:\n{indented}services:\n{services}");
    let m = match ordo_config::parse::<ordo_config::manifest::Manifest>(&text, "ordo.yaml") {
        Ok(doc) => doc.config,
        Err(e) => panic!("a bad manifest:\n{e}\n--- in:\n{text}"),
    };
    ChaosSettings::from_manifest(&m).expect("settings")
}

/// `n` healthy instances `{service}-{i}` with `metadata`.
pub(crate) fn fleet(service: &str, n: usize, metadata: &[(&str, &str)]) -> Vec<Member> {
    fleet_as(service, service, n, metadata)
}

/// `n` healthy instances `{prefix}-{i}` of `service` with `metadata`.
pub(crate) fn fleet_as(
    prefix: &str,
    service: &str,
    n: usize,
    metadata: &[(&str, &str)],
) -> Vec<Member> {
    let md: BTreeMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (0..n)
        .map(|i| Member::from_metadata(&format!("{prefix}-{i}"), service, &md, true))
        .collect()
}

pub(crate) fn ts(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

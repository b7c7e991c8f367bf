//! Groups and eligibility: which instances are weighed together, and
//! which may never be killed.
//!
//! Each group gets at most one kill per slot. A service is grouped by its
//! (or the top-level) `grouping`:
//!
//! | grouping | a group is | its key |
//! |---|---|---|
//! | `app` | the service's instances | `ratings` |
//! | `stack` | the service's instances of one stack | `ratings/eu`; `ratings` for instances without a stack |
//! | `cluster` | the instances of one cluster (the service's name without `cluster` metadata) | `ratings-main` |
//!
//! Service names cannot hold `/`, so stack keys never clash with service
//! names. Should one key still be used by groups of two services (two
//! services naming the same cluster), each of those groups is keyed
//! `<key>@<service>`.
//!
//! An instance is never a candidate when an exception matches it, or when
//! it is a canary or a baseline (`role` metadata `canary` or `baseline`,
//! or a cluster named `*-canary` or `*-baseline`): those are being judged,
//! and a kill would spoil the judgement. A group mixing such instances with
//! others keeps the others as candidates; a group with no candidate left is
//! ineligible, with the reason of its first instance (by id).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ordo_config::manifest::Grouping;
use serde::Serialize;

use crate::ChaosSettings;

/// The metadata key of an instance's stack.
pub const STACK: &str = "stack";
/// The metadata key of an instance's cluster.
pub const CLUSTER: &str = "cluster";
/// The metadata key of an instance's role (`canary`, `baseline`).
pub const ROLE: &str = "role";

/// An instance as Chaos Monkey sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The instance's id, as the platform knows it.
    pub id: String,
    /// Its service.
    pub service: String,
    /// Its stack; empty when it has none.
    pub stack: String,
    /// Its cluster; the service's name when it has none.
    pub cluster: String,
    /// Its role (`canary`, `baseline`), if any.
    pub role: Option<String>,
    /// Healthy in the live registry.
    pub healthy: bool,
}

impl Member {
    /// An instance of `service` from its registry metadata: `stack`,
    /// `cluster` (default the service's name) and `role`.
    pub fn from_metadata(
        id: &str,
        service: &str,
        metadata: &BTreeMap<String, String>,
        healthy: bool,
    ) -> Member {
        let get = |k: &str| metadata.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        Member {
            id: id.to_owned(),
            service: service.to_owned(),
            stack: get(STACK).unwrap_or_default().to_owned(),
            cluster: get(CLUSTER).unwrap_or(service).to_owned(),
            role: get(ROLE).map(str::to_owned),
            healthy,
        }
    }

    /// A healthy instance of `service` with no metadata.
    pub fn new(id: &str, service: &str) -> Member {
        Member::from_metadata(id, service, &BTreeMap::new(), true)
    }

    /// Canary or baseline, by role or by cluster name; none for others.
    pub fn judged(&self) -> Option<Ineligible> {
        let role = self.role.as_deref().map(str::to_ascii_lowercase);
        let cluster = self.cluster.to_ascii_lowercase();
        if role.as_deref() == Some("canary") || cluster.ends_with("-canary") {
            Some(Ineligible::Canary)
        } else if role.as_deref() == Some("baseline") || cluster.ends_with("-baseline") {
            Some(Ineligible::Baseline)
        } else {
            None
        }
    }

    /// The grouping value under `grouping`, before any clash is resolved.
    fn key(&self, grouping: Grouping) -> String {
        match grouping {
            Grouping::App => self.service.clone(),
            Grouping::Stack if self.stack.is_empty() => self.service.clone(),
            Grouping::Stack => format!("{}/{}", self.service, self.stack),
            Grouping::Cluster => self.cluster.clone(),
        }
    }
}

/// A group's name: see the module's table.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(transparent)]
pub struct GroupKey(pub String);

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a group (or an instance) may not be killed.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, Hash)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Ineligible {
    /// Its service has not opted in.
    NotOptedIn,
    /// An exception matches it.
    Excepted {
        /// The exception, as `chaos.exceptions[0] {service: web}`.
        rule: String,
    },
    /// A canary, being judged.
    Canary,
    /// A canary's baseline, being judged.
    Baseline,
}

impl Ineligible {
    /// A stable kebab-case code: `not-opted-in`, `excepted`, `canary`,
    /// `baseline`.
    pub fn code(&self) -> &'static str {
        match self {
            Ineligible::NotOptedIn => "not-opted-in",
            Ineligible::Excepted { .. } => "excepted",
            Ineligible::Canary => "canary",
            Ineligible::Baseline => "baseline",
        }
    }
}

impl fmt::Display for Ineligible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ineligible::NotOptedIn => f.write_str(
                "the service has not opted in to Chaos Monkey; give it a `chaos: {}` block in the manifest",
            ),
            Ineligible::Excepted { rule } => write!(f, "excepted by {rule}"),
            Ineligible::Canary => {
                f.write_str("a canary is never killed: it is being judged against its baseline")
            }
            Ineligible::Baseline => {
                f.write_str("a baseline is never killed: a canary is being judged against it")
            }
        }
    }
}

/// Instances weighed together: at most one of them is killed per slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its key.
    pub key: GroupKey,
    /// Its service.
    pub service: String,
    /// All its instances, by id (candidates or not).
    pub members: Vec<Member>,
    /// Ok when it has candidates; else why not.
    pub eligibility: Result<(), Ineligible>,
    /// The members that are never candidates, by id, with the reason.
    pub excluded: BTreeMap<String, Ineligible>,
}

impl Group {
    /// The members that may be killed: none when the group is ineligible.
    pub fn candidates(&self) -> impl Iterator<Item = &Member> {
        let eligible = self.eligibility.is_ok();
        self.members
            .iter()
            .filter(move |m| eligible && !self.excluded.contains_key(&m.id))
    }

    /// Why `member` may not be killed; none when it may (or is not in the
    /// group).
    pub fn exclusion(&self, member: &Member) -> Option<&Ineligible> {
        self.excluded
            .get(&member.id)
            .or(self.eligibility.as_ref().err())
    }

    /// The member with id `id`.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Its healthy members.
    pub fn healthy(&self) -> u32 {
        self.members.iter().filter(|m| m.healthy).count() as u32
    }
}

/// The groups of `members` under `settings`, sorted by key, each with its
/// eligibility. Members of services that have not opted in form groups
/// too (under the top-level grouping), ineligible, so that a plan can show
/// them.
pub fn groups(settings: &ChaosSettings, members: Vec<Member>) -> Vec<Group> {
    let mut by: BTreeMap<(String, String), Vec<Member>> = BTreeMap::new();
    for m in members {
        let grouping = settings.service_or_default(&m.service).grouping;
        by.entry((m.key(grouping), m.service.clone()))
            .or_default()
            .push(m);
    }
    // A key two opted-in services share is qualified with the service. The
    // keys of groups that may be drawn depend only on opted-in services,
    // so they stay the same while other services' instances come and go
    // (a key that changed mid-slot would get a fresh draw); a group that
    // is never drawn is qualified whenever its key is taken.
    let mut opted_in_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut all_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, service) in by.keys() {
        *all_of.entry(key).or_default() += 1;
        if settings.opted_in(service) {
            opted_in_of.entry(key).or_default().insert(service);
        }
    }
    let qualified = |key: &str, service: &str| {
        if settings.opted_in(service) {
            opted_in_of.get(key).is_some_and(|s| s.len() > 1)
        } else {
            all_of.get(key).is_some_and(|n| *n > 1)
        }
    };
    let qualify: BTreeSet<(String, String)> = by
        .keys()
        .filter(|(k, s)| qualified(k, s))
        .cloned()
        .collect();
    let mut out: Vec<Group> = by
        .into_iter()
        .map(|((key, service), mut members)| {
            members.sort_by(|a, b| a.id.cmp(&b.id));
            let key = if qualify.contains(&(key.clone(), service.clone())) {
                format!("{key}@{service}")
            } else {
                key
            };
            group(settings, GroupKey(key), service, members)
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn group(settings: &ChaosSettings, key: GroupKey, service: String, members: Vec<Member>) -> Group {
    if !settings.opted_in(&service) {
        return Group {
            key,
            service,
            members,
            eligibility: Err(Ineligible::NotOptedIn),
            excluded: BTreeMap::new(),
        };
    }
    let excluded: BTreeMap<String, Ineligible> = members
        .iter()
        .filter_map(|m| {
            let why = match settings.exception_for(m) {
                Some(e) => Some(Ineligible::Excepted {
                    rule: e.to_string(),
                }),
                None => m.judged(),
            };
            why.map(|w| (m.id.clone(), w))
        })
        .collect();
    let eligibility = if members.iter().any(|m| !excluded.contains_key(&m.id)) {
        Ok(())
    } else {
        Err(members
            .first()
            .and_then(|m| excluded.get(&m.id))
            .cloned()
            .unwrap_or(Ineligible::NotOptedIn))
    };
    Group {
        key,
        service,
        members,
        eligibility,
        excluded,
    }
}

//! The schedule: for each slot, which groups lose an instance and when,
//! and which instance.
//!
//! Each eligible group gets one Bernoulli draw per slot with probability
//! 1/mean (its service's `mean_time_between_kills`); a drawn group gets a
//! time uniform in the slot's `[opens, closes)`, to the millisecond.
//!
//! The draws of a slot come from a ChaCha8 stream keyed by the schedule's
//! seed, the slot's id and the group's key, not from one shared stream:
//! planning the same slot again (after a restart, or for a group that
//! appeared late) gives the same answer for every group, whatever other
//! groups exist and whatever was planned before. The victim is picked at
//! kill time, from the schedule's own seeded stream, among the group's
//! candidates then.

use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::{ChaosSettings, Group, GroupKey, Member, Slot, SlotId};

/// One planned kill: a group loses an instance at `at`, if the guardrails
/// allow it then.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The group.
    pub group: GroupKey,
    /// Its service.
    pub service: String,
    /// The slot it belongs to.
    pub slot: SlotId,
    /// When the kill is due.
    pub at: Timestamp,
}

/// Chaos Monkey's schedule: its settings and seeded random source.
#[derive(Debug, Clone)]
pub struct ChaosSchedule {
    settings: ChaosSettings,
    seed: u64,
    picks: ChaCha8Rng,
}

impl ChaosSchedule {
    /// A schedule drawing from `seed` (use the manifest's `chaos.seed`
    /// when it has one).
    pub fn new(settings: ChaosSettings, seed: u64) -> Self {
        ChaosSchedule {
            settings,
            seed,
            picks: ChaCha8Rng::from_seed(key(seed, u64::MAX, "pick")),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &ChaosSettings {
        &self.settings
    }

    /// Its seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The kills of `slot`: one Bernoulli(1/mean) draw per eligible group
    /// of an opted-in service (others are left out), then a time uniform
    /// in `[opens, closes)`. Sorted by time, then key. The same seed, slot
    /// id and group key always give the same draw (see the module doc),
    /// so a slot can be planned again; pass a slot whose `opens` is now to
    /// plan only what is left of it.
    pub fn plan(&mut self, slot: &Slot, groups: &[&Group]) -> Vec<Plan> {
        let mut plans: Vec<Plan> = groups
            .iter()
            .filter(|g| g.eligibility.is_ok() && self.settings.opted_in(&g.service))
            .filter_map(|g| {
                let p = self.settings.service_or_default(&g.service).probability();
                let mut rng = ChaCha8Rng::from_seed(key(self.seed, slot.id.0 as u64, &g.key.0));
                if !rng.random_bool(p) {
                    return None;
                }
                let at = uniform(&mut rng, slot.opens, slot.closes)?;
                Some(Plan {
                    group: g.key.clone(),
                    service: g.service.clone(),
                    slot: slot.id.clone(),
                    at,
                })
            })
            .collect();
        plans.sort_by(|a, b| (a.at, &a.group).cmp(&(b.at, &b.group)));
        plans.dedup_by(|a, b| a.group == b.group);
        plans
    }

    /// A candidate of `group`, uniformly; none when it has none.
    pub fn pick<'a>(&mut self, group: &'a Group) -> Option<&'a Member> {
        let candidates: Vec<&Member> = group.candidates().collect();
        if candidates.is_empty() {
            return None;
        }
        let i = self.picks.random_range(0..candidates.len());
        Some(candidates[i])
    }
}

/// A time uniform in `[opens, closes)` to the millisecond; `opens` when
/// the span is under a millisecond, none when it is empty.
fn uniform(rng: &mut ChaCha8Rng, opens: Timestamp, closes: Timestamp) -> Option<Timestamp> {
    if closes <= opens {
        return None;
    }
    let span = closes.duration_since(opens).as_millis();
    let span = u64::try_from(span).unwrap_or(u64::MAX);
    if span == 0 {
        return Some(opens);
    }
    let offset = rng.random_range(0..span);
    opens
        .checked_add(SignedDuration::from_millis(offset as i64))
        .ok()
}

/// A ChaCha key from the seed, a number and a name: SplitMix64 over
/// FNV-1a, both fixed algorithms, so draws are the same on every platform
/// and Rust version.
fn key(seed: u64, n: u64, name: &str) -> [u8; 32] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut state = seed ^ splitmix(n ^ splitmix(h));
    let mut out = [0u8; 32];
    for chunk in out.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        chunk.copy_from_slice(&splitmix(state).to_le_bytes());
    }
    out
}

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

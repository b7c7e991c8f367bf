//! [`Stats`]: an upstream's request counters, as [`Upstream::stats`](super::Upstream::stats)
//! returns them and `GET /__ordo/stats` answers them (JSON).

use serde::{Deserialize, Serialize};

/// A snapshot of an upstream's counters.
///
/// As JSON (`GET /__ordo/stats`):
/// `{"name":"a","hits":12,"health_hits":3,"in_flight":0,"max_in_flight":4}`.
/// Each counter is read on its own, so a snapshot taken under load is not
/// one instant across all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The upstream's name, as sent in `x-upstream`.
    pub name: String,
    /// Requests received, not counting `/health` or control (`/__ordo/…`) requests.
    pub hits: u64,
    /// `/health` requests received.
    pub health_hits: u64,
    /// Requests being handled now (counted like `hits`, including those
    /// waiting for a capacity slot).
    pub in_flight: usize,
    /// The most requests handled at once since the start or the last reset.
    pub max_in_flight: usize,
}

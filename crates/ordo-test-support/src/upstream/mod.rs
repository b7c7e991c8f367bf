//! [`Upstream`]: a real HTTP server on a free local port whose behaviour a
//! test scripts while it runs.
//!
//! Routes, in the order they are checked:
//! - `/health` answers `200 ok` or `503 unhealthy` ([`Upstream::set_healthy`]),
//!   counted in [`Upstream::health_hits`], never affected by behaviours;
//! - `/__ordo/…`, when [`UpstreamBuilder::control`] is on: the control API
//!   (`PUT /__ordo/behaviour`, `GET /__ordo/stats`, `POST /__ordo/stats/reset`),
//!   not counted in any counter;
//! - an HTTP/1.1 upgrade request (or `/ws`, which insists on one) gets `101`
//!   and a raw byte echo;
//! - everything else is answered by the active [`Behaviour`].
//!
//! Every response carries the [`X_UPSTREAM`] header with the upstream's name.

mod behaviour;
mod body;
mod builder;
mod control;
mod echo;
mod ratio;
mod recorded;
mod respond;
mod server;
mod state;
mod stats;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use behaviour::{Behaviour, Profile};
pub use builder::UpstreamBuilder;
pub use control::{BehaviourSpec, SpecError};
pub use echo::Echoed;
pub use recorded::Recorded;
pub use respond::X_UPSTREAM;
pub use stats::Stats;

use state::Shared;

/// A running upstream server. Dropping it stops the server, as
/// [`Upstream::shutdown`] does without waiting.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// A builder for an upstream named `"upstream"` on `127.0.0.1:0`.
    pub fn builder() -> UpstreamBuilder {
        UpstreamBuilder::default()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`; `path` should start with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The upstream's name, as sent in `x-upstream`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Requests received, not counting `/health` or control requests.
    pub fn hits(&self) -> u64 {
        self.shared.hits()
    }

    /// `/health` requests received.
    pub fn health_hits(&self) -> u64 {
        self.shared.health_hits()
    }

    /// Requests being handled now (counted like [`Upstream::hits`], including
    /// those waiting for a [`Behaviour::Capacity`] slot).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// The most requests handled at once since the start or the last
    /// [`Upstream::reset_stats`].
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight()
    }

    /// All counters at once, as `GET /__ordo/stats` answers them.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Zeroes [`Upstream::hits`] and [`Upstream::health_hits`], and restarts
    /// [`Upstream::max_in_flight`] from the requests in flight now (as
    /// `POST /__ordo/stats/reset` does). [`Upstream::in_flight`] is a gauge
    /// and keeps counting the requests still being handled.
    pub fn reset_stats(&self) {
        self.shared.reset_stats();
    }

    /// Switches behaviour for the requests that arrive from now on; requests
    /// already waiting keep the old one. Ratio counters and queues restart.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.set_behaviour(behaviour);
    }

    /// Whether `GET /health` answers `200` (`true`) or `503`.
    pub fn set_healthy(&self, healthy: bool) {
        self.shared.set_healthy(healthy);
    }

    /// The last request answered by a behaviour (not `/health`, control or
    /// upgrades), if any and if recording is on.
    pub fn last_request(&self) -> Option<Recorded> {
        self.shared.last_request()
    }

    /// Stops accepting, closes every connection (upgraded ones too) and waits
    /// for the server task to end.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        if let Err(e) = self.task.await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

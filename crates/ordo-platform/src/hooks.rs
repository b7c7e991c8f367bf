//! Hooks around each instance's life: a [`Companion`] that is told before an
//! instance first starts and when it is gone for good.
//!
//! ordo's sidecar is the companion in `ordo up`: `attach` starts a proxy for
//! the instance and registers it with the control plane, and returns the
//! environment (the dependencies' URLs) the process should see; the health
//! channel lets it report the instance UP or DOWN; `detach` deregisters it and
//! stops the proxy. The platform knows nothing of proxies or registries.

use std::net::SocketAddr;

use tokio::sync::watch;

use crate::{BoxFuture, Health};

/// Told about each instance before its process first starts; what it returns
/// is injected into the process's environment.
///
/// The local platform calls `attach` once per instance id (not again for
/// in-place restarts of a crashed process). If `attach` fails, the instance
/// backs off with the error as its reason and `attach` is tried again. Once
/// an attach succeeded, its [`Detach`] is called exactly once, when the
/// instance id ends.
pub trait Companion: Send + Sync + std::fmt::Debug + 'static {
    /// Prepares for `instance`; `health` follows its probe for as long as the
    /// instance lives (across in-place restarts).
    fn attach(
        &self,
        instance: InstanceInfo,
        health: watch::Receiver<Health>,
    ) -> BoxFuture<'static, Result<Attachment, String>>;
}

/// Who an instance is: enough for a companion to find and register it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceInfo {
    /// `<service>-<n>`.
    pub id: String,
    /// The service it belongs to.
    pub service: String,
    /// Where the instance's process listens (`127.0.0.1:$PORT`).
    pub address: SocketAddr,
}

/// What a companion gives an instance.
#[derive(Debug)]
pub struct Attachment {
    /// Added to the process's environment, after the platform's variables
    /// and the spec's.
    pub env: Vec<(String, String)>,
    /// Called once when the instance ends.
    pub detach: Box<dyn Detach>,
}

/// Undoes an [`Attachment`].
pub trait Detach: Send + std::fmt::Debug + 'static {
    /// The instance is gone: [`Ending::Graceful`] (stopped, scaled down, shut
    /// down) or [`Ending::Killed`] (`kill()`).
    fn detach(self: Box<Self>, ending: Ending) -> BoxFuture<'static, ()>;
}

/// How an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// Stopped on purpose: SIGTERM, then SIGKILL after the stop timeout.
    Graceful,
    /// Killed at once with SIGKILL, as a failure would.
    Killed,
}

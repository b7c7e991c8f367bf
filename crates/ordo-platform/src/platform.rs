//! The [`Platform`] trait: the seam between ordo's controllers and wherever
//! instances run.
//!
//! The local adapter ([`LocalPlatform`](crate::LocalPlatform)) runs processes
//! on this machine; Docker and Kubernetes adapters will implement the same
//! five calls later, so a controller (chaos monkey, deploy, autoscaler) never
//! knows which one it drives.

use std::future::Future;
use std::pin::Pin;

use crate::{InstanceState, PlatformError, ServiceSpec};

/// A boxed, sendable future: what the object-safe traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where instances live: list, start, stop, kill and scale services.
///
/// A platform keeps each service at its desired count by itself: an instance
/// whose process dies is restarted, a killed one is replaced.
pub trait Platform: Send + Sync + std::fmt::Debug + 'static {
    /// Every instance the platform runs or is (re)starting, with its state.
    fn list(&self) -> BoxFuture<'_, Result<Vec<InstanceState>, PlatformError>>;

    /// Runs a service: starts `spec.replicas` instances and keeps that count.
    /// Starting a service that runs already replaces its spec (new instances
    /// use it) and scales it to `spec.replicas`.
    fn start(&self, spec: ServiceSpec) -> BoxFuture<'_, Result<(), PlatformError>>;

    /// Stops every instance of a service gracefully (SIGTERM to the process
    /// group, SIGKILL after the stop timeout) and forgets the service.
    fn stop(&self, service: &str) -> BoxFuture<'_, Result<(), PlatformError>>;

    /// Kills one instance at once (SIGKILL to its process group), as a
    /// failure would; the platform replaces it with a new instance (new id,
    /// new port) to keep the count.
    fn kill(&self, instance: &str) -> BoxFuture<'_, Result<(), PlatformError>>;

    /// Changes a service's desired count; extra instances stop gracefully
    /// (newest first).
    fn scale(&self, service: &str, replicas: u32) -> BoxFuture<'_, Result<(), PlatformError>>;
}

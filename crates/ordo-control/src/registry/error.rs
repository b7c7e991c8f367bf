//! [`RegistryError`]: why a registry operation failed.

use crate::Problem;
use crate::problem;
use crate::store::StoreError;

/// Why a registry operation failed. Nothing changed when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registration (or the actor's name) is invalid.
    #[error("invalid registration: {}", problem::join(.0))]
    Invalid(Vec<Problem>),
    /// No instance has this id. A heartbeat that gets this should register again, as
    /// Eureka clients do: the lease lapsed, or the control plane forgot the instance.
    #[error("no instance is registered with id `{0}`")]
    NotFound(String),
    /// The store failed, so the change was not made.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task applying the change failed (a bug, or the runtime is shutting down).
    #[error("the registry's worker failed: {0}")]
    Worker(String),
}

impl RegistryError {
    /// Whether this is [`RegistryError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound(_))
    }
}

//! A bound on every await that could hang, so a broken proxy fails a test
//! instead of stalling the run.

use std::time::Duration;

/// Long enough for a loaded CI machine, short enough to notice a hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `f`, panicking with `what` if it takes longer than [`PATIENCE`].
pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {PATIENCE:?}"),
    }
}

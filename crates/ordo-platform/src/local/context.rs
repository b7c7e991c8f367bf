//! What every supervisor of a platform shares: the backoff settings and their
//! random source, the stop timeout, the companion and the audit sink.

use std::sync::Arc;
use std::time::Duration;

use super::backoff::{BackoffPolicy, Rng};
use crate::{AuditEvent, AuditSink, Companion};

/// Shared by a platform and its supervisors.
#[derive(Debug)]
pub(super) struct Context {
    pub(super) backoff: BackoffPolicy,
    pub(super) rng: Rng,
    pub(super) stop_timeout: Duration,
    pub(super) companion: Option<Arc<dyn Companion>>,
    pub(super) audit: Option<Arc<dyn AuditSink>>,
}

impl Context {
    /// Records an event if there is a sink; a failure is logged, not returned.
    pub(super) async fn record(&self, action: &str, target: &str, detail: serde_json::Value) {
        let Some(sink) = &self.audit else {
            return;
        };
        if let Err(error) = sink.record(AuditEvent::new(action, target, detail)).await {
            tracing::warn!(action, target, %error, "cannot record audit event");
        }
    }
}

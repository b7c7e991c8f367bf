//! [`LocalOptions`]: how a [`LocalPlatform`](super::LocalPlatform) runs its
//! processes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::backoff::BackoffPolicy;
use crate::{AuditSink, Companion, PlatformError};

/// Settings of a [`LocalPlatform`](super::LocalPlatform).
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Each instance's stdout and stderr are appended to
    /// `<log_dir>/<service>/<instance-id>.log`, with a header line per start.
    pub log_dir: PathBuf,
    /// The restart backoff.
    pub backoff: BackoffPolicy,
    /// How long a graceful stop waits after SIGTERM before SIGKILL. Default 10 s.
    pub stop_timeout: Duration,
    /// Told about each instance before it first starts and when it ends.
    pub companion: Option<Arc<dyn Companion>>,
    /// Where the platform records what it does.
    pub audit: Option<Arc<dyn AuditSink>>,
}

impl LocalOptions {
    /// Default settings, logging under `log_dir`, with no companion and no audit.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        LocalOptions {
            log_dir: log_dir.into(),
            backoff: BackoffPolicy::default(),
            stop_timeout: Duration::from_secs(10),
            companion: None,
            audit: None,
        }
    }

    /// Sets the restart backoff.
    pub fn backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the time between SIGTERM and SIGKILL when stopping.
    pub fn stop_timeout(mut self, stop_timeout: Duration) -> Self {
        self.stop_timeout = stop_timeout;
        self
    }

    /// Sets the companion.
    pub fn companion(mut self, companion: Arc<dyn Companion>) -> Self {
        self.companion = Some(companion);
        self
    }

    /// Sets the audit sink.
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The first problem with these settings.
    pub fn validate(&self) -> Result<(), PlatformError> {
        if self.log_dir.as_os_str().is_empty() {
            return Err(PlatformError::invalid("log_dir", "must not be empty"));
        }
        self.backoff.validate()
    }
}

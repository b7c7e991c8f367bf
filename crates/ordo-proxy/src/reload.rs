//! Reload triggers: SIGHUP, and a change of the config file's contents
//! (checked every `interval`, so editors that replace the file work too).

use std::path::PathBuf;
use std::sync::Weak;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::proxy::Proxy;

/// Watches for SIGHUP and file changes and reloads `proxy` on each.
pub fn spawn_reloader(proxy: Weak<Proxy>, path: PathBuf, interval: Duration) -> JoinHandle<()> {
    // Both are taken here rather than when the task first runs, so a
    // SIGHUP or an edit that comes right after this returns is not missed.
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGHUP; reloads follow file changes only");
            None
        }
    };
    let mut last = std::fs::read(&path).ok();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let signalled = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            };
            let now = std::fs::read(&path).ok();
            if !signalled && now == last {
                continue;
            }
            last = now;
            let Some(proxy) = proxy.upgrade() else { return };
            tracing::info!(file = %path.display(), signal = signalled, "reloading config");
            let _ = proxy.reload_from_file().await;
        }
    })
}

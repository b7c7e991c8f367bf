//! Passive outlier ejection, as Envoy's: consecutive 5xx, consecutive
//! connect failures, and success rate far below the cluster's. The n-th
//! ejection of an endpoint lasts n × the base time (capped); an ejected
//! endpoint returns by itself when its time is up; quiet intervals bring
//! the multiplier down again.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ordo_config::proxy::OutlierConfig;
use tokio::task::JoinHandle;

use super::Cluster;
use super::endpoint::{AttemptResult, Endpoint};

/// Updates an endpoint's outlier state with one result; ejects it when a
/// consecutive-failure threshold is reached.
pub(super) fn record(
    cluster: &Cluster,
    o: &OutlierConfig,
    e: &Endpoint,
    result: AttemptResult,
    now_ms: u64,
) {
    let s = &e.outlier;
    s.interval_total.fetch_add(1, Ordering::Relaxed);
    let (five, connect) = match result {
        AttemptResult::Status(code) if code >= 500 => (true, false),
        AttemptResult::Status(_) => (false, false),
        AttemptResult::ConnectFailure
        | AttemptResult::Reset
        | AttemptResult::Malformed
        | AttemptResult::Timeout => (false, true),
        AttemptResult::Cancelled => return,
    };
    if !five && !connect {
        s.interval_success.fetch_add(1, Ordering::Relaxed);
        // Write only when there is something to reset: most results are
        // successes in a row.
        if s.consecutive_5xx.load(Ordering::Relaxed) != 0 {
            s.consecutive_5xx.store(0, Ordering::Relaxed);
        }
        if s.consecutive_connect.load(Ordering::Relaxed) != 0 {
            s.consecutive_connect.store(0, Ordering::Relaxed);
        }
        return;
    }
    let tripped = if five {
        let n = s.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
        o.consecutive_5xx > 0 && n >= o.consecutive_5xx
    } else {
        let n = s.consecutive_connect.fetch_add(1, Ordering::Relaxed) + 1;
        o.consecutive_connect_failures > 0 && n >= o.consecutive_connect_failures
    };
    if tripped {
        eject(
            cluster,
            o,
            e,
            now_ms,
            if five {
                "consecutive-5xx"
            } else {
                "consecutive-connect-failures"
            },
        );
    }
}

/// Ejects `e` unless it already is, or the cluster is at its ejection cap.
fn eject(cluster: &Cluster, o: &OutlierConfig, e: &Endpoint, now_ms: u64, why: &str) {
    let s = &e.outlier;
    let until = s.ejected_until_ms.load(Ordering::Relaxed);
    if until > now_ms {
        return;
    }
    let set = cluster.set.load();
    let n = set.endpoints.len().max(1);
    let ejected = set
        .endpoints
        .iter()
        .filter(|x| x.ejected_until_ms() > now_ms)
        .count();
    // One endpoint may always be ejected; beyond that, the cap holds.
    if ejected > 0 && (ejected + 1) * 100 > o.max_ejection_percent as usize * n {
        return;
    }
    let k = s.ejections.load(Ordering::Relaxed) + 1;
    let length = o
        .base_ejection_time
        .get()
        .saturating_mul(k)
        .min(o.max_ejection_time.get().max(o.base_ejection_time.get()));
    let new_until = now_ms.saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX));
    if s.ejected_until_ms
        .compare_exchange(until, new_until, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return; // another request ejected it first
    }
    s.ejections.store(k, Ordering::Relaxed);
    s.ejected_in_interval.store(true, Ordering::Relaxed);
    s.consecutive_5xx.store(0, Ordering::Relaxed);
    s.consecutive_connect.store(0, Ordering::Relaxed);
    e.counters.ejections.inc();
    tracing::warn!(
        cluster = cluster.name(),
        endpoint = e.address(),
        reason = why,
        ejection = k,
        for_ms = length.as_millis() as u64,
        "endpoint ejected"
    );
}

/// Every interval: success-rate ejection, and the multiplier of endpoints
/// that stayed in falls by one.
pub(super) fn spawn_sweeps(cluster: Weak<Cluster>, o: OutlierConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(o.interval.get().max(Duration::from_millis(1)));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            sweep(&cluster, &o);
        }
    })
}

pub(super) fn sweep(cluster: &Cluster, o: &OutlierConfig) {
    let now_ms = cluster.now().as_millis() as u64;
    let set = cluster.set.load_full();
    let mut rates = Vec::new();
    for e in &set.endpoints {
        let s = &e.outlier;
        let total = s.interval_total.swap(0, Ordering::Relaxed);
        let ok = s.interval_success.swap(0, Ordering::Relaxed);
        let was_ejected = s.ejected_in_interval.swap(false, Ordering::Relaxed);
        if !was_ejected && e.ejected_until_ms() <= now_ms {
            let k = s.ejections.load(Ordering::Relaxed);
            if k > 0 {
                s.ejections.store(k - 1, Ordering::Relaxed);
            }
        }
        if let Some(sr) = &o.success_rate
            && total >= u64::from(sr.request_volume)
            && e.ejected_until_ms() <= now_ms
        {
            rates.push((e.clone(), ok as f64 / total as f64));
        }
    }
    let Some(sr) = &o.success_rate else { return };
    if rates.len() < sr.minimum_hosts as usize {
        return;
    }
    let n = rates.len() as f64;
    let mean = rates.iter().map(|r| r.1).sum::<f64>() / n;
    let var = rates.iter().map(|r| (r.1 - mean).powi(2)).sum::<f64>() / n;
    let threshold = mean - sr.stdev_factor * var.sqrt();
    for (e, rate) in rates {
        if rate < threshold {
            eject(cluster, o, &e, now_ms, "success-rate");
        }
    }
}

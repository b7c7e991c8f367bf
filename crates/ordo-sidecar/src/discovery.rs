//! A cluster's endpoints from the registry: a task that long-polls the
//! control plane for a service's instances and hands the `UP` ones to the
//! proxy, which keeps the state (load, ejections, circuits) of those that
//! stay.
//!
//! When the control plane cannot be reached, the last list stays: the
//! proxy goes on with the instances it knows (outlier ejection takes care
//! of those that die meanwhile) and the task retries with a growing pause.

use std::time::Duration;

use ordo_control::{ControlClient, Instance, Status};
use ordo_proxy::cluster::{DynamicEndpoints, EndpointSpec};
use tokio::task::JoinHandle;

/// How long one long poll may wait for a change.
const WAIT: Duration = Duration::from_secs(30);

/// The endpoints a proxy should send to, of `instances`: the `UP` ones.
pub fn endpoints_of(instances: &[Instance]) -> Vec<EndpointSpec> {
    let mut list: Vec<EndpointSpec> = instances
        .iter()
        .filter(|i| i.status == Status::Up)
        .map(|i| EndpointSpec {
            address: i.address.clone(),
            weight: 1,
        })
        .collect();
    list.sort_by(|a, b| a.address.cmp(&b.address));
    list
}

/// Keeps `endpoints` equal to the `UP` instances of `service` until the
/// returned task is aborted.
pub fn follow(
    client: ControlClient,
    service: String,
    endpoints: DynamicEndpoints,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut index = 0u64;
        let mut failures = 0u32;
        loop {
            match client.watch(&service, index, WAIT).await {
                Ok(listing) => {
                    if failures > 0 {
                        tracing::info!(%service, "the registry answers again");
                    }
                    failures = 0;
                    // Whatever the index (a new registry may count lower),
                    // the list is the registry's now.
                    index = listing.index;
                    endpoints.set(endpoints_of(&listing.instances));
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(%service, error = %e, "cannot watch the registry; keeping the instances known so far");
                    }
                    tokio::time::sleep(retry_pause(failures)).await;
                }
            }
        }
    })
}

/// The pause after `failures` failed polls in a row: 250 ms doubling to
/// 5 s.
fn retry_pause(failures: u32) -> Duration {
    let ms = 250u64.saturating_mul(1 << failures.saturating_sub(1).min(5));
    Duration::from_millis(ms.min(5_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_five_seconds() {
        let ms: Vec<u128> = (1..=8).map(|f| retry_pause(f).as_millis()).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    }
}

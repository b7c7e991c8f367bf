//! The fleet's side of the live summary `ordo up --load` and
//! `ordo load --control` print every second: instances `UP` in the registry
//! per service, and the circuit breakers that are not closed across every
//! sidecar and the edge.

use std::collections::{BTreeMap, HashMap};

use ordo_control::ControlClient;
use ordo_sidecar::SIDECAR_ADMIN;

use crate::admin_client::AdminClient;

/// `edge 1/1  catalog 1/1  ratings 2/3`: instances `UP` in the registry
/// (what callers send to) over the desired count, or over those
/// registered when the desired counts are not known.
pub(crate) async fn instance_counts(
    client: &ControlClient,
    desired: Option<&BTreeMap<String, u32>>,
) -> String {
    let services = match client.services().await {
        Ok(s) => s.services,
        Err(_) => return "registry unreachable".to_owned(),
    };
    let parts: Vec<String> = match desired {
        Some(desired) => {
            let up: HashMap<&str, u32> = services.iter().map(|s| (s.name.as_str(), s.up)).collect();
            desired
                .iter()
                .map(|(name, want)| {
                    format!(
                        "{name} {}/{want}",
                        up.get(name.as_str()).copied().unwrap_or(0)
                    )
                })
                .collect()
        }
        None => services
            .iter()
            .map(|s| format!("{} {}/{}", s.name, s.up, s.total))
            .collect(),
    };
    if parts.is_empty() {
        "no instances".to_owned()
    } else {
        parts.join("  ")
    }
}

/// The circuits that are not closed, across every sidecar and the edge:
/// `circuits: all closed (12)` or `circuits open: catalog-1 ratings/127.0.0.1:4001`.
pub(crate) async fn circuits(
    client: &ControlClient,
    admin: &AdminClient,
    edge_admin: Option<String>,
) -> String {
    let mut proxies: Vec<(String, String)> = Vec::new();
    if let Ok(listing) = client.instances(None, None).await {
        for i in listing.instances {
            if let Some(a) = i.metadata.get(SIDECAR_ADMIN) {
                proxies.push((i.id.clone(), a.clone()));
            }
        }
    }
    if let Some(a) = edge_admin {
        proxies.push(("edge".to_owned(), a));
    }
    let calls = proxies
        .iter()
        .map(|(_, a)| admin.call(a, http::Method::GET, "/circuits", None));
    let answers = futures_util::future::join_all(calls).await;
    let mut total = 0;
    let mut not_closed = Vec::new();
    for ((who, _), answer) in proxies.iter().zip(answers) {
        let Ok(answer) = answer else { continue };
        let list: Vec<serde_json::Value> = serde_json::from_slice(&answer.body).unwrap_or_default();
        for c in list {
            total += 1;
            let state = c["state"].as_str().unwrap_or("?");
            if state != "closed" {
                not_closed.push(format!(
                    "{who} {} {state}",
                    c["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    if total == 0 {
        "no circuit breakers".to_owned()
    } else if not_closed.is_empty() {
        format!("circuits: all {total} closed")
    } else {
        format!("circuits: {}", not_closed.join(", "))
    }
}

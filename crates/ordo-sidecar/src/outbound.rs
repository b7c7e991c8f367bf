//! The proxy config of a sidecar or an edge, made from the manifest: one
//! listener per service called, each routing everything to a cluster of
//! that service's instances (no static endpoints: the registry fills
//! them).

use ordo_config::proxy::{ClusterConfig, PolicyConfig, ProxyConfig};
use ordo_config::{ConfigErrors, Document};
use serde_json::json;

/// One listener of the proxy: requests to `address` go to `cluster`'s
/// instances under `policy`.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The listener's name (`to-ratings`, `edge`).
    pub listener: String,
    /// Where it listens (`127.0.0.1:0` for a free port).
    pub address: String,
    /// The service called; also the route's and the cluster's name.
    pub cluster: ClusterConfig,
    /// The policy of the calls.
    pub policy: PolicyConfig,
}

/// The config of a proxy with these listeners and an admin listener at
/// `admin` (none when `None`); `name` names it in errors.
pub fn outbound_config(
    name: &str,
    outbounds: &[Outbound],
    admin: Option<&str>,
) -> Result<Document<ProxyConfig>, ConfigErrors> {
    // Built through serde so every field not set here takes the default a
    // config file would get.
    let listeners: Vec<serde_json::Value> = outbounds
        .iter()
        .map(|o| {
            json!({
                "name": o.listener,
                "address": o.address,
                "routes": [{
                    "name": o.cluster.name,
                    "cluster": o.cluster.name,
                    "policy": o.policy,
                }],
            })
        })
        .collect();
    let mut config = json!({
        "listeners": listeners,
        "clusters": outbounds.iter().map(|o| &o.cluster).collect::<Vec<_>>(),
    });
    if let Some(a) = admin {
        config["admin"] = json!({ "address": a });
    }
    let config: ProxyConfig = serde_json::from_value(config).map_err(|e| {
        ConfigErrors(vec![ordo_config::ConfigIssue {
            file: name.to_owned(),
            line: None,
            column: None,
            field: String::new(),
            message: format!("cannot be built: {e}"),
        }])
    })?;
    Document::built(config, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_config::manifest::DependencyConfig;

    #[test]
    fn each_dependency_gets_a_listener_a_route_and_a_cluster() {
        let dep: DependencyConfig =
            serde_json::from_value(json!({"service": "ratings", "policy": {"timeout": "2s"}}))
                .unwrap();
        let doc = outbound_config(
            "sidecar of catalog-1",
            &[Outbound {
                listener: "to-ratings".into(),
                address: "127.0.0.1:0".into(),
                cluster: dep.cluster("ratings"),
                policy: dep.policy.clone(),
            }],
            Some("127.0.0.1:0"),
        )
        .unwrap();
        let c = &doc.config;
        assert_eq!(c.listeners[0].name, "to-ratings");
        assert_eq!(c.listeners[0].routes[0].cluster.as_deref(), Some("ratings"));
        assert_eq!(c.listeners[0].routes[0].policy.timeout.to_string(), "2s");
        assert!(c.clusters[0].endpoints.is_empty());
        assert!(c.clusters[0].outlier_detection.is_some());
        assert_eq!(c.admin.as_ref().unwrap().address, "127.0.0.1:0");
    }

    #[test]
    fn a_bad_address_is_an_error_naming_the_proxy() {
        let dep: DependencyConfig = serde_json::from_value(json!({"service": "r"})).unwrap();
        let err = outbound_config(
            "edge",
            &[Outbound {
                listener: "edge".into(),
                address: "nowhere".into(),
                cluster: dep.cluster("r"),
                policy: dep.policy.clone(),
            }],
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("edge: listeners[0].address: `nowhere` is not an address"),
            "{err}"
        );
    }
}

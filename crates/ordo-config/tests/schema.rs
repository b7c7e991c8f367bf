//! The JSON Schemas checked in at `docs/ordo-proxy.schema.json` and
//! `docs/ordo-manifest.schema.json` (for editors: point
//! `yaml-language-server` at them) are the ones the code generates, and
//! carry the doc comments and the defaults.
//!
//! After changing a config type, regenerate them with
//!
//! ```text
//! ORDO_BLESS=1 cargo test -p ordo-config --test schema
//! ```

use serde_json::Value;

/// What generates a schema.
type Generator = fn() -> Value;

/// Each schema: its file under `docs/`, its root type, and the code.
const SCHEMAS: [(&str, &str, Generator); 2] = [
    (
        "ordo-proxy.schema.json",
        "ProxyConfig",
        ordo_config::proxy_schema,
    ),
    (
        "ordo-manifest.schema.json",
        "Manifest",
        ordo_config::manifest::manifest_schema,
    ),
];

#[test]
fn the_checked_in_schemas_are_current() {
    for (file, _, schema) in SCHEMAS {
        let path = format!("{}/../../docs/{file}", env!("CARGO_MANIFEST_DIR"));
        let fresh = serde_json::to_string_pretty(&schema()).expect("a schema is JSON") + "\n";
        if std::env::var_os("ORDO_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("write docs/{file}: {e}"));
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != fresh {
            let line = current
                .lines()
                .zip(fresh.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| current.lines().count().min(fresh.lines().count()))
                + 1;
            panic!(
                "docs/{file} is stale (it first differs at line {line}).\n\
                 Regenerate it and commit the result:\n\n    \
                 ORDO_BLESS=1 cargo test -p ordo-config --test schema\n"
            );
        }
    }
}

fn property<'a>(schema: &'a Value, def: &str, field: &str) -> &'a Value {
    let owner = if def == "ProxyConfig" {
        schema
    } else {
        &schema["$defs"][def]
    };
    let p = &owner["properties"][field];
    assert!(!p.is_null(), "{def}.{field} is not in the schema");
    p
}

#[test]
fn fields_are_described_by_their_doc_comments() {
    let schema = ordo_config::proxy_schema();
    assert_eq!(schema["title"], "ProxyConfig");
    let description = |def, field| {
        property(&schema, def, field)["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(description("PolicyConfig", "timeout").starts_with("Deadline for the whole request"));
    assert!(description("ListenerConfig", "routes").contains("x-ordo-reason"));
    assert!(description("ClusterConfig", "outlier_detection").contains("`null` turns it off"));
    assert!(
        schema["$defs"]["LoadBalancer"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Load-balancing algorithms"))
    );
}

#[test]
fn every_field_and_type_has_a_description() {
    for (_, root, schema) in SCHEMAS {
        let schema = schema();
        assert_eq!(schema["title"], root);
        let mut bare = Vec::new();
        let no_defs = serde_json::Map::new();
        let defs = schema["$defs"].as_object().unwrap_or(&no_defs);
        let owners = defs
            .iter()
            .map(|(name, def)| (name.as_str(), def))
            .chain([(root, &schema)]);
        for (name, def) in owners {
            if def.get("description").is_none() {
                bare.push(name.to_owned());
            }
            for (field, p) in def["properties"].as_object().into_iter().flatten() {
                if p.get("description").is_none() {
                    bare.push(format!("{name}.{field}"));
                }
            }
        }
        assert!(bare.is_empty(), "{root}: no doc comment: {bare:?}");
    }
}

#[test]
fn defaults_are_in_the_schema() {
    let schema = ordo_config::proxy_schema();
    let default = |def, field| property(&schema, def, field)["default"].clone();
    assert_eq!(default("PolicyConfig", "timeout"), "15s");
    assert_eq!(default("ProxyConfig", "drain_timeout"), "30s");
    assert_eq!(default("RetryConfig", "max_attempts"), 2);
    assert_eq!(default("BudgetConfig", "ratio"), 0.2);
    assert_eq!(default("ClusterConfig", "load_balancer"), "p2c_ewma");
    assert_eq!(
        default("CircuitBreakerConfig", "window"),
        serde_json::json!({"count": 100})
    );
    assert_eq!(default("OutlierConfig", "max_ejection_time"), "5m");
    assert_eq!(
        default("ListenerConfig", "protocols"),
        serde_json::json!(["http1", "http2"])
    );
}

#[test]
fn required_fields_are_required() {
    let schema = ordo_config::proxy_schema();
    let required = |def: &str| {
        let owner = if def == "ProxyConfig" {
            &schema
        } else {
            &schema["$defs"][def]
        };
        owner["required"].clone()
    };
    assert_eq!(required("ProxyConfig"), serde_json::json!(["listeners"]));
    assert_eq!(
        required("ListenerConfig"),
        serde_json::json!(["name", "address"])
    );
    assert_eq!(required("EndpointConfig"), serde_json::json!(["address"]));
    assert_eq!(
        required("BulkheadConfig"),
        serde_json::json!(["max_concurrent"])
    );
}

//! ordo's user-facing configuration.
//!
//! Plain data: serde types whose doc comments are the reference (the JSON
//! Schema in `docs/` is generated from them by [`proxy_schema`]), a
//! `problems()` check on each that lists every problem with the path of
//! its field, and a loader that turns both parse errors and validation
//! problems into [`ConfigIssue`]s naming the file, the line and the field.
//! The runtime crates convert from these types, so the data path never
//! sees YAML.
//!
//! ```
//! let text = "listeners:\n  - name: edge\n    address: 127.0.0.1:8080\n    routes:\n      - name: all\n        cluster: nowhere\n";
//! let err = ordo_config::parse::<ordo_config::proxy::ProxyConfig>(text, "proxy.yaml").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "proxy.yaml:6:9: listeners[0].routes[0].cluster: no cluster is named `nowhere`"
//! );
//! ```

mod depth;
mod duration;
mod error;
mod explain;
pub mod fault;
mod lines;
mod load;
pub mod manifest;
pub mod proxy;
mod validate;

pub use duration::Duration;
pub use error::{ConfigErrors, ConfigIssue};
pub use lines::LineMap;
pub use load::{Document, MAX_CONFIG_BYTES, Validate, load, parse};

/// The JSON Schema of the proxy's config file, as shipped in
/// `docs/ordo-proxy.schema.json`.
pub fn proxy_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(proxy::ProxyConfig);
    serde_json::to_value(schema).expect("a schema is plain JSON")
}

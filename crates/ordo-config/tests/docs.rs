//! `docs/proxy.md` and `docs/manifest.md` stay in step with the code:
//! their references are generated from the schemas (so from the doc
//! comments, with the defaults and required fields), and their worked
//! examples are `examples/proxy/edge.yaml` and
//! `examples/bookstore/ordo.yaml`. All are rewritten by
//!
//! ```text
//! ORDO_BLESS=1 cargo test -p ordo-config --test docs
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The reference's sections, in reading order: the file from the top
/// down, then the choices.
const ORDER: &[&str] = &[
    "ProxyConfig",
    "AdminConfig",
    "ListenerConfig",
    "TlsConfig",
    "RouteConfig",
    "RouteMatch",
    "HeaderMatch",
    "WeightedCluster",
    "PolicyConfig",
    "RetryConfig",
    "BackoffConfig",
    "BudgetConfig",
    "CircuitBreakerConfig",
    "SlowCallConfig",
    "BulkheadConfig",
    "LimitConfig",
    "FallbackConfig",
    "ClusterConfig",
    "EndpointConfig",
    "PoolConfig",
    "HealthCheckConfig",
    "OutlierConfig",
    "SuccessRateConfig",
    "FaultsConfig",
    "FaultSpec",
    "FaultMatch",
    "DelaySpec",
    "AbortSpec",
    "BandwidthSpec",
    "TcpProxyConfig",
    "ToxicSpec",
    "HttpVersion",
    "PathMatch",
    "RetryOn",
    "WindowConfig",
    "LimitAlgorithm",
    "UpstreamProtocol",
    "LoadBalancer",
    "FaultHeaders",
    "FaultPer",
    "Duration",
];

/// The manifest reference's own sections; the policy and cluster types it
/// uses link to `proxy.md`.
const MANIFEST_ORDER: &[&str] = &[
    "Manifest",
    "BuildConfig",
    "ControlConfig",
    "EdgeConfig",
    "ServiceConfig",
    "HealthConfig",
    "DependencyConfig",
    "ServiceChaosConfig",
    "RestartConfig",
    "ChaosConfig",
    "ChaosWindowConfig",
    "ExceptionConfig",
    "OutageConfig",
    "Grouping",
    "MinHealthy",
];

const BLESS: &str = "ORDO_BLESS=1 cargo test -p ordo-config --test docs";

thread_local! {
    /// The types the page being generated documents itself; links to
    /// others go to `proxy.md`.
    static OWN: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Replaces what lies between `<!-- {name}:start -->` and
/// `<!-- {name}:end -->` in `text`.
fn splice(text: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let (head, rest) = text
        .split_once(&start)
        .unwrap_or_else(|| panic!("docs/proxy.md lacks `{start}`"));
    let (_, tail) = rest
        .split_once(&end)
        .unwrap_or_else(|| panic!("docs/proxy.md lacks `{end}`"));
    format!("{head}{start}\n{body}{end}{tail}")
}

/// Rewrites (with `ORDO_BLESS`) or checks the generated parts of `guide`.
fn check_guide(guide: &str, example: &str, reference: String) {
    let path = format!("{}/../../docs/{guide}", env!("CARGO_MANIFEST_DIR"));
    let example_path = format!("{}/../../{example}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("docs/{guide}: {e}"));
    let example_text =
        std::fs::read_to_string(&example_path).unwrap_or_else(|e| panic!("{example}: {e}"));
    let fresh = splice(&text, "reference", &reference);
    let fresh = splice(&fresh, "example", &format!("```yaml\n{example_text}```\n"));
    if std::env::var_os("ORDO_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("write docs/{guide}: {e}"));
        return;
    }
    if text != fresh {
        let line = text
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0)
            + 1;
        panic!(
            "docs/{guide} is stale (it first differs at line {line}): its reference comes \
             from the doc comments and its example from {example}.\n\
             Regenerate it and commit the result:\n\n    {BLESS}\n"
        );
    }
}

#[test]
fn the_proxy_guide_shows_the_current_reference_and_example() {
    let schema = ordo_config::proxy_schema();
    let defs = schema["$defs"].as_object().expect("$defs");
    let mut listed: Vec<&str> = ORDER.to_vec();
    listed.sort_unstable();
    let mut all: Vec<&str> = defs.keys().map(String::as_str).collect();
    all.push("ProxyConfig");
    all.sort_unstable();
    assert_eq!(listed, all, "ORDER must list every type of the schema once");
    OWN.with(|o| *o.borrow_mut() = ORDER.to_vec());
    check_guide(
        "proxy.md",
        "examples/proxy/edge.yaml",
        reference(&schema, "ProxyConfig", ORDER),
    );
}

#[test]
fn the_manifest_guide_shows_the_current_reference_and_example() {
    let schema = ordo_config::manifest::manifest_schema();
    let defs = schema["$defs"].as_object().expect("$defs");
    for name in defs.keys() {
        assert!(
            MANIFEST_ORDER.contains(&name.as_str()) || ORDER.contains(&name.as_str()),
            "{name} is documented on neither page: add it to MANIFEST_ORDER"
        );
    }
    OWN.with(|o| *o.borrow_mut() = MANIFEST_ORDER.to_vec());
    check_guide(
        "manifest.md",
        "examples/bookstore/ordo.yaml",
        reference(&schema, "Manifest", MANIFEST_ORDER),
    );
}

/// A config reference from `schema`, with a section per type of `order`.
fn reference(schema: &Value, root: &str, order: &[&str]) -> String {
    let defs = schema["$defs"].as_object().expect("$defs");
    let mut places = BTreeMap::new();
    where_used(schema, defs, "", &mut places, 0);
    let mut out =
        format!("<!-- Generated from the doc comments by `{BLESS}`: edit those, not this. -->\n");
    for &name in order {
        let def = if name == root { schema } else { &defs[name] };
        out.push_str(&format!(
            "\n### `{name}`\n\n{}\n",
            text(&def["description"])
        ));
        match places.get(name) {
            None => out.push_str("\nThe top of the file.\n"),
            Some(_) if name == "Duration" => out.push_str("\nThe type of many fields.\n"),
            Some(at) => {
                let at: Vec<String> = at.iter().map(|p| format!("`{p}`")).collect();
                out.push_str(&format!("\nAt {}.\n", at.join(", ")));
            }
        }
        if let Some(props) = def.get("properties").and_then(Value::as_object) {
            out.push_str("\n| Field | Type | Default | Meaning |\n|---|---|---|---|\n");
            let required = required(def);
            for (field, p) in props {
                out.push_str(&format!(
                    "| `{field}` | {} | {} | {} |\n",
                    type_of(p),
                    default_of(p, defs, required.contains(&field.as_str())),
                    cell(&text(&p["description"]))
                ));
            }
        }
        if let Some(choices) = def.get("oneOf").and_then(Value::as_array) {
            out.push('\n');
            for c in choices {
                out.push_str(&format!("- {} — {}\n", written(c), text(&c["description"])));
                for (field, p) in inner_fields(c) {
                    out.push_str(&format!(
                        "  - `{field}` ({}): {}\n",
                        type_of(p),
                        text(&p["description"])
                    ));
                }
            }
        }
        if let Some(pattern) = def.get("pattern").and_then(Value::as_str) {
            out.push_str(&format!("\nThe schema's pattern: `{pattern}`.\n"));
        }
    }
    out.push('\n');
    out
}

/// The paths (`listeners[].routes[].policy`) at which each type is used.
fn where_used(
    node: &Value,
    defs: &Map<String, Value>,
    path: &str,
    out: &mut BTreeMap<String, Vec<String>>,
    depth: usize,
) {
    assert!(depth < 32, "the schema is not recursive");
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().expect("a name");
        let at = out.entry(name.to_owned()).or_default();
        if !at.iter().any(|p| p == path) {
            at.push(path.to_owned());
        }
        where_used(&defs[name], defs, path, out, depth + 1);
    }
    for key in ["anyOf", "allOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            where_used(branch, defs, path, out, depth + 1);
        }
    }
    if node.get("oneOf").is_some() {
        return;
    }
    for (field, p) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let sub = if path.is_empty() {
            field.clone()
        } else {
            format!("{path}.{field}")
        };
        where_used(p, defs, &sub, out, depth + 1);
    }
    if let Some(items) = node.get("items") {
        where_used(items, defs, &format!("{path}[]"), out, depth + 1);
    }
}

fn required(def: &Value) -> Vec<&str> {
    def["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A doc comment as one line.
fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn link(name: &str) -> String {
    let page = if OWN.with(|o| o.borrow().contains(&name)) {
        ""
    } else {
        "proxy.md"
    };
    if name == "Duration" {
        format!("[duration]({page}#duration)")
    } else {
        format!("[`{name}`]({page}#{})", name.to_lowercase())
    }
}

fn type_of(p: &Value) -> String {
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        return link(r.rsplit('/').next().expect("a name"));
    }
    if let Some(branches) = p.get("anyOf").and_then(Value::as_array) {
        let kinds: Vec<String> = branches
            .iter()
            .filter(|b| b["type"] != "null")
            .map(type_of)
            .collect();
        let nullable = p.get("default").is_some_and(|d| !d.is_null());
        return kinds.join(" or ") + if nullable { " or `null`" } else { "" };
    }
    let kind = match &p["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .cloned()
            .unwrap_or_default(),
        k => k.clone(),
    };
    match kind.as_str().unwrap_or_default() {
        "array" => format!("list of {}", type_of(&p["items"])),
        "object" => match p.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of string to {}", type_of(v)),
            _ => "mapping".to_owned(),
        },
        "integer" => match p["format"].as_str() {
            Some("uint16") => "integer (0–65535)".to_owned(),
            _ => "integer".to_owned(),
        },
        other => other.to_owned(),
    }
}

fn default_of(p: &Value, defs: &Map<String, Value>, required: bool) -> String {
    match p.get("default") {
        None if required => "required".to_owned(),
        None if p["type"] == "array" => "`[]`".to_owned(),
        None if p["type"] == "object" => "`{}`".to_owned(),
        None => "none".to_owned(),
        Some(Value::Object(map)) if map.is_empty() => "`{}`".to_owned(),
        Some(Value::Object(_)) if is_struct(p, defs) => "each field's default".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "`\"\"`".to_owned(),
        Some(d) => format!("`{}`", yaml(d)),
    }
}

/// The property is a struct (or an optional one) with a section of its
/// own, where each field's default is given.
fn is_struct(p: &Value, defs: &Map<String, Value>) -> bool {
    let r = p.get("$ref").or_else(|| p.pointer("/anyOf/0/$ref"));
    r.and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .is_some_and(|name| defs[name].get("properties").is_some())
}

/// A value in YAML's flow style.
fn yaml(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(yaml).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", yaml(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

/// How a choice is written: `name`, or `{name: <type>}`.
fn written(choice: &Value) -> String {
    if let Some(c) = choice.get("const").and_then(Value::as_str) {
        return format!("`{c}`");
    }
    let (key, inner) = choice["properties"]
        .as_object()
        .and_then(|m| m.iter().next())
        .expect("a one-key mapping");
    let value = match inner.get("properties").and_then(Value::as_object) {
        Some(fields) => {
            let fields: Vec<String> = fields.keys().map(|f| format!("{f}: …")).collect();
            format!("{{{}}}", fields.join(", "))
        }
        None => format!("<{}>", strip_links(&type_of(inner))),
    };
    format!("`{{{key}: {value}}}`")
}

/// The fields of a choice that takes a mapping.
fn inner_fields(choice: &Value) -> Vec<(&String, &Value)> {
    choice
        .get("properties")
        .and_then(Value::as_object)
        .and_then(|m| m.values().next())
        .and_then(|inner| inner.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

fn strip_links(s: &str) -> String {
    match s.split_once("](") {
        Some((head, _)) => head.trim_start_matches('[').replace('`', ""),
        None => s.to_owned(),
    }
}

//! Helpers shared by the test files: parse a config and render its errors,
//! and small configs to add one setting to.
#![allow(dead_code, reason = "each test file uses some of these")]

use ordo_config::ConfigErrors;
use ordo_config::proxy::ProxyConfig;

/// The config that sets every field, in `tests/fixtures/`.
pub(crate) const EVERY_FIELD: &str = include_str!("../fixtures/every-field.yaml");

/// Parses `text` as `proxy.yaml`, which must be valid.
pub(crate) fn parses(text: &str) -> ProxyConfig {
    match ordo_config::parse::<ProxyConfig>(text, "proxy.yaml") {
        Ok(doc) => doc.config,
        Err(e) => panic!("expected a valid config, got:\n{e}\n--- in:\n{text}"),
    }
}

/// Parses `text` as `proxy.yaml`, which must be invalid, and renders its
/// errors one to a line, as `ordo proxy --check` prints them.
pub(crate) fn errors(text: &str) -> String {
    match ordo_config::parse::<ProxyConfig>(text, "proxy.yaml") {
        Ok(_) => panic!("expected errors, but this parsed:\n{text}"),
        Err(e) => {
            assert_well_formed(&e, text);
            e.to_string()
        }
    }
}

/// What every error list promises: at least one issue, each with a
/// message, a line when it names a field, a column only with a line, and
/// positions inside the text; sorted by line.
pub(crate) fn assert_well_formed(e: &ConfigErrors, text: &str) {
    assert!(!e.issues().is_empty(), "an error list is never empty");
    let lines = text.lines().count().max(1) + 1;
    for issue in e.issues() {
        assert!(!issue.message.trim().is_empty(), "empty message: {issue:?}");
        assert!(
            issue.field.is_empty() || issue.line.is_some(),
            "a field without a line: {issue:?}\n--- in:\n{text}"
        );
        assert!(issue.column.is_none() || issue.line.is_some(), "{issue:?}");
        if let Some(line) = issue.line {
            assert!(
                (1..=lines).contains(&line),
                "line out of the text: {issue:?}"
            );
        }
        assert!(issue.column.is_none_or(|c| c >= 1), "{issue:?}");
    }
    let order: Vec<usize> = e
        .issues()
        .iter()
        .map(|i| i.line.unwrap_or(usize::MAX))
        .collect();
    assert!(order.is_sorted(), "not sorted by line: {e}");
}

/// A listener with one route `all` (lines 5 and 6); `route` is YAML added
/// to the route from line 7; cluster `web` follows.
pub(crate) fn with_route(route: &str) -> String {
    format!(
        "\
listeners:
  - name: edge
    address: 127.0.0.1:8080
    routes:
      - name: all
        cluster: web
{}clusters:
  - name: web
    endpoints:
      - address: 127.0.0.1:9000
",
        indent(route, 8)
    )
}

/// A listener routing to cluster `web` (line 8); `cluster` is YAML added
/// to the cluster from line 9.
pub(crate) fn with_cluster(cluster: &str) -> String {
    format!(
        "\
listeners:
  - name: edge
    address: 127.0.0.1:8080
    routes:
      - name: all
        cluster: web
clusters:
  - name: web
{}",
        indent(cluster, 4)
    )
}

/// `yaml` with every line moved right by `by` spaces.
pub(crate) fn indent(yaml: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    yaml.lines().map(|l| format!("{pad}{l}\n")).collect()
}

//! Routes: which requests they take, and where they send them.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::PolicyConfig;
use super::check_name;
use crate::validate::Problems;

/// A rule that takes matching requests to a cluster (or a weighted set of
/// clusters) under a resilience policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A name for metrics and logs. Required, unique in its listener.
    pub name: String,
    /// What a request must look like; an empty match takes every request.
    #[serde(default, rename = "match")]
    pub matches: RouteMatch,
    /// The cluster that serves the route. Give this or
    /// `weighted_clusters`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Clusters that share the route's requests by weight (canaries,
    /// red/black deployments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighted_clusters: Vec<WeightedCluster>,
    /// Timeouts, retries, circuit breaker, bulkhead, adaptive concurrency
    /// and fallback for this route.
    #[serde(default)]
    pub policy: PolicyConfig,
}

/// Conditions on a request; all that are given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// The request's host (`:authority` or `Host`, port ignored): an exact
    /// name, or `*.example.com` for any subdomain. Case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The request's path (without the query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
    /// Methods taken (`GET`, `POST`, ...); every method when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Header conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
}

/// How a path is matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    /// The path equals this.
    Exact(String),
    /// The path starts with this.
    Prefix(String),
    /// The whole path matches this regular expression (Rust `regex`
    /// syntax; anchored at both ends).
    Regex(String),
}

/// A condition on one request header. Give exactly one of `exact`,
/// `regex` and `present`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name, case-insensitive. Required.
    pub name: String,
    /// The header's value equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The header's whole value matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The header is present (`true`) or absent (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
}

/// One cluster of a weighted split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedCluster {
    /// The cluster's name. Required.
    pub cluster: String,
    /// Its share: weight / sum of the weights. 0 sends it nothing.
    pub weight: u32,
}

impl RouteConfig {
    pub(crate) fn check(&self, p: &mut Problems, clusters: &HashSet<&str>) {
        check_name(p, "name", &self.name);
        p.at("match", |p| self.matches.check(p));
        match (&self.cluster, self.weighted_clusters.is_empty()) {
            (Some(_), false) => p.push(
                "weighted_clusters",
                "give either `cluster` or `weighted_clusters`, not both",
            ),
            (None, true) => p.push("cluster", "a route needs `cluster` or `weighted_clusters`"),
            (Some(c), true) => {
                p.check(clusters.contains(c.as_str()), "cluster", || {
                    format!("no cluster is named `{c}`")
                });
            }
            (None, false) => {
                let mut total = 0u64;
                for (i, w) in self.weighted_clusters.iter().enumerate() {
                    p.at(&format!("weighted_clusters[{i}]"), |p| {
                        p.check(clusters.contains(w.cluster.as_str()), "cluster", || {
                            format!("no cluster is named `{}`", w.cluster)
                        });
                    });
                    total += u64::from(w.weight);
                }
                p.check(total > 0, "weighted_clusters", || {
                    "the weights add up to 0: no cluster would get requests".to_owned()
                });
                p.check(total <= 1_000_000, "weighted_clusters", || {
                    format!("the weights add up to {total}; keep them under 1,000,000")
                });
            }
        }
        p.at("policy", |p| self.policy.check(p));
    }
}

impl RouteMatch {
    fn check(&self, p: &mut Problems) {
        if let Some(host) = &self.host {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            p.check(
                !bare.is_empty() && !bare.contains(['*', '/', ' ']),
                "host",
                || format!("`{host}`: give a host name, or `*.` and a domain"),
            );
        }
        match &self.path {
            Some(PathMatch::Exact(s)) | Some(PathMatch::Prefix(s)) => {
                p.check(s.starts_with('/'), "path", || {
                    format!("`{s}` must start with `/`")
                });
            }
            Some(PathMatch::Regex(r)) => check_regex(p, "path.regex", r),
            None => {}
        }
        for (i, m) in self.methods.iter().enumerate() {
            let field = format!("methods[{i}]");
            if !super::policy::http_token(m) {
                p.push(&field, format!("`{m}` is not a method such as `GET`"));
            } else if m.bytes().any(|b| b.is_ascii_lowercase()) {
                p.push(
                    &field,
                    format!(
                        "`{m}`: methods are case-sensitive; write `{}`",
                        m.to_ascii_uppercase()
                    ),
                );
            }
        }
        for (i, h) in self.headers.iter().enumerate() {
            p.at(&format!("headers[{i}]"), |p| h.check(p));
        }
    }
}

impl HeaderMatch {
    pub(crate) fn check(&self, p: &mut Problems) {
        p.check(super::policy::http_token(&self.name), "name", || {
            format!("`{}` is not a header name", self.name)
        });
        let given = usize::from(self.exact.is_some())
            + usize::from(self.regex.is_some())
            + usize::from(self.present.is_some());
        p.check(given == 1, "", || {
            "give exactly one of `exact`, `regex`, `present`".to_owned()
        });
        if let Some(r) = &self.regex {
            check_regex(p, "regex", r);
        }
    }
}

fn check_regex(p: &mut Problems, field: &str, r: &str) {
    if let Err(e) = regex::Regex::new(&format!("^(?:{r})$")) {
        let text = e.to_string();
        let last = text.lines().last().unwrap_or_default().trim();
        let why = last.strip_prefix("error: ").unwrap_or(last);
        p.push(field, format!("`{r}` is not a regular expression: {why}"));
    }
}

//! TCP proxies with toxics: a listener forwarding bytes to one upstream
//! (a database, a cache), with faults on the byte streams, in the shape of
//! Toxiproxy's API so its clients and configs work unchanged.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{check_name, check_socket_addr};
use crate::validate::Problems;

/// A TCP proxy: what it listens on and where it forwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpProxyConfig {
    /// A name for the API and logs. Required, unique.
    pub name: String,
    /// Address and port to accept connections on (port 0 picks a free one).
    /// Required.
    pub listen: String,
    /// `host:port` to forward each connection to. Required.
    pub upstream: String,
    /// Whether it accepts connections; a disabled proxy is closed, as if
    /// the upstream were down. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Toxics applied to its connections from the start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toxics: Vec<ToxicSpec>,
}

fn yes() -> bool {
    true
}

/// A toxic, as Toxiproxy's API writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToxicSpec {
    /// Its name, unique on its proxy. Default `<type>_<stream>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does: `latency`, `bandwidth`, `slow_close`, `timeout`,
    /// `reset_peer`, `slicer`, `limit_data`. Required.
    #[serde(rename = "type")]
    pub kind: String,
    /// The direction it acts on: `downstream` (upstream to client, the
    /// default) or `upstream` (client to upstream).
    #[serde(default = "downstream")]
    pub stream: String,
    /// The share of connections it applies to, 0 to 1. Default 1.
    #[serde(default = "one")]
    pub toxicity: f64,
    /// The type's settings (all integers): `latency` {latency, jitter}
    /// in ms; `bandwidth` {rate} in KB/s; `slow_close` {delay} in ms;
    /// `timeout` {timeout} in ms (0: never closes); `reset_peer` {timeout}
    /// in ms; `slicer` {average_size, size_variation} in bytes and {delay}
    /// in µs; `limit_data` {bytes}.
    #[serde(default)]
    pub attributes: BTreeMap<String, i64>,
}

fn downstream() -> String {
    "downstream".to_owned()
}

fn one() -> f64 {
    1.0
}

/// The attributes each toxic type takes, and whether each is required.
pub const TOXIC_TYPES: [(&str, &[(&str, bool)]); 7] = [
    ("latency", &[("latency", false), ("jitter", false)]),
    ("bandwidth", &[("rate", true)]),
    ("slow_close", &[("delay", false)]),
    ("timeout", &[("timeout", false)]),
    ("reset_peer", &[("timeout", false)]),
    (
        "slicer",
        &[
            ("average_size", false),
            ("size_variation", false),
            ("delay", false),
        ],
    ),
    ("limit_data", &[("bytes", false)]),
];

impl ToxicSpec {
    /// Its name: given, or `<type>_<stream>`.
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}_{}", self.kind, self.stream))
    }

    /// Every problem, each at its field.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Problems::default();
        self.check(&mut p);
        p.into_list()
    }

    pub(crate) fn check(&self, p: &mut Problems) {
        if let Some(n) = &self.name {
            check_name(p, "name", n);
        }
        match TOXIC_TYPES.iter().find(|(t, _)| *t == self.kind) {
            None => p.push(
                "type",
                format!(
                    "`{}` is not a toxic; use one of {}",
                    self.kind,
                    TOXIC_TYPES.map(|(t, _)| t).join(", ")
                ),
            ),
            Some((_, attrs)) => {
                for (name, required) in attrs.iter() {
                    if *required && !self.attributes.contains_key(*name) {
                        p.push("attributes", format!("`{}` needs `{name}`", self.kind));
                    }
                }
                for (k, v) in &self.attributes {
                    if !attrs.iter().any(|(a, _)| a == k) {
                        p.push(
                            &format!("attributes.{k}"),
                            format!(
                                "`{}` takes {}",
                                self.kind,
                                attrs.iter().map(|(a, _)| *a).collect::<Vec<_>>().join(", ")
                            ),
                        );
                    } else if *v < 0 {
                        p.push(&format!("attributes.{k}"), "must not be negative");
                    } else if *v > 1_000_000_000_000 {
                        p.push(&format!("attributes.{k}"), "is too large");
                    }
                }
                if self.kind == "bandwidth" && self.attributes.get("rate") == Some(&0) {
                    p.push("attributes.rate", "must be at least 1 KB/s");
                }
            }
        }
        if self.stream != "upstream" && self.stream != "downstream" {
            p.push(
                "stream",
                format!("`{}`: use `upstream` or `downstream`", self.stream),
            );
        }
        p.check(
            self.toxicity.is_finite() && (0.0..=1.0).contains(&self.toxicity),
            "toxicity",
            || format!("must be 0 to 1, got {}", self.toxicity),
        );
    }
}

impl TcpProxyConfig {
    /// Every problem, each at its field.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Problems::default();
        self.check(&mut p);
        p.into_list()
    }

    pub(crate) fn check(&self, p: &mut Problems) {
        check_name(p, "name", &self.name);
        check_socket_addr(p, "listen", &self.listen);
        p.check(
            self.upstream
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok_and(|n| n > 0)),
            "upstream",
            || format!("`{}` is not host:port", self.upstream),
        );
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.toxics.iter().enumerate() {
            p.at(&format!("toxics[{i}]"), |p| {
                t.check(p);
                if !names.insert(t.name()) {
                    p.push("name", format!("`{}` names two toxics", t.name()));
                }
            });
        }
    }
}

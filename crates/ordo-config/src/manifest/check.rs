//! Checking a manifest: names, references, cycles, ranges, and the
//! `${NAME}` syntax of strings expanded at launch.

use std::collections::{HashMap, HashSet};

use super::{ControlConfig, EdgeConfig, Manifest, ServiceConfig};
use crate::proxy::{ClusterConfig, PoolConfig, check_name, check_socket_addr};
use crate::validate::Problems;

/// Variables ordo sets in every instance's environment.
pub(crate) const RESERVED_ENV: [&str; 3] = ["PORT", "ORDO_SERVICE", "ORDO_INSTANCE"];

impl Manifest {
    pub(super) fn check(&self, p: &mut Problems) {
        check_name(p, "name", &self.name);
        if let Some(b) = &self.build {
            p.at("build", |p| {
                check_command(p, &b.command);
                check_expansions(p, "args", &b.args);
                check_env_map(p, &b.env, &HashSet::new());
            });
        }
        p.at("control", |p| self.control.check(p));
        if self.services.is_empty() {
            p.push("services", "list at least one service");
        }
        let mut names = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            p.at(&format!("services[{i}]"), |p| {
                if !s.name.is_empty() {
                    p.check(names.insert(s.name.as_str()), "name", || {
                        format!("`{}` is the name of another service too", s.name)
                    });
                }
                s.check(p, self);
            });
        }
        self.check_cycles(p);
        if let Some(e) = &self.edge {
            p.at("edge", |p| e.check(p, self));
            if let (Ok(a), Ok(b)) = (
                e.address.parse::<std::net::SocketAddr>(),
                self.control.address.parse::<std::net::SocketAddr>(),
            ) {
                p.check(a.port() == 0 || a != b, "edge.address", || {
                    format!("`{a}` is the control plane's address too")
                });
            }
        }
        p.at("chaos", |p| self.chaos.check(p, self));
        p.at("restart", |p| {
            let r = &self.restart;
            p.check(!r.initial_backoff.is_zero(), "initial_backoff", || {
                "must be more than zero".into()
            });
            p.check(r.initial_backoff <= r.max_backoff, "max_backoff", || {
                format!(
                    "{} is shorter than initial_backoff {}",
                    r.max_backoff, r.initial_backoff
                )
            });
            p.check(!r.stop_timeout.is_zero(), "stop_timeout", || {
                "must be more than zero".into()
            });
        });
    }

    /// Reports each cycle once, at the dependency that closes it, with
    /// the path around it.
    fn check_cycles(&self, p: &mut Problems) {
        let index: HashMap<&str, usize> = self
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        // Depth-first search; 0 unvisited, 1 on the path, 2 done.
        let mut state = vec![0u8; self.services.len()];
        let mut path: Vec<usize> = Vec::new();
        for start in 0..self.services.len() {
            self.visit(start, &index, &mut state, &mut path, p);
        }
    }

    fn visit(
        &self,
        at: usize,
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
        p: &mut Problems,
    ) {
        if state[at] != 0 {
            return;
        }
        state[at] = 1;
        path.push(at);
        for (d, dep) in self.services[at].dependencies.iter().enumerate() {
            let Some(&next) = index.get(dep.service.as_str()) else {
                continue;
            };
            if next == at {
                continue; // reported as calling itself
            }
            match state[next] {
                0 => self.visit(next, index, state, path, p),
                1 => {
                    let from = path.iter().position(|&i| i == next).unwrap_or(0);
                    let mut names: Vec<&str> = path[from..]
                        .iter()
                        .map(|&i| self.services[i].name.as_str())
                        .collect();
                    names.push(&self.services[next].name);
                    p.push(
                        &format!("services[{at}].dependencies[{d}].service"),
                        format!(
                            "`{}` is a cycle: a request could go round it forever",
                            names.join("` → `")
                        ),
                    );
                }
                _ => {}
            }
        }
        path.pop();
        state[at] = 2;
    }
}

impl ControlConfig {
    fn check(&self, p: &mut Problems) {
        check_socket_addr(p, "address", &self.address);
        p.check(!self.data.trim().is_empty(), "data", || {
            "must not be empty; the default is `.ordo`".into()
        });
        p.check(self.lease.get().as_millis() >= 100, "lease", || {
            "must be at least 100ms".into()
        });
        p.check(!self.heartbeat.is_zero(), "heartbeat", || {
            "must be more than zero".into()
        });
        p.check(self.heartbeat.get() * 3 <= self.lease.get(), "heartbeat", || {
            format!(
                "{} is more than a third of the lease {}: one late heartbeat would expire a healthy instance",
                self.heartbeat, self.lease
            )
        });
    }
}

impl ServiceConfig {
    fn check(&self, p: &mut Problems, m: &Manifest) {
        check_name(p, "name", &self.name);
        check_command(p, &self.command);
        check_expansions(p, "args", &self.args);
        p.check(self.replicas <= 1000, "replicas", || {
            format!("must be 0 to 1000, got {}", self.replicas)
        });
        let mut taken: HashSet<String> = RESERVED_ENV.iter().map(|s| (*s).to_owned()).collect();
        let mut dep_vars = HashSet::new();
        let mut seen = HashSet::new();
        for (i, d) in self.dependencies.iter().enumerate() {
            p.at(&format!("dependencies[{i}]"), |p| {
                if d.service == self.name {
                    p.push("service", format!("`{}` cannot call itself", self.name));
                } else if m.service(&d.service).is_none() {
                    p.push("service", format!("no service is named `{}`", d.service));
                }
                p.check(seen.insert(d.service.as_str()), "service", || {
                    format!("`{}` is listed twice", d.service)
                });
                let var = d.env_name();
                let field = if d.env.is_some() { "env" } else { "service" };
                if !env_name_ok(&var) {
                    p.push(field, format!("`{var}` is not a variable name"));
                } else if RESERVED_ENV.contains(&var.as_str()) {
                    p.push(field, format!("`{var}` is set by ordo"));
                } else if !dep_vars.insert(var.clone()) {
                    p.push(
                        field,
                        format!("`{var}` is the variable of another dependency"),
                    );
                }
                p.at("policy", |p| d.policy.check(p));
                check_cluster(p, &d.cluster(&d.service));
            });
        }
        taken.extend(dep_vars);
        check_env_map(p, &self.env, &taken);
        if let Some(dir) = &self.dir {
            p.check(!dir.trim().is_empty(), "dir", || {
                "is empty; leave it out to use the manifest's folder".into()
            });
        }
        p.check(self.metadata.len() <= 63, "metadata", || {
            format!("has {} keys, at most 63 are published", self.metadata.len())
        });
        for (k, v) in &self.metadata {
            let field = format!("metadata.{k}");
            if k.is_empty() || k.len() > 128 {
                p.push(&field, "keys are 1 to 128 bytes");
            } else if k == "sidecar_admin" {
                p.push(&field, "is set by ordo (the sidecar's admin address)");
            }
            p.check(v.len() <= 4096, &field, || {
                format!("is {} bytes, at most 4096 are allowed", v.len())
            });
        }
        if let Some(c) = &self.chaos {
            p.at("chaos", |p| c.check(p, &m.chaos));
        }
        p.at("health", |p| {
            let h = &self.health;
            p.check(h.path.starts_with('/'), "path", || {
                format!("`{}` must start with `/`", h.path)
            });
            for (field, d) in [
                ("interval", h.interval),
                ("timeout", h.timeout),
                ("start_timeout", h.start_timeout),
            ] {
                p.check(!d.is_zero(), field, || "must be more than zero".into());
            }
            p.check(h.timeout <= h.interval, "timeout", || {
                format!("{} is longer than the interval {}", h.timeout, h.interval)
            });
            p.check(h.healthy_threshold >= 1, "healthy_threshold", || {
                "must be at least 1".into()
            });
            p.check(h.unhealthy_threshold >= 1, "unhealthy_threshold", || {
                "must be at least 1".into()
            });
        });
    }
}

impl EdgeConfig {
    fn check(&self, p: &mut Problems, m: &Manifest) {
        check_socket_addr(p, "address", &self.address);
        p.check(m.service(&self.service).is_some(), "service", || {
            format!("no service is named `{}`", self.service)
        });
        p.at("policy", |p| self.policy.check(p));
        check_cluster(p, &self.cluster(&self.service));
    }

    /// The edge's cluster of the entry service's instances (named
    /// `name`, no static endpoints: the registry supplies them).
    pub fn cluster(&self, name: &str) -> ClusterConfig {
        cluster(
            name,
            &self.load_balancer,
            &self.circuit_breaker,
            &self.outlier_detection,
        )
    }
}

impl super::DependencyConfig {
    /// The sidecar's cluster of this dependency's instances (named
    /// `name`, no static endpoints: the registry supplies them).
    pub fn cluster(&self, name: &str) -> ClusterConfig {
        cluster(
            name,
            &self.load_balancer,
            &self.circuit_breaker,
            &self.outlier_detection,
        )
    }
}

fn cluster(
    name: &str,
    load_balancer: &crate::proxy::LoadBalancer,
    circuit_breaker: &Option<crate::proxy::CircuitBreakerConfig>,
    outlier_detection: &Option<crate::proxy::OutlierConfig>,
) -> ClusterConfig {
    ClusterConfig {
        name: name.to_owned(),
        endpoints: Vec::new(),
        protocol: Default::default(),
        load_balancer: load_balancer.clone(),
        pool: PoolConfig::default(),
        circuit_breaker: circuit_breaker.clone(),
        health_check: None,
        outlier_detection: outlier_detection.clone(),
    }
}

/// The cluster's own checks, on the fields a dependency sets (its name
/// is a service's, checked where it is written).
fn check_cluster(p: &mut Problems, c: &ClusterConfig) {
    let mut inner = Problems::default();
    c.check(&mut inner);
    for (field, message) in inner.into_list() {
        if field != "name" {
            p.push(&field, message);
        }
    }
}

fn check_command(p: &mut Problems, command: &str) {
    if command.trim().is_empty() {
        p.push("command", "is empty; give the program to run");
    } else {
        check_expansions(p, "command", std::slice::from_ref(&command.to_owned()));
    }
}

fn check_env_map(
    p: &mut Problems,
    env: &std::collections::BTreeMap<String, String>,
    taken: &HashSet<String>,
) {
    for (k, v) in env {
        let field = format!("env.{k}");
        if !env_name_ok(k) {
            p.push(
                &field,
                format!(
                    "`{k}` is not a variable name (letters, digits and `_`, not first a digit)"
                ),
            );
        } else if taken.contains(k) {
            p.push(&field, format!("`{k}` is set by ordo"));
        }
        check_expansions(p, &field, std::slice::from_ref(v));
    }
}

fn env_name_ok(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks `${NAME}` / `${NAME:-default}` / `$$` in each string.
fn check_expansions(p: &mut Problems, field: &str, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        if let Err(message) = expansion_syntax(v) {
            let at = if values.len() == 1 && !field.starts_with("args") {
                field.to_owned()
            } else {
                format!("{field}[{i}]")
            };
            p.push(&at, message);
        }
    }
}

/// `Ok` when every `$` in `s` starts `$$`, `${NAME}` or `${NAME:-...}`.
pub(crate) fn expansion_syntax(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            return Err(format!(
                "`{s}`: a `$` starts `${{NAME}}` or `${{NAME:-default}}`; write `$$` for a `$`"
            ));
        };
        let Some(end) = body.find('}') else {
            return Err(format!("`{s}`: `${{` is not closed by `}}`"));
        };
        let inner = &body[..end];
        let name = inner.split(":-").next().unwrap_or_default();
        if !env_name_ok(name) {
            return Err(format!("`{s}`: `{name}` is not a variable name"));
        }
        rest = &body[end + 1..];
    }
    Ok(())
}

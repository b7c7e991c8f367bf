//! Configs that must parse: the fixture that sets every field (each value
//! arrives where it belongs, and every field of the schema appears in it),
//! its JSON form (what `/config` shows) loading back to the same config,
//! and every example in `examples/proxy/`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use ordo_config::Duration;
use ordo_config::proxy::*;
use serde_json::Value;

use common::{EVERY_FIELD, parses};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn the_top_level_and_the_first_listener_arrive_as_written() {
    let c = parses(EVERY_FIELD);
    assert_eq!(
        c.admin,
        Some(AdminConfig {
            address: "127.0.0.1:9901".into()
        })
    );
    assert!(c.access_log);
    assert_eq!(c.drain_timeout, s(45));
    let l = &c.listeners[0];
    assert_eq!(l.name, "edge");
    assert_eq!(l.address, "0.0.0.0:8443");
    assert_eq!(l.protocols, [HttpVersion::Http2]);
    assert_eq!(
        l.tls,
        Some(TlsConfig {
            cert: "certs/edge.pem".into(),
            key: "certs/edge.key".into()
        })
    );
    assert_eq!(l.header_read_timeout, s(5));
    assert_eq!(l.max_header_bytes, 32768);
    assert_eq!(l.max_headers, 64);
    assert!(!l.generate_request_id && !l.forwarded_headers);
    assert_eq!(c.listeners[1].address, "[::1]:8080");
}

#[test]
fn the_first_route_arrives_as_written() {
    let c = parses(EVERY_FIELD);
    let r = &c.listeners[0].routes[0];
    assert_eq!(r.name, "api");
    assert_eq!(
        r.matches,
        RouteMatch {
            host: Some("*.example.com".into()),
            path: Some(PathMatch::Prefix("/api/".into())),
            methods: vec!["GET".into(), "POST".into()],
            headers: vec![
                HeaderMatch {
                    name: "x-canary".into(),
                    exact: Some("yes".into()),
                    regex: None,
                    present: None,
                },
                HeaderMatch {
                    name: "user-agent".into(),
                    exact: None,
                    regex: Some("curl/.*".into()),
                    present: None,
                },
                HeaderMatch {
                    name: "x-debug".into(),
                    exact: None,
                    regex: None,
                    present: Some(false),
                },
            ],
        }
    );
    assert_eq!(r.cluster, None);
    assert_eq!(
        r.weighted_clusters,
        [
            WeightedCluster {
                cluster: "api-stable".into(),
                weight: 95
            },
            WeightedCluster {
                cluster: "api-canary".into(),
                weight: 5
            },
        ]
    );
    assert_eq!(
        r.policy,
        PolicyConfig {
            timeout: s(10),
            per_try_timeout: Some(s(2)),
            retry: RetryConfig {
                max_attempts: 3,
                retry_on: vec![
                    RetryOn::ConnectFailure,
                    RetryOn::Reset,
                    RetryOn::PerTryTimeout,
                    RetryOn::GatewayError,
                    RetryOn::FiveXx,
                    RetryOn::RetriableStatusCodes,
                ],
                retriable_status_codes: vec![409, 429],
                backoff: BackoffConfig {
                    base: ms(50),
                    max: s(1)
                },
                budget: Some(BudgetConfig {
                    ratio: 0.1,
                    min_per_second: 5,
                    ttl: s(20)
                }),
                retry_non_idempotent: true,
                max_buffered_body: 131072,
            },
            circuit_breaker: Some(CircuitBreakerConfig {
                window: WindowConfig::Time {
                    length: s(30),
                    buckets: 30
                },
                minimum_calls: 10,
                failure_rate_threshold: 40.0,
                slow_calls: Some(SlowCallConfig {
                    duration: s(2),
                    rate_threshold: 80.0
                }),
                open_wait: s(2),
                open_wait_multiplier: 1.5,
                max_open_wait: s(30),
                half_open_calls: 3,
                probe_deadline: s(5),
            }),
            bulkhead: Some(BulkheadConfig {
                max_concurrent: 500,
                max_wait: ms(50),
                max_waiting: 100
            }),
            concurrency_limit: Some(LimitConfig {
                algorithm: LimitAlgorithm::Vegas,
                initial_limit: Some(20),
                min_limit: Some(5),
                max_limit: Some(400),
            }),
            fallback: Some(FallbackConfig {
                status: 503,
                headers: BTreeMap::from([
                    ("content-type".into(), "application/json".into()),
                    ("retry-after".into(), "5".into()),
                ]),
                body: r#"{"error":"busy"}"#.into(),
                on_upstream_5xx: true,
            }),
        }
    );
}

#[test]
fn the_other_routes_choose_the_other_variants() {
    let c = parses(EVERY_FIELD);
    let [stat, legacy] = &c.listeners[1].routes[..] else {
        panic!("two routes")
    };
    assert_eq!(
        stat.matches.path,
        Some(PathMatch::Exact("/index.html".into()))
    );
    assert_eq!(stat.cluster.as_deref(), Some("static"));
    let cb = stat.policy.circuit_breaker.as_ref().expect("a breaker");
    assert_eq!(cb.window, WindowConfig::Count(50));
    let limit = stat.policy.concurrency_limit.expect("a limit");
    assert_eq!(limit.algorithm, LimitAlgorithm::Aimd);
    assert_eq!(
        legacy.matches.path,
        Some(PathMatch::Regex("/v[12]/.*".into()))
    );
    assert_eq!(legacy.policy.retry.budget, None);
    let cb = legacy.policy.circuit_breaker.as_ref().expect("a breaker");
    assert_eq!(cb.window, WindowConfig::ConsecutiveFailures(5));
}

#[test]
fn the_clusters_arrive_as_written() {
    let c = parses(EVERY_FIELD);
    assert_eq!(
        c.clusters[0],
        ClusterConfig {
            name: "api-stable".into(),
            endpoints: vec![
                EndpointConfig {
                    address: "10.0.0.1:9000".into(),
                    weight: 3
                },
                EndpointConfig {
                    address: "api-2.internal:9000".into(),
                    weight: 1
                },
            ],
            protocol: UpstreamProtocol::Http2,
            load_balancer: LoadBalancer::ConsistentHash {
                header: "x-user-id".into()
            },
            pool: PoolConfig {
                max_idle_per_endpoint: 32,
                idle_timeout: s(60),
                connect_timeout: ms(500),
            },
            circuit_breaker: Some(CircuitBreakerConfig {
                window: WindowConfig::Count(50),
                failure_rate_threshold: 25.0,
                ..CircuitBreakerConfig::default()
            }),
            health_check: Some(HealthCheckConfig {
                path: "/healthz".into(),
                interval: s(2),
                timeout: ms(500),
                healthy_threshold: 1,
                unhealthy_threshold: 2,
                jitter: ms(100),
            }),
            outlier_detection: Some(OutlierConfig {
                consecutive_5xx: 3,
                consecutive_connect_failures: 2,
                interval: s(5),
                base_ejection_time: s(10),
                max_ejection_time: s(120),
                max_ejection_percent: 50,
                success_rate: Some(SuccessRateConfig {
                    minimum_hosts: 3,
                    request_volume: 50,
                    stdev_factor: 1.5,
                }),
            }),
        }
    );
    assert_eq!(c.clusters[1].load_balancer, LoadBalancer::LeastRequest);
    assert_eq!(c.clusters[1].outlier_detection, None);
    assert_eq!(c.clusters[2].load_balancer, LoadBalancer::Weighted);
    assert_eq!(c.clusters[2].endpoints[0].address, "[::1]:8000");
    assert_eq!(c.clusters[3].load_balancer, LoadBalancer::RoundRobin);
    assert_eq!(c.clusters[3].endpoints, []);
}

#[test]
fn the_fixture_sets_every_field_of_the_schema_and_no_other() {
    let schema = ordo_config::proxy_schema();
    let defs = schema["$defs"].as_object().expect("$defs");
    let mut all = BTreeSet::new();
    for (name, def) in defs {
        fields(def, name, &mut all);
    }
    fields(&schema, "ProxyConfig", &mut all);

    let fixture: Value = serde_norway::from_str(EVERY_FIELD).expect("YAML");
    let mut seen = BTreeSet::new();
    let mut unknown = Vec::new();
    walk(
        &schema,
        defs,
        &fixture,
        "ProxyConfig",
        "",
        &mut seen,
        &mut unknown,
    );

    assert!(unknown.is_empty(), "keys the schema lacks: {unknown:?}");
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "tests/fixtures/every-field.yaml does not set {missing:?}"
    );
}

/// Every `Type.field` (and `Type.variant.field`) a schema node describes,
/// not following references.
fn fields(node: &Value, at: &str, out: &mut BTreeSet<String>) {
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (key, sub) in props {
            out.insert(format!("{at}.{key}"));
            fields(sub, &format!("{at}.{key}"), out);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            fields(branch, at, out);
        }
    }
    if let Some(items) = node.get("items") {
        fields(items, at, out);
    }
}

/// The properties (with the type that owns them) and the item schemas a
/// node allows, following references and alternatives.
#[allow(clippy::type_complexity, reason = "a test's local bookkeeping")]
fn shapes<'a>(
    node: &'a Value,
    defs: &'a serde_json::Map<String, Value>,
    at: &str,
    props: &mut BTreeMap<String, (&'a Value, String)>,
    items: &mut Vec<(&'a Value, String)>,
) {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().expect("a name");
        shapes(&defs[name], defs, name, props, items);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            shapes(branch, defs, at, props, items);
        }
    }
    if let Some(p) = node.get("properties").and_then(Value::as_object) {
        for (key, sub) in p {
            props.insert(key.clone(), (sub, format!("{at}.{key}")));
        }
    }
    if let Some(i) = node.get("items") {
        items.push((i, at.to_owned()));
    }
}

/// Records each `Type.field` that `value` sets, and each key the schema
/// does not describe.
fn walk(
    node: &Value,
    defs: &serde_json::Map<String, Value>,
    value: &Value,
    at: &str,
    path: &str,
    seen: &mut BTreeSet<String>,
    unknown: &mut Vec<String>,
) {
    let mut props = BTreeMap::new();
    let mut items = Vec::new();
    shapes(node, defs, at, &mut props, &mut items);
    match value {
        Value::Object(map) if !props.is_empty() => {
            for (key, v) in map {
                match props.get(key) {
                    Some((sub, field)) => {
                        seen.insert(field.clone());
                        walk(sub, defs, v, field, &format!("{path}.{key}"), seen, unknown);
                    }
                    None => unknown.push(format!("{path}.{key}")),
                }
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                for (sub, at) in &items {
                    walk(sub, defs, v, at, &format!("{path}[{i}]"), seen, unknown);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_json_that_config_shows_loads_back_to_the_same_config() {
    let c = parses(EVERY_FIELD);
    let json = serde_json::to_string_pretty(&c).expect("serializes");
    assert_eq!(parses(&json), c);
}

#[test]
fn every_example_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/proxy");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/proxy exists") {
        let path = entry.expect("a folder entry").path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            if let Err(e) = ordo_config::load::<ProxyConfig>(&path) {
                panic!("{e}");
            }
            found += 1;
        }
    }
    assert!(found > 0, "no examples in {}", dir.display());
}

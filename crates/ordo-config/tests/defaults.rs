//! Every default is what the field's doc comment (and so the reference in
//! `docs/proxy.md`) says it is. The values here are written out from the
//! doc comments, not taken from the code.

mod common;

use ordo_config::Duration;
use ordo_config::proxy::*;

use common::parses;

/// Each optional section present and empty, so that its defaults show.
const SECTIONS: &str = "\
listeners:
  - name: edge
    address: 127.0.0.1:8080
    routes:
      - name: all
        cluster: web
        policy:
          circuit_breaker: {}
          bulkhead: {max_concurrent: 10}
          concurrency_limit: {}
          fallback: {}
          retry:
            budget: {}
clusters:
  - name: web
    endpoints:
      - address: 127.0.0.1:9000
    health_check: {}
    outlier_detection:
      success_rate: {}
";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn top_level_and_listener_defaults() {
    let c = parses(SECTIONS);
    assert_eq!(c.admin, None, "no admin listener");
    assert!(!c.access_log, "access log off");
    assert_eq!(c.drain_timeout, s(30));
    let l = &c.listeners[0];
    assert_eq!(l.protocols, [HttpVersion::Http1, HttpVersion::Http2]);
    assert_eq!(l.tls, None, "cleartext");
    assert_eq!(l.header_read_timeout, s(10));
    assert_eq!(l.idle_timeout, s(90));
    assert_eq!(l.max_header_bytes, 65536);
    assert_eq!(l.max_headers, 100);
}

#[test]
fn a_route_matches_everything_by_default() {
    let c = parses(SECTIONS);
    let r = &c.listeners[0].routes[0];
    assert_eq!(r.matches, RouteMatch::default());
    assert_eq!(
        (&r.matches.host, &r.matches.path),
        (&None, &None),
        "any host, any path"
    );
    assert!(r.matches.methods.is_empty() && r.matches.headers.is_empty());
    assert!(r.weighted_clusters.is_empty());
}

#[test]
fn a_policy_has_a_timeout_and_budgeted_retries_and_nothing_else() {
    let c = parses(&SECTIONS.replace(
        "        policy:\n          circuit_breaker: {}\n          bulkhead: {max_concurrent: 10}\n          concurrency_limit: {}\n          fallback: {}\n          retry:\n            budget: {}\n",
        "",
    ));
    let p = &c.listeners[0].routes[0].policy;
    assert_eq!(p.timeout, s(15));
    assert_eq!(p.per_try_timeout, None);
    assert_eq!(p.circuit_breaker, None);
    assert_eq!(p.bulkhead, None);
    assert_eq!(p.concurrency_limit, None);
    assert_eq!(p.fallback, None);
    assert_eq!(*p, PolicyConfig::default());
}

#[test]
fn retries_default_to_two_attempts_on_connection_failures_within_a_budget() {
    let c = parses(SECTIONS);
    let r = &c.listeners[0].routes[0].policy.retry;
    assert_eq!(r.max_attempts, 2);
    assert_eq!(
        r.retry_on,
        [
            RetryOn::ConnectFailure,
            RetryOn::Reset,
            RetryOn::PerTryTimeout,
            RetryOn::GatewayError
        ]
    );
    assert!(r.retriable_status_codes.is_empty());
    assert_eq!(r.backoff.base, ms(25));
    assert_eq!(r.backoff.max, ms(250));
    let b = r.budget.expect("a budget by default");
    assert_eq!(b.ratio, 0.2);
    assert_eq!(b.min_per_second, 10);
    assert_eq!(b.ttl, s(10));
    assert!(!r.retry_non_idempotent);
    assert_eq!(r.max_buffered_body, 65536);
    assert_eq!(*r, RetryConfig::default());
}

#[test]
fn circuit_breaker_defaults() {
    let c = parses(SECTIONS);
    let cb = c.listeners[0].routes[0]
        .policy
        .circuit_breaker
        .as_ref()
        .expect("given");
    assert_eq!(cb.window, WindowConfig::Count(100));
    assert_eq!(cb.minimum_calls, 20);
    assert_eq!(cb.failure_rate_threshold, 50.0);
    assert_eq!(cb.slow_calls, None);
    assert_eq!(cb.open_wait, s(5));
    assert_eq!(cb.open_wait_multiplier, 2.0);
    assert_eq!(cb.max_open_wait, s(60));
    assert_eq!(cb.half_open_calls, 5);
    assert_eq!(cb.probe_deadline, s(10));
    assert_eq!(*cb, CircuitBreakerConfig::default());
}

#[test]
fn slow_calls_default_to_half() {
    let c = parses(&SECTIONS.replace(
        "circuit_breaker: {}",
        "circuit_breaker: {slow_calls: {duration: 1s}}",
    ));
    let cb = c.listeners[0].routes[0].policy.circuit_breaker.as_ref();
    let slow = cb.and_then(|cb| cb.slow_calls).expect("given");
    assert_eq!(slow.rate_threshold, 50.0);
}

#[test]
fn bulkhead_limit_and_fallback_defaults() {
    let c = parses(SECTIONS);
    let p = &c.listeners[0].routes[0].policy;
    let b = p.bulkhead.expect("given");
    assert_eq!(b.max_wait, Duration::default(), "rejected at once");
    assert_eq!(b.max_waiting, 0);
    let l = p.concurrency_limit.expect("given");
    assert_eq!(l.algorithm, LimitAlgorithm::Gradient2);
    assert_eq!(
        (l.initial_limit, l.min_limit, l.max_limit),
        (None, None, None)
    );
    let f = p.fallback.as_ref().expect("given");
    assert_eq!(f.status, 200);
    assert!(f.headers.is_empty());
    assert_eq!(f.body, "");
    assert!(!f.on_upstream_5xx);
}

#[test]
fn cluster_defaults() {
    let c = parses(SECTIONS);
    let k = &c.clusters[0];
    assert_eq!(k.endpoints[0].weight, 1);
    assert_eq!(k.protocol, UpstreamProtocol::Http1);
    assert_eq!(k.load_balancer, LoadBalancer::P2cEwma);
    assert_eq!(k.pool.max_idle_per_endpoint, 256);
    assert_eq!(k.pool.idle_timeout, s(90));
    assert_eq!(k.pool.connect_timeout, s(1));
    assert_eq!(k.pool, PoolConfig::default());
    assert_eq!(k.circuit_breaker, None, "no breaker per endpoint");
}

#[test]
fn health_check_defaults() {
    let c = parses(SECTIONS);
    let h = c.clusters[0].health_check.as_ref().expect("given");
    assert_eq!(h.path, "/health");
    assert_eq!(h.interval, s(5));
    assert_eq!(h.timeout, s(1));
    assert_eq!(h.healthy_threshold, 2);
    assert_eq!(h.unhealthy_threshold, 3);
    assert_eq!(h.jitter, Duration::default());
}

#[test]
fn outlier_detection_is_on_by_default() {
    let c = parses(&SECTIONS.replace(
        "    health_check: {}\n    outlier_detection:\n      success_rate: {}\n",
        "",
    ));
    let k = &c.clusters[0];
    assert_eq!(k.health_check, None, "no active checks");
    let o = k.outlier_detection.as_ref().expect("on by default");
    assert_eq!(o.consecutive_5xx, 5);
    assert_eq!(o.consecutive_connect_failures, 5);
    assert_eq!(o.interval, s(10));
    assert_eq!(o.base_ejection_time, s(30));
    assert_eq!(o.max_ejection_time, s(300));
    assert_eq!(o.max_ejection_percent, 10);
    assert_eq!(o.success_rate, None);
    assert_eq!(*o, OutlierConfig::default());
}

#[test]
fn success_rate_defaults() {
    let c = parses(SECTIONS);
    let o = c.clusters[0].outlier_detection.as_ref().expect("given");
    let sr = o.success_rate.expect("given");
    assert_eq!(sr.minimum_hosts, 5);
    assert_eq!(sr.request_volume, 100);
    assert_eq!(sr.stdev_factor, 1.9);
}

//! Clusters: endpoint addresses and weights, the load balancer, the pool,
//! health checks and outlier ejection, each out of range. Each config is
//! that of `with_cluster`: cluster `web` on line 8, its settings from
//! line 9.

mod common;

use common::{errors, parses, with_cluster};

/// The errors of a cluster with `endpoints` (from line 10).
fn endpoints(list: &str) -> String {
    errors(&with_cluster(&format!(
        "endpoints:\n{}",
        common::indent(list, 2)
    )))
}

#[test]
fn an_endpoint_address_needs_a_port() {
    assert_eq!(
        endpoints("- address: 10.0.0.1"),
        "proxy.yaml:10:9: clusters[0].endpoints[0].address: `10.0.0.1` has no port; \
         write e.g. `10.0.0.1:80`"
    );
}

#[test]
fn an_endpoint_port_is_not_zero() {
    assert_eq!(
        endpoints("- address: 10.0.0.1:0"),
        "proxy.yaml:10:9: clusters[0].endpoints[0].address: `10.0.0.1:0`: \
         port 0 cannot be connected to; use 1 to 65535"
    );
    assert_eq!(
        endpoints("- address: 10.0.0.1:http"),
        "proxy.yaml:10:9: clusters[0].endpoints[0].address: `10.0.0.1:http`: \
         `http` is not a port (1 to 65535)"
    );
}

#[test]
fn an_endpoint_address_has_no_scheme() {
    assert_eq!(
        endpoints("- address: http://10.0.0.1:9000"),
        "proxy.yaml:10:9: clusters[0].endpoints[0].address: `http://10.0.0.1:9000`: \
         write the address without `http://`, e.g. `10.0.0.1:9000`"
    );
}

#[test]
fn an_ipv6_endpoint_is_bracketed() {
    assert_eq!(
        endpoints("- address: \"::1:9000\""),
        "proxy.yaml:10:9: clusters[0].endpoints[0].address: `::1:9000`: \
         put an IPv6 address in brackets, e.g. `[::1]:9000`"
    );
    parses(&with_cluster("endpoints:\n  - address: \"[::1]:9000\""));
}

#[test]
fn an_endpoint_host_is_a_dns_name() {
    parses(&with_cluster(
        "endpoints:\n  - address: api-1.internal:9000",
    ));
    assert_eq!(
        endpoints("- address: \"api 1:9000\""),
        "proxy.yaml:10:9: clusters[0].endpoints[0].address: `api 1:9000` is not \
         `host:port` (e.g. `127.0.0.1:9000`)"
    );
}

#[test]
fn an_endpoint_listed_twice_is_refused() {
    assert_eq!(
        endpoints("- address: 10.0.0.1:9000\n- address: 10.0.0.1:9000"),
        "proxy.yaml:11:9: clusters[0].endpoints[1].address: `10.0.0.1:9000` is listed twice"
    );
}

#[test]
fn an_endpoint_weight_is_1_to_10000() {
    assert_eq!(
        endpoints("- {address: 10.0.0.1:9000, weight: 0}"),
        "proxy.yaml:10:34: clusters[0].endpoints[0].weight: must be 1 to 10000, got 0"
    );
    assert_eq!(
        endpoints("- {address: 10.0.0.1:9000, weight: 10001}"),
        "proxy.yaml:10:34: clusters[0].endpoints[0].weight: must be 1 to 10000, got 10001"
    );
}

#[test]
fn two_clusters_may_not_share_a_name() {
    let text = format!("{}  - name: web\n", with_cluster("endpoints: []"));
    assert_eq!(
        errors(&text),
        "proxy.yaml:10:5: clusters[1].name: `web` names two clusters"
    );
}

#[test]
fn a_consistent_hash_names_a_real_header() {
    assert_eq!(
        errors(&with_cluster(
            "load_balancer:\n  consistent_hash: {header: \"x user\"}"
        )),
        "proxy.yaml:10:25: clusters[0].load_balancer.consistent_hash.header: \
         `x user` is not a header name"
    );
}

#[test]
fn pool_timeouts_are_more_than_zero() {
    assert_eq!(
        errors(&with_cluster(
            "pool: {connect_timeout: 0s, idle_timeout: 0s}"
        )),
        "\
proxy.yaml:9:12: clusters[0].pool.connect_timeout: must be more than zero
proxy.yaml:9:33: clusters[0].pool.idle_timeout: must be more than zero"
    );
}

#[test]
fn a_health_check_times_out_within_its_interval() {
    assert_eq!(
        errors(&with_cluster(
            "health_check:\n  interval: 1s\n  timeout: 2s"
        )),
        "proxy.yaml:11:7: clusters[0].health_check.timeout: 2s is longer than the interval 1s"
    );
    // Against the default interval (5s).
    assert_eq!(
        errors(&with_cluster("health_check:\n  timeout: 10s")),
        "proxy.yaml:10:7: clusters[0].health_check.timeout: 10s is longer than the interval 5s"
    );
}

#[test]
fn a_health_check_path_and_thresholds() {
    assert_eq!(
        errors(&with_cluster(
            "health_check:\n  path: health\n  healthy_threshold: 0\n  unhealthy_threshold: 0"
        )),
        "\
proxy.yaml:10:7: clusters[0].health_check.path: `health` must start with `/`
proxy.yaml:11:7: clusters[0].health_check.healthy_threshold: must be at least 1
proxy.yaml:12:7: clusters[0].health_check.unhealthy_threshold: must be at least 1"
    );
}

#[test]
fn max_ejection_percent_is_at_most_100() {
    assert_eq!(
        errors(&with_cluster(
            "outlier_detection: {max_ejection_percent: 101}"
        )),
        "proxy.yaml:9:25: clusters[0].outlier_detection.max_ejection_percent: \
         must be 0 to 100, got 101"
    );
    parses(&with_cluster(
        "outlier_detection: {max_ejection_percent: 100}",
    ));
}

#[test]
fn ejection_times_are_ordered() {
    assert_eq!(
        errors(&with_cluster(
            "outlier_detection:\n  base_ejection_time: 10m\n  interval: 0s"
        )),
        "\
proxy.yaml:9:5: clusters[0].outlier_detection.max_ejection_time: 5m is below base_ejection_time 10m
proxy.yaml:11:7: clusters[0].outlier_detection.interval: must be more than zero"
    );
}

#[test]
fn success_rate_ejection_compares_at_least_two_hosts() {
    assert_eq!(
        errors(&with_cluster(
            "outlier_detection:\n  success_rate: {minimum_hosts: 1, request_volume: 0, stdev_factor: 0}"
        )),
        "\
proxy.yaml:10:22: clusters[0].outlier_detection.success_rate.minimum_hosts: must be at least 2
proxy.yaml:10:40: clusters[0].outlier_detection.success_rate.request_volume: must be at least 1
proxy.yaml:10:59: clusters[0].outlier_detection.success_rate.stdev_factor: must be more than 0, got 0"
    );
}

#[test]
fn outlier_detection_of_null_turns_it_off() {
    let c = parses(&with_cluster("outlier_detection: null"));
    assert_eq!(c.clusters[0].outlier_detection, None);
}

#[test]
fn a_cluster_breaker_is_checked_like_a_routes() {
    assert_eq!(
        errors(&with_cluster(
            "circuit_breaker: {failure_rate_threshold: 0}"
        )),
        "proxy.yaml:9:23: clusters[0].circuit_breaker.failure_rate_threshold: \
         must be in (0, 100], got 0"
    );
}

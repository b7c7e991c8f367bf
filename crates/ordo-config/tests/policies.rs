//! A route's policy: timeouts, retries and their budget, circuit breaker,
//! bulkhead, adaptive concurrency limit and fallback, each out of range.
//! Each config is the route of `with_route`, its `policy:` on line 7.

mod common;

use common::{errors, parses, with_route};

/// A route whose `policy:` (line 7) holds `yaml` from line 8.
fn policy(yaml: &str) -> String {
    with_route(&format!("policy:\n{}", common::indent(yaml, 2)))
}

const ROUTE: &str = "listeners[0].routes[0].policy";

/// The one error of `policy(yaml)`, without the file and the policy path.
fn error(yaml: &str) -> String {
    let e = errors(&policy(yaml));
    assert_eq!(e.lines().count(), 1, "one error expected:\n{e}");
    e.replacen(&format!(" {ROUTE}."), " ", 1)
}

#[test]
fn a_per_try_timeout_longer_than_the_timeout_never_fires() {
    assert_eq!(
        error("timeout: 2s\nper_try_timeout: 5s"),
        "proxy.yaml:9:11: per_try_timeout: 5s is longer than the route's timeout 2s"
    );
}

#[test]
fn a_timeout_of_zero_is_refused() {
    assert_eq!(
        error("timeout: 0s"),
        "proxy.yaml:8:11: timeout: must be more than zero"
    );
}

#[test]
fn max_attempts_is_1_to_10() {
    assert_eq!(
        error("retry: {max_attempts: 0}"),
        "proxy.yaml:8:19: retry.max_attempts: must be 1 to 10, got 0"
    );
    assert_eq!(
        error("retry: {max_attempts: 11}"),
        "proxy.yaml:8:19: retry.max_attempts: must be 1 to 10, got 11"
    );
    parses(&policy("retry: {max_attempts: 1}"));
    parses(&policy("retry: {max_attempts: 10}"));
}

#[test]
fn retriable_status_codes_need_their_retry_on() {
    assert_eq!(
        error("retry:\n  retriable_status_codes: [429]"),
        "proxy.yaml:9:13: retry.retriable_status_codes: \
         listed, but `retry_on` lacks `retriable-status-codes`"
    );
    parses(&policy(
        "retry:\n  retry_on: [retriable-status-codes]\n  retriable_status_codes: [429]",
    ));
}

#[test]
fn a_retriable_status_is_an_http_status() {
    assert_eq!(
        error("retry:\n  retry_on: [retriable-status-codes]\n  retriable_status_codes: [99]"),
        "proxy.yaml:10:38: retry.retriable_status_codes[0]: 99 is not an HTTP status"
    );
}

#[test]
fn the_backoff_cap_is_not_below_its_base() {
    assert_eq!(
        error("retry:\n  backoff: {base: 1s, max: 100ms}"),
        "proxy.yaml:9:33: retry.backoff.max: 100ms is below base 1s"
    );
}

#[test]
fn a_budget_ratio_is_0_to_10() {
    assert_eq!(
        error("retry:\n  budget: {ratio: -0.5}"),
        "proxy.yaml:9:22: retry.budget.ratio: must be 0 to 10, got -0.5"
    );
    assert_eq!(
        error("retry:\n  budget: {ratio: 11}"),
        "proxy.yaml:9:22: retry.budget.ratio: must be 0 to 10, got 11"
    );
    assert_eq!(
        error("retry:\n  budget: {ratio: .nan}"),
        "proxy.yaml:9:22: retry.budget.ratio: must be 0 to 10, got NaN"
    );
}

#[test]
fn a_budget_ttl_is_1s_to_60s() {
    assert_eq!(
        error("retry:\n  budget: {ttl: 2m}"),
        "proxy.yaml:9:22: retry.budget.ttl: must be 1s to 60s, got 2m"
    );
}

#[test]
fn a_budget_of_null_turns_the_budget_off() {
    let c = parses(&policy("retry: {budget: null}"));
    assert_eq!(c.listeners[0].routes[0].policy.retry.budget, None);
}

#[test]
fn the_retry_body_buffer_is_at_most_64_mib() {
    assert_eq!(
        error("retry: {max_buffered_body: 67108865}"),
        "proxy.yaml:8:19: retry.max_buffered_body: keep it at or under 64 MiB"
    );
}

#[test]
fn failure_rate_thresholds_are_percentages_above_zero() {
    assert_eq!(
        error("circuit_breaker: {failure_rate_threshold: 0}"),
        "proxy.yaml:8:29: circuit_breaker.failure_rate_threshold: must be in (0, 100], got 0"
    );
    assert_eq!(
        error("circuit_breaker: {failure_rate_threshold: 100.5}"),
        "proxy.yaml:8:29: circuit_breaker.failure_rate_threshold: must be in (0, 100], got 100.5"
    );
    assert_eq!(
        error("circuit_breaker:\n  slow_calls: {duration: 1s, rate_threshold: 150}"),
        "proxy.yaml:9:40: circuit_breaker.slow_calls.rate_threshold: \
         must be in (0, 100], got 150"
    );
}

#[test]
fn a_slow_call_threshold_needs_its_duration() {
    assert_eq!(
        error("circuit_breaker:\n  slow_calls: {rate_threshold: 50}"),
        "proxy.yaml:9:13: circuit_breaker.slow_calls.duration: is required"
    );
}

#[test]
fn a_count_window_holds_at_least_one_call() {
    assert_eq!(
        errors(&policy("circuit_breaker:\n  window: {count: 0}\n  minimum_calls: 0")),
        "\
proxy.yaml:9:22: listeners[0].routes[0].policy.circuit_breaker.window.count: must be 1 to 1000000, got 0
proxy.yaml:10:13: listeners[0].routes[0].policy.circuit_breaker.minimum_calls: must be at least 1"
    );
}

#[test]
fn minimum_calls_beyond_the_window_would_never_trip() {
    assert_eq!(
        error("circuit_breaker:\n  window: {count: 10}\n  minimum_calls: 20"),
        "proxy.yaml:10:13: circuit_breaker.minimum_calls: \
         20 can never be reached by a window of 10 calls"
    );
    // The default minimum_calls (20) against a small window.
    assert_eq!(
        error("circuit_breaker:\n  window: {count: 5}"),
        "proxy.yaml:8:11: circuit_breaker.minimum_calls: \
         20 can never be reached by a window of 5 calls"
    );
}

#[test]
fn a_time_window_has_1_to_256_buckets_of_at_least_1ms() {
    assert_eq!(
        error("circuit_breaker:\n  window: {time: {length: 10s, buckets: 300}}"),
        "proxy.yaml:9:42: circuit_breaker.window.time.buckets: must be 1 to 256, got 300"
    );
    assert_eq!(
        error("circuit_breaker:\n  window: {time: {length: 10ms, buckets: 20}}"),
        "proxy.yaml:9:29: circuit_breaker.window.time.length: \
         must be at least 1ms per bucket, got 10ms"
    );
}

#[test]
fn a_consecutive_failures_window_counts_at_least_one() {
    assert_eq!(
        error("circuit_breaker:\n  window: {consecutive_failures: 0}"),
        "proxy.yaml:9:22: circuit_breaker.window.consecutive_failures: must be at least 1"
    );
}

#[test]
fn open_waits_grow_and_stay_under_their_cap() {
    assert_eq!(
        errors(&policy(
            "circuit_breaker:\n  open_wait: 90s\n  open_wait_multiplier: 0.5\n  half_open_calls: 0\n  probe_deadline: 0s"
        )),
        "\
proxy.yaml:8:11: listeners[0].routes[0].policy.circuit_breaker.max_open_wait: 1m is below open_wait 1m 30s
proxy.yaml:10:13: listeners[0].routes[0].policy.circuit_breaker.open_wait_multiplier: must be at least 1, got 0.5
proxy.yaml:11:13: listeners[0].routes[0].policy.circuit_breaker.half_open_calls: must be 1 to 4095, got 0
proxy.yaml:12:13: listeners[0].routes[0].policy.circuit_breaker.probe_deadline: must be at least 1ms, got 0s"
    );
}

#[test]
fn a_bulkhead_admits_at_least_one_request() {
    assert_eq!(
        error("bulkhead: {max_concurrent: 0}"),
        "proxy.yaml:8:22: bulkhead.max_concurrent: must be at least 1"
    );
    assert_eq!(
        error("bulkhead: {}"),
        "proxy.yaml:8:11: bulkhead.max_concurrent: is required"
    );
}

#[test]
fn a_bulkhead_queue_needs_both_a_wait_and_room() {
    assert_eq!(
        error("bulkhead: {max_concurrent: 10, max_waiting: 5}"),
        "proxy.yaml:8:11: bulkhead.max_wait: requests may wait (max_waiting > 0) but max_wait is 0s"
    );
    assert_eq!(
        error("bulkhead: {max_concurrent: 10, max_wait: 10ms}"),
        "proxy.yaml:8:11: bulkhead.max_waiting: is 0, so max_wait 10ms lets no request wait"
    );
}

#[test]
fn concurrency_limits_are_ordered() {
    assert_eq!(
        errors(&policy(
            "concurrency_limit: {min_limit: 50, max_limit: 10, initial_limit: 100}"
        )),
        "\
proxy.yaml:8:46: listeners[0].routes[0].policy.concurrency_limit.max_limit: 10 is below min_limit 50
proxy.yaml:8:61: listeners[0].routes[0].policy.concurrency_limit.initial_limit: 100 is above max_limit 10"
    );
    assert_eq!(
        error("concurrency_limit: {initial_limit: 0}"),
        "proxy.yaml:8:31: concurrency_limit.initial_limit: must be at least 1"
    );
}

#[test]
fn a_fallback_status_is_200_to_599() {
    assert_eq!(
        error("fallback: {status: 99}"),
        "proxy.yaml:8:22: fallback.status: 99 is not a status from 200 to 599"
    );
}

#[test]
fn a_fallback_header_has_a_real_name_and_a_printable_value() {
    assert_eq!(
        errors(&policy(
            "fallback:\n  headers:\n    \"retry after\": \"5\"\n    x-note: \"a\\u0007b\""
        )),
        "\
proxy.yaml:10:15: listeners[0].routes[0].policy.fallback.headers.retry after: `retry after` is not a header name
proxy.yaml:11:15: listeners[0].routes[0].policy.fallback.headers.x-note: the value has control characters"
    );
}

#[test]
fn a_fallback_cannot_set_its_framing_or_a_body_where_none_belongs() {
    assert_eq!(
        errors(&policy(
            "fallback:\n  status: 304\n  body: stale\n  headers:\n    Transfer-Encoding: chunked\n    connection: close\n    retry-after: \"5\""
        )),
        "\
proxy.yaml:10:13: listeners[0].routes[0].policy.fallback.body: a 304 answer has no body
proxy.yaml:12:15: listeners[0].routes[0].policy.fallback.headers.Transfer-Encoding: `Transfer-Encoding` is written by the proxy for each answer; it cannot be set
proxy.yaml:13:15: listeners[0].routes[0].policy.fallback.headers.connection: `connection` is written by the proxy for each answer; it cannot be set"
    );
}

#[test]
fn a_fallback_header_given_twice_is_refused() {
    assert_eq!(
        error("fallback:\n  headers:\n    retry-after: \"5\"\n    retry-after: \"10\""),
        "proxy.yaml:11:15: fallback.headers.retry-after: is given twice"
    );
}

#[test]
fn a_fallback_body_is_at_most_1_mib() {
    let body = "x".repeat((1 << 20) + 1);
    assert_eq!(
        error(&format!("fallback: {{body: {body}}}")),
        "proxy.yaml:8:22: fallback.body: is over 1 MiB"
    );
}

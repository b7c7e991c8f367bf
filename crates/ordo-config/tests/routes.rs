//! Routes: where they send requests (one cluster, or a weighted split of
//! known clusters) and what they match (host, path, methods, headers).

mod common;

use common::{errors, parses, with_route};

/// A route (lines 5 to 8) with `body` in place of where it sends
/// requests; clusters `web` and `canary`.
fn route(body: &str) -> String {
    format!(
        "\
listeners:
  - name: edge
    address: 127.0.0.1:8080
    routes:
      - name: all
{}clusters:
  - name: web
  - name: canary
",
        common::indent(body, 8)
    )
}

#[test]
fn a_route_to_an_unknown_cluster_names_it() {
    assert_eq!(
        errors(&route("cluster: nowhere")),
        "proxy.yaml:6:9: listeners[0].routes[0].cluster: no cluster is named `nowhere`"
    );
}

#[test]
fn a_weighted_split_to_an_unknown_cluster_names_the_entry() {
    assert_eq!(
        errors(&route(
            "weighted_clusters:\n  - {cluster: web, weight: 9}\n  - {cluster: canry, weight: 1}"
        )),
        "proxy.yaml:8:14: listeners[0].routes[0].weighted_clusters[1].cluster: \
         no cluster is named `canry`"
    );
}

#[test]
fn a_route_gives_cluster_or_weighted_clusters_not_both() {
    assert_eq!(
        errors(&route(
            "cluster: web\nweighted_clusters:\n  - {cluster: web, weight: 1}"
        )),
        "proxy.yaml:7:9: listeners[0].routes[0].weighted_clusters: \
         give either `cluster` or `weighted_clusters`, not both"
    );
}

#[test]
fn a_route_without_a_destination_is_reported_at_the_route() {
    assert_eq!(
        errors(&route("match: {path: {prefix: /}}")),
        "proxy.yaml:5:9: listeners[0].routes[0].cluster: \
         a route needs `cluster` or `weighted_clusters`"
    );
}

#[test]
fn weights_that_add_up_to_zero_send_nothing() {
    assert_eq!(
        errors(&route(
            "weighted_clusters:\n  - {cluster: web, weight: 0}\n  - {cluster: canary, weight: 0}"
        )),
        "proxy.yaml:6:9: listeners[0].routes[0].weighted_clusters: \
         the weights add up to 0: no cluster would get requests"
    );
}

#[test]
fn a_weight_of_zero_beside_others_is_fine() {
    let c = parses(&route(
        "weighted_clusters:\n  - {cluster: web, weight: 100}\n  - {cluster: canary, weight: 0}",
    ));
    assert_eq!(c.listeners[0].routes[0].weighted_clusters[1].weight, 0);
}

#[test]
fn a_weighted_entry_needs_its_weight() {
    assert_eq!(
        errors(&route("weighted_clusters:\n  - cluster: web")),
        "proxy.yaml:7:13: listeners[0].routes[0].weighted_clusters[0].weight: is required"
    );
}

#[test]
fn two_routes_of_a_listener_may_not_share_a_name() {
    let text = with_route("").replace(
        "        cluster: web\n",
        "        cluster: web\n      - name: all\n        cluster: web\n",
    );
    assert_eq!(
        errors(&text),
        "proxy.yaml:7:9: listeners[0].routes[1].name: `all` names two routes of this listener"
    );
}

#[test]
fn a_bad_path_regex_shows_the_regex_error() {
    assert_eq!(
        errors(&with_route("match:\n  path: {regex: \"/v[12/.*\"}")),
        "proxy.yaml:8:18: listeners[0].routes[0].match.path.regex: \
         `/v[12/.*` is not a regular expression: unclosed character class"
    );
}

#[test]
fn a_bad_header_regex_shows_the_regex_error() {
    assert_eq!(
        errors(&with_route(
            "match:\n  headers:\n    - name: user-agent\n      regex: \"curl/(\""
        )),
        "proxy.yaml:10:15: listeners[0].routes[0].match.headers[0].regex: \
         `curl/(` is not a regular expression: unclosed group"
    );
}

#[test]
fn an_exact_or_prefix_path_starts_with_a_slash() {
    assert_eq!(
        errors(&with_route("match:\n  path: {prefix: api}")),
        "proxy.yaml:8:11: listeners[0].routes[0].match.path: `api` must start with `/`"
    );
}

#[test]
fn a_header_match_gives_exactly_one_condition() {
    assert_eq!(
        errors(&with_route(
            "match:\n  headers:\n    - name: x-canary\n      exact: \"yes\"\n      present: true"
        )),
        "proxy.yaml:9:15: listeners[0].routes[0].match.headers[0]: \
         give exactly one of `exact`, `regex`, `present`"
    );
    assert_eq!(
        errors(&with_route("match:\n  headers:\n    - name: x-canary")),
        "proxy.yaml:9:15: listeners[0].routes[0].match.headers[0]: \
         give exactly one of `exact`, `regex`, `present`"
    );
}

#[test]
fn a_header_match_names_a_real_header() {
    assert_eq!(
        errors(&with_route(
            "match:\n  headers:\n    - name: \"x canary\"\n      present: true"
        )),
        "proxy.yaml:9:15: listeners[0].routes[0].match.headers[0].name: \
         `x canary` is not a header name"
    );
}

#[test]
fn methods_are_written_in_capitals() {
    assert_eq!(
        errors(&with_route("match:\n  methods: [GET, post]")),
        "proxy.yaml:8:26: listeners[0].routes[0].match.methods[1]: \
         `post`: methods are case-sensitive; write `POST`"
    );
    assert_eq!(
        errors(&with_route("match:\n  methods: [\"GET /\"]")),
        "proxy.yaml:8:21: listeners[0].routes[0].match.methods[0]: \
         `GET /` is not a method such as `GET`"
    );
}

#[test]
fn a_host_is_a_name_or_a_wildcard_domain() {
    parses(&with_route("match: {host: \"*.example.com\"}"));
    assert_eq!(
        errors(&with_route("match: {host: \"api.*.com\"}")),
        "proxy.yaml:7:17: listeners[0].routes[0].match.host: \
         `api.*.com`: give a host name, or `*.` and a domain"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let text = "\
listeners:
  - name: edge
    address: 127.0.0.1:99999
    routes:
      - name: api
        match:
          methods: [get]
          path: {regex: \"(\"}
        cluster: api
        policy:
          per_try_timeout: 20s
clusters:
  - name: web
    endpoints:
      - address: 10.0.0.1
";
    assert_eq!(
        errors(text),
        "\
proxy.yaml:3:5: listeners[0].address: `127.0.0.1:99999` is not an address and port such as `127.0.0.1:8080` or `[::1]:8080`
proxy.yaml:7:21: listeners[0].routes[0].match.methods[0]: `get`: methods are case-sensitive; write `GET`
proxy.yaml:8:18: listeners[0].routes[0].match.path.regex: `(` is not a regular expression: unclosed group
proxy.yaml:9:9: listeners[0].routes[0].cluster: no cluster is named `api`
proxy.yaml:11:11: listeners[0].routes[0].policy.per_try_timeout: 20s is longer than the route's timeout 15s
proxy.yaml:15:9: clusters[0].endpoints[0].address: `10.0.0.1` has no port; write e.g. `10.0.0.1:80`"
    );
}

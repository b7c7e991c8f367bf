//! Listeners and the admin listener: addresses that parse and do not
//! collide, unique names, sane header limits.

mod common;

use common::{errors, parses, with_route};

/// Two listeners (lines 2 and 7) routing to `web`; `second` replaces the
/// second one's address.
fn two_listeners(first: &str, second: &str) -> String {
    format!(
        "\
listeners:
  - name: a
    address: {first}
    routes:
      - {{name: all, cluster: web}}
  - name: b
    address: {second}
    routes:
      - {{name: all, cluster: web}}
clusters:
  - name: web
"
    )
}

#[test]
fn at_least_one_listener_is_required() {
    assert_eq!(
        errors("listeners: []\n"),
        "proxy.yaml:1:1: listeners: at least one listener is required (or a TCP proxy, or an admin listener to add TCP proxies on)"
    );
}

#[test]
fn an_address_must_be_an_ip_and_a_port() {
    assert_eq!(
        errors(&with_route("").replace("127.0.0.1:8080", "localhost:8080")),
        "proxy.yaml:3:5: listeners[0].address: `localhost:8080` is not an address and port \
         such as `127.0.0.1:8080` or `[::1]:8080`"
    );
    assert_eq!(
        errors(&with_route("").replace("127.0.0.1:8080", "127.0.0.1")),
        "proxy.yaml:3:5: listeners[0].address: `127.0.0.1` is not an address and port \
         such as `127.0.0.1:8080` or `[::1]:8080`"
    );
}

#[test]
fn two_listeners_may_not_share_an_address() {
    assert_eq!(
        errors(&two_listeners("127.0.0.1:8080", "127.0.0.1:8080")),
        "proxy.yaml:7:5: listeners[1].address: 127.0.0.1:8080 overlaps listeners[0]'s \
         address 127.0.0.1:8080"
    );
}

#[test]
fn an_unspecified_address_overlaps_every_address_on_its_port() {
    assert_eq!(
        errors(&two_listeners("0.0.0.0:8080", "127.0.0.1:8080")),
        "proxy.yaml:7:5: listeners[1].address: 127.0.0.1:8080 overlaps listeners[0]'s \
         address 0.0.0.0:8080"
    );
    assert_eq!(
        errors(&two_listeners("127.0.0.1:8080", "\"[::]:8080\"")),
        "proxy.yaml:7:5: listeners[1].address: [::]:8080 overlaps listeners[0]'s \
         address 127.0.0.1:8080"
    );
}

#[test]
fn an_unquoted_ipv6_address_is_a_list_and_the_error_says_to_quote_it() {
    assert_eq!(
        errors(&two_listeners("127.0.0.1:8080", "[::1]:8080")),
        "proxy.yaml:7:14: listeners[1].address: invalid type: list, expected a string \
         (quote a value that starts with `[`, e.g. `\"[::1]:8080\"`)"
    );
}

#[test]
fn listeners_on_other_ports_or_port_zero_do_not_overlap() {
    parses(&two_listeners("127.0.0.1:8080", "127.0.0.1:8081"));
    parses(&two_listeners("127.0.0.1:0", "127.0.0.1:0"));
    parses(&two_listeners("127.0.0.1:8080", "127.0.0.2:8080"));
}

#[test]
fn two_listeners_may_not_share_a_name() {
    let text = two_listeners("127.0.0.1:8080", "127.0.0.1:8081").replace("name: b", "name: a");
    assert_eq!(
        errors(&text),
        "proxy.yaml:6:5: listeners[1].name: `a` names two listeners"
    );
}

#[test]
fn a_name_is_letters_digits_and_a_little_punctuation() {
    let text = with_route("").replace("name: edge", "name: edge proxy");
    assert_eq!(
        errors(&text),
        "proxy.yaml:2:5: listeners[0].name: `edge proxy`: use at most 128 letters, digits, \
         `-`, `_` or `.`"
    );
}

#[test]
fn the_admin_listener_may_not_take_a_listeners_address() {
    let text = format!("admin:\n  address: 127.0.0.1:8080\n{}", with_route(""));
    assert_eq!(
        errors(&text),
        "proxy.yaml:5:5: listeners[0].address: 127.0.0.1:8080 overlaps the admin listener's \
         address 127.0.0.1:8080"
    );
    let text = format!("admin:\n  address: 0.0.0.0:8080\n{}", with_route(""));
    assert_eq!(
        errors(&text),
        "proxy.yaml:5:5: listeners[0].address: 127.0.0.1:8080 overlaps the admin listener's \
         address 0.0.0.0:8080"
    );
}

#[test]
fn the_admin_address_must_parse() {
    let text = format!("admin:\n  address: \":9901\"\n{}", with_route(""));
    assert_eq!(
        errors(&text),
        "proxy.yaml:2:3: admin.address: `:9901` is not an address and port such as \
         `127.0.0.1:8080` or `[::1]:8080`"
    );
    let text = format!("admin: {{}}\n{}", with_route(""));
    assert_eq!(errors(&text), "proxy.yaml:1:1: admin.address: is required");
}

#[test]
fn header_limits_have_floors() {
    let text = with_route("").replace(
        "    routes:",
        "    max_header_bytes: 1024\n    max_headers: 0\n    header_read_timeout: 0s\n    routes:",
    );
    assert_eq!(
        errors(&text),
        "\
proxy.yaml:4:5: listeners[0].max_header_bytes: 1024 is below the minimum 8192
proxy.yaml:5:5: listeners[0].max_headers: must be at least 1
proxy.yaml:6:5: listeners[0].header_read_timeout: must be more than zero"
    );
}

#[test]
fn the_header_block_limit_has_a_ceiling() {
    let text = with_route("").replace(
        "    routes:",
        "    max_header_bytes: 4294967295\n    routes:",
    );
    assert_eq!(
        errors(&text),
        "proxy.yaml:4:5: listeners[0].max_header_bytes: \
         4294967295 is above the maximum 8388608 (8 MiB)"
    );
    let text = with_route("").replace("    routes:", "    max_header_bytes: 8388608\n    routes:");
    assert_eq!(parses(&text).listeners[0].max_header_bytes, 8_388_608);
}

#[test]
fn the_header_count_limit_has_a_ceiling() {
    let text = with_route("").replace("    routes:", "    max_headers: 1000000\n    routes:");
    assert_eq!(
        errors(&text),
        "proxy.yaml:4:5: listeners[0].max_headers: 1000000 is above the maximum 10000"
    );
    let text = with_route("").replace("    routes:", "    max_headers: 10000\n    routes:");
    assert_eq!(parses(&text).listeners[0].max_headers, 10_000);
}

#[test]
fn a_listener_speaks_at_least_one_protocol() {
    let text = with_route("").replace("    routes:", "    protocols: []\n    routes:");
    assert_eq!(
        errors(&text),
        "proxy.yaml:4:5: listeners[0].protocols: at least one of http1, http2"
    );
}

#[test]
fn tls_needs_both_files() {
    let text = with_route("").replace(
        "    routes:",
        "    tls: {cert: \"\", key: \"\"}\n    routes:",
    );
    assert_eq!(
        errors(&text),
        "\
proxy.yaml:4:11: listeners[0].tls.cert: a PEM file path is required
proxy.yaml:4:21: listeners[0].tls.key: a PEM file path is required"
    );
    let text = with_route("").replace("    routes:", "    tls: {cert: edge.pem}\n    routes:");
    assert_eq!(
        errors(&text),
        "proxy.yaml:4:5: listeners[0].tls.key: is required"
    );
}

#[test]
fn the_drain_timeout_is_more_than_zero() {
    assert_eq!(
        errors(&format!("{}drain_timeout: 0s\n", with_route(""))),
        "proxy.yaml:11:1: drain_timeout: must be more than zero"
    );
}

//! Files that are not a config at all, or whose YAML does not fit the
//! types: each error names the file, the line and column, the field, and
//! what to write instead.

mod common;

use common::{errors, with_cluster, with_route};
use ordo_config::proxy::ProxyConfig;

#[test]
fn an_empty_file_says_so() {
    assert_eq!(
        errors(""),
        "proxy.yaml: is empty: a config needs at least `listeners`"
    );
    assert_eq!(
        errors("\n  \n"),
        "proxy.yaml: is empty: a config needs at least `listeners`"
    );
}

#[test]
fn a_file_of_comments_is_empty() {
    assert_eq!(
        errors("# proxy config\n---\n# to do\n"),
        "proxy.yaml: is empty: a config needs at least `listeners`"
    );
}

#[test]
fn a_config_without_listeners_names_the_missing_field() {
    assert_eq!(
        errors("clusters: []\n"),
        "proxy.yaml:1:1: listeners: is required"
    );
}

#[test]
fn a_document_that_is_not_a_mapping_is_refused() {
    assert_eq!(
        errors("hello\n"),
        "proxy.yaml:1:1: invalid type: string \"hello\", expected a mapping (`key: value` lines)"
    );
    assert_eq!(
        errors("- listeners\n"),
        "proxy.yaml:1:1: invalid type: list, expected a mapping (`key: value` lines)"
    );
    assert_eq!(
        errors("~\n"),
        "proxy.yaml:1:1: invalid type: null, expected a mapping (`key: value` lines)"
    );
}

#[test]
fn a_yaml_syntax_error_names_its_line() {
    assert_eq!(
        errors("listeners:\n  - name: edge\n    address: \"127.0.0.1:8080\n"),
        "proxy.yaml:4:1: listeners[0].address: found unexpected end of stream \
         (while scanning a quoted scalar from line 3 column 14)"
    );
    assert_eq!(
        errors("listeners: [\n"),
        "proxy.yaml:2:1: listeners: did not find expected node content (while parsing a flow node)"
    );
    assert_eq!(
        errors("listeners:\n  - name: edge\n      address: 127.0.0.1:8080\n"),
        "proxy.yaml:3:14: listeners[0]: mapping values are not allowed in this context"
    );
}

#[test]
fn a_tab_for_indentation_is_a_syntax_error_at_its_line() {
    assert_eq!(
        errors("listeners:\n\t- name: edge\n"),
        "proxy.yaml:2:1: listeners: found character that cannot start any token \
         (while scanning for the next token)"
    );
}

#[test]
fn two_documents_in_one_file_are_refused() {
    let one = "listeners: []\n";
    assert_eq!(
        errors(&format!("{one}---\n{one}")),
        "proxy.yaml: holds more than one YAML document (a `---` line between settings); \
         put the whole config in one"
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    // libyaml takes seconds on 40,000 brackets; these are refused first.
    let text = format!("listeners: {}", "[".repeat(1_000_000));
    assert_eq!(
        errors(&text),
        "proxy.yaml:1:112: nests `[` and `{` more than 100 deep"
    );
}

#[test]
fn a_key_given_twice_is_reported_where_it_is_repeated() {
    assert_eq!(
        errors(&with_route("policy:\n  timeout: 1s\n  timeout: 2s")),
        "proxy.yaml:9:11: listeners[0].routes[0].policy.timeout: is given twice"
    );
    assert_eq!(
        errors("access_log: true\nlisteners: []\naccess_log: false\n"),
        "proxy.yaml:3:1: access_log: is given twice"
    );
}

#[test]
fn an_unknown_top_level_field_suggests_the_close_one() {
    assert_eq!(
        errors(&format!("{}acces_log: true\n", with_route(""))),
        "proxy.yaml:11:1: acces_log: unknown field `acces_log`; did you mean `access_log`?"
    );
}

#[test]
fn an_unknown_listener_field_names_its_path() {
    let text = with_route("").replace("    routes:", "    adress: 127.0.0.1:8081\n    routes:");
    assert_eq!(
        errors(&text),
        "proxy.yaml:4:5: listeners[0].adress: unknown field `adress`; did you mean `address`?"
    );
}

#[test]
fn an_unknown_route_field_names_its_path() {
    assert_eq!(
        errors(&with_route("polcy: {}")),
        "proxy.yaml:7:9: listeners[0].routes[0].polcy: unknown field `polcy`; did you mean `policy`?"
    );
}

#[test]
fn a_route_field_put_at_the_wrong_level_lists_the_right_ones() {
    assert_eq!(
        errors(&with_route("timeout: 1s")),
        "proxy.yaml:7:9: listeners[0].routes[0].timeout: unknown field `timeout`, \
         expected one of `name`, `match`, `cluster`, `weighted_clusters`, `policy`"
    );
}

#[test]
fn an_unknown_field_four_levels_down_names_its_path() {
    assert_eq!(
        errors(&with_route(
            "policy:\n  retry:\n    backoff:\n      maximum: 1s"
        )),
        "proxy.yaml:10:15: listeners[0].routes[0].policy.retry.backoff.maximum: \
         unknown field `maximum`, expected `base` or `max`"
    );
}

#[test]
fn an_unknown_field_in_an_enum_variant_is_refused() {
    assert_eq!(
        errors(&with_cluster(
            "load_balancer: {consistent_hash: {headr: x-user}}"
        )),
        "proxy.yaml:9:39: clusters[0].load_balancer.consistent_hash.headr: \
         unknown field `headr`; did you mean `header`?"
    );
    assert_eq!(
        errors(&with_route(
            "policy:\n  circuit_breaker:\n    window: {time: {length: 10s, bucket: 10}}"
        )),
        "proxy.yaml:9:42: listeners[0].routes[0].policy.circuit_breaker.window.time.bucket: \
         unknown field `bucket`; did you mean `buckets`?"
    );
}

#[test]
fn an_unknown_enum_value_suggests_the_close_one() {
    assert_eq!(
        errors(&with_cluster("load_balancer: round_robbin")),
        "proxy.yaml:9:5: clusters[0].load_balancer: unknown variant `round_robbin`; \
         did you mean `round_robin`?"
    );
    assert_eq!(
        errors(&with_route("match:\n  path: {prefx: /api}")),
        "proxy.yaml:8:18: listeners[0].routes[0].match.path.prefx: unknown variant `prefx`; \
         did you mean `prefix`?"
    );
    assert_eq!(
        errors(&with_route("policy:\n  retry:\n    retry_on: [5XX]")),
        "proxy.yaml:9:24: listeners[0].routes[0].policy.retry.retry_on[0]: \
         unknown variant `5XX`; did you mean `5xx`?"
    );
}

#[test]
fn an_unknown_enum_value_far_from_any_lists_them_all() {
    assert_eq!(
        errors(&with_route(
            "policy:\n  circuit_breaker:\n    window: {calls: 10}"
        )),
        "proxy.yaml:9:22: listeners[0].routes[0].policy.circuit_breaker.window.calls: \
         unknown variant `calls`, expected one of `count`, `time`, `consecutive_failures`"
    );
}

#[test]
fn a_yaml_tag_for_an_enum_asks_for_a_mapping() {
    assert_eq!(
        errors(&with_route("match:\n  path: !prefix /api")),
        "proxy.yaml:8:11: listeners[0].routes[0].match.path: YAML tags (`!name`) are not used: \
         write the choice as a one-key mapping, `{name: value}`"
    );
}

#[test]
fn an_enum_in_the_wrong_shape_says_which_shape() {
    assert_eq!(
        errors(&with_route("match:\n  path: 5")),
        "proxy.yaml:8:11: listeners[0].routes[0].match.path: invalid type: integer `5`, \
         expected `{exact: ...}`, `{prefix: ...}` or `{regex: ...}`"
    );
    assert_eq!(
        errors(&with_route("match:\n  path: {prefix: /a, exact: /a}")),
        "proxy.yaml:8:11: listeners[0].routes[0].match.path: \
         give exactly one choice, as a mapping with one key"
    );
    assert_eq!(
        errors(&with_cluster("load_balancer: consistent_hash")),
        "proxy.yaml:9:5: clusters[0].load_balancer: \
         this choice needs settings: write it as a one-key mapping, `{name: value}`"
    );
    assert_eq!(
        errors(&with_cluster("load_balancer: {round_robin: {}}")),
        "proxy.yaml:9:5: clusters[0].load_balancer: \
         this choice takes no settings: write just its name"
    );
}

#[test]
fn a_string_where_a_number_goes_is_a_type_error() {
    let text = with_route("").replace("    routes:", "    max_headers: lots\n    routes:");
    assert_eq!(
        errors(&text),
        "proxy.yaml:4:5: listeners[0].max_headers: invalid type: string \"lots\", \
         expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn a_number_out_of_its_type_is_a_value_error() {
    assert_eq!(
        errors(&with_route("policy:\n  fallback: {status: 70000}")),
        "proxy.yaml:8:22: listeners[0].routes[0].policy.fallback.status: \
         invalid value: integer `70000`, expected a whole number from 0 to 65535"
    );
    assert_eq!(
        errors(&with_route("policy:\n  retry: {max_attempts: -1}")),
        "proxy.yaml:8:19: listeners[0].routes[0].policy.retry.max_attempts: \
         invalid type: integer `-1`, expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn a_scalar_where_a_list_goes_is_a_type_error() {
    let text = with_route("").replace("    routes:", "    protocols: http1\n    routes:");
    assert_eq!(
        errors(&text),
        "proxy.yaml:4:5: listeners[0].protocols: invalid type: string \"http1\", \
         expected a list"
    );
}

#[test]
fn a_number_where_a_flag_goes_is_a_type_error() {
    assert_eq!(
        errors(&format!("{}access_log: 3\n", with_route(""))),
        "proxy.yaml:11:1: access_log: invalid type: integer `3`, expected a boolean"
    );
}

#[test]
fn a_string_where_a_section_goes_is_a_type_error() {
    assert_eq!(
        errors(&with_route("policy: fast")),
        "proxy.yaml:7:9: listeners[0].routes[0].policy: invalid type: string \"fast\", \
         expected a mapping (`key: value` lines)"
    );
}

#[test]
fn an_empty_address_says_it_is_empty() {
    let text = with_route("").replace("address: 127.0.0.1:8080", "address:");
    assert_eq!(
        errors(&text),
        "proxy.yaml:3:5: listeners[0].address: is empty; give an address and port such as `127.0.0.1:8080`"
    );
}

#[test]
fn a_listener_without_address_names_the_missing_field() {
    let text = with_route("").replace("    address: 127.0.0.1:8080\n", "");
    assert_eq!(
        errors(&text),
        "proxy.yaml:2:5: listeners[0].address: is required"
    );
}

#[test]
fn an_endpoint_without_address_names_the_missing_field() {
    assert_eq!(
        errors(&with_cluster("endpoints:\n  - weight: 2")),
        "proxy.yaml:10:9: clusters[0].endpoints[0].address: is required"
    );
}

#[test]
fn a_duration_without_a_unit_asks_for_one() {
    assert_eq!(
        errors(&with_route("policy:\n  timeout: 5")),
        "proxy.yaml:8:11: listeners[0].routes[0].policy.timeout: \
         `5` has no unit; write e.g. `5ms` or `5s`"
    );
    assert_eq!(
        errors(&with_route("policy:\n  timeout: 1.5")),
        "proxy.yaml:8:11: listeners[0].routes[0].policy.timeout: \
         `1.5` has no unit; write e.g. `1.5s`"
    );
}

#[test]
fn a_duration_that_is_a_word_shows_what_one_looks_like() {
    assert_eq!(
        errors(&with_route("policy:\n  timeout: soon")),
        "proxy.yaml:8:11: listeners[0].routes[0].policy.timeout: \
         `soon` is not a duration; write a number and a unit, e.g. `250ms`, `2s`, `1m30s`"
    );
}

#[test]
fn a_duration_with_an_unknown_unit_lists_the_units() {
    assert_eq!(
        errors(&with_cluster("pool: {connect_timeout: 3 fortnights}")),
        "proxy.yaml:9:12: clusters[0].pool.connect_timeout: \
         `3 fortnights`: `fortnights` is not a unit; use ns, us, ms, s, m, h or d, e.g. `250ms`, `2s`"
    );
}

#[test]
fn a_negative_duration_is_refused() {
    assert_eq!(
        errors(&format!("{}drain_timeout: -5\n", with_route(""))),
        "proxy.yaml:11:1: drain_timeout: `-5` is negative; a duration is a number and a unit, e.g. `2s`"
    );
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = TempDir::new("load");
    let path = dir.file("proxy.yaml", with_route("").as_bytes());
    let doc = ordo_config::load::<ProxyConfig>(&path).expect("valid");
    assert_eq!(doc.config.listeners[0].name, "edge");
    assert_eq!(doc.file, path.display().to_string());

    let path = dir.file("bad.yaml", with_route("policy: {timeout: 0s}").as_bytes());
    let e = ordo_config::load::<ProxyConfig>(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:7:18: listeners[0].routes[0].policy.timeout: must be more than zero",
            path.display()
        )
    );
}

#[test]
fn a_file_that_is_not_utf8_names_the_first_bad_byte() {
    let dir = TempDir::new("utf8");
    let path = dir.file("latin1.yaml", b"listeners:\n  - name: caf\xe9\n");
    let e = ordo_config::load::<ProxyConfig>(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:14: is not UTF-8: byte 0xE9 (offset 24) starts no character; save the file as UTF-8",
            path.display()
        )
    );
}

#[test]
fn a_file_over_16_mib_is_refused_unread() {
    let dir = TempDir::new("large");
    let path = dir.file("huge.yaml", b"");
    // Sparse: no 16 MiB are written.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(ordo_config::MAX_CONFIG_BYTES + 1))
        .expect("grow the file");
    let e = ordo_config::load::<ProxyConfig>(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: is 16777217 bytes; config files are limited to 16777216",
            path.display()
        )
    );
}

#[test]
fn a_missing_file_or_a_folder_is_refused() {
    let dir = TempDir::new("missing");
    let e = ordo_config::load::<ProxyConfig>(&dir.0.join("nope.yaml")).unwrap_err();
    let e = e.to_string();
    assert!(e.contains("nope.yaml: cannot read: "), "{e}");
    let e = ordo_config::load::<ProxyConfig>(&dir.0).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: is not a file", dir.0.display()));
}

/// A folder under the system's temp folder, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ordo-config-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp folder");
        TempDir(dir)
    }

    fn file(&self, name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write a temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

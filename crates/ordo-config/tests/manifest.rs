//! The manifest `ordo up` reads: defaults, references between services,
//! cycles, environment variables and the `${NAME}` syntax, each problem
//! at its file, line and field.

mod common;

use ordo_config::manifest::{Manifest, dependency_env};

const GOOD: &str = "\
name: shop
edge: { address: 127.0.0.1:0, service: web }
services:
  - name: web
    command: ./web
    args: [--port, '${PORT}']
    dependencies:
      - service: ratings
        policy: { timeout: 2s, retry: { max_attempts: 3 } }
      - { service: catalog-v2, env: CATALOG }
  - name: catalog-v2
    command: ./catalog
    dependencies: [ { service: ratings } ]
  - name: ratings
    command: ./ratings
    replicas: 3
    env: { RUST_LOG: info, GREETING: '${USER:-nobody} says $$5' }
";

fn parses(text: &str) -> Manifest {
    match ordo_config::parse::<Manifest>(text, "ordo.yaml") {
        Ok(doc) => doc.config,
        Err(e) => panic!("expected a valid manifest, got:\n{e}\n--- in:\n{text}"),
    }
}

fn errors(text: &str) -> String {
    match ordo_config::parse::<Manifest>(text, "ordo.yaml") {
        Ok(_) => panic!("expected errors, but this parsed:\n{text}"),
        Err(e) => {
            common::assert_well_formed(&e, text);
            e.to_string()
        }
    }
}

#[test]
fn a_good_manifest_gets_its_defaults() {
    let m = parses(GOOD);
    assert_eq!(m.control.address, "127.0.0.1:7070");
    assert_eq!(m.control.data, ".ordo");
    assert_eq!(m.control.lease.to_string(), "10s");
    assert_eq!(m.control.heartbeat.to_string(), "2s");
    let web = m.service("web").unwrap();
    assert_eq!(web.replicas, 1);
    assert_eq!(web.health.path, "/health");
    assert_eq!(web.health.start_timeout.to_string(), "30s");
    assert_eq!(web.dependencies[0].env_name(), "ORDO_DEP_RATINGS_URL");
    assert_eq!(web.dependencies[1].env_name(), "CATALOG");
    assert_eq!(web.dependencies[0].policy.retry.max_attempts, 3);
    assert!(web.dependencies[0].outlier_detection.is_some());
    assert_eq!(m.service("ratings").unwrap().replicas, 3);
    assert_eq!(m.restart.initial_backoff.to_string(), "500ms");
}

#[test]
fn dependencies_start_before_their_callers() {
    let m = parses(GOOD);
    let order: Vec<&str> = m.start_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["ratings", "catalog-v2", "web"]);
}

#[test]
fn a_dependency_variable_is_the_name_in_capitals() {
    assert_eq!(dependency_env("ratings"), "ORDO_DEP_RATINGS_URL");
    assert_eq!(
        dependency_env("catalog-v2.eu"),
        "ORDO_DEP_CATALOG_V2_EU_URL"
    );
}

#[test]
fn an_unknown_dependency_is_named_where_it_is_written() {
    let text = GOOD.replace(
        "dependencies: [ { service: ratings } ]",
        "dependencies: [ { service: ratngs } ]",
    );
    assert_eq!(
        errors(&text),
        "ordo.yaml:13:23: services[1].dependencies[0].service: no service is named `ratngs`"
    );
}

#[test]
fn a_cycle_is_rejected_with_its_path() {
    let text = GOOD.replace(
        "    replicas: 3\n",
        "    replicas: 3\n    dependencies: [ { service: web } ]\n",
    );
    assert_eq!(
        errors(&text),
        "ordo.yaml:17:23: services[2].dependencies[0].service: `web` → `ratings` → `web` \
         is a cycle: a request could go round it forever"
    );
}

#[test]
fn a_longer_cycle_is_reported_once() {
    let text = "\
name: loop
services:
  - { name: a, command: x, dependencies: [ { service: b } ] }
  - { name: b, command: x, dependencies: [ { service: c } ] }
  - { name: c, command: x, dependencies: [ { service: a } ] }
";
    let e = errors(text);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("`a` → `b` → `c` → `a` is a cycle"), "{e}");
}

#[test]
fn a_service_cannot_call_itself_or_one_twice() {
    let text = "\
name: x
services:
  - name: a
    command: x
    dependencies: [ { service: a }, { service: b }, { service: b } ]
  - { name: b, command: y }
";
    assert_eq!(
        errors(text),
        "ordo.yaml:5:23: services[0].dependencies[0].service: `a` cannot call itself\n\
         ordo.yaml:5:55: services[0].dependencies[2].service: `b` is listed twice\n\
         ordo.yaml:5:55: services[0].dependencies[2].service: \
         `ORDO_DEP_B_URL` is the variable of another dependency"
    );
}

#[test]
fn names_are_unique_and_required() {
    let text = "\
name: x
services:
  - { name: a, command: x }
  - { name: a, command: '' }
";
    assert_eq!(
        errors(text),
        "ordo.yaml:4:7: services[1].name: `a` is the name of another service too\n\
         ordo.yaml:4:16: services[1].command: is empty; give the program to run"
    );
    assert_eq!(
        errors("name: x\nservices: []\n"),
        "ordo.yaml:2:1: services: list at least one service"
    );
    let e = errors("services: [ { name: a, command: x } ]\n");
    assert!(e.contains("name: is required"), "{e}");
}

#[test]
fn the_edge_must_point_at_a_service() {
    let text = GOOD.replace("service: web }", "service: wbe }");
    assert_eq!(
        errors(&text),
        "ordo.yaml:2:31: edge.service: no service is named `wbe`"
    );
    let text = GOOD.replace(
        "edge: { address: 127.0.0.1:0,",
        "control: { address: 127.0.0.1:9000 }\nedge: { address: 127.0.0.1:9000,",
    );
    assert!(
        errors(&text).contains("edge.address: `127.0.0.1:9000` is the control plane's address too")
    );
}

#[test]
fn the_heartbeat_fits_three_times_in_the_lease() {
    let text = format!("control: {{ lease: 3s, heartbeat: 2s }}\n{GOOD}");
    assert_eq!(
        errors(&text),
        "ordo.yaml:1:23: control.heartbeat: 2s is more than a third of the lease 3s: \
         one late heartbeat would expire a healthy instance"
    );
}

#[test]
fn ordo_sets_some_variables_itself() {
    let text = GOOD.replace("RUST_LOG: info", "PORT: '80'");
    assert_eq!(
        errors(&text),
        "ordo.yaml:17:12: services[2].env.PORT: `PORT` is set by ordo"
    );
    let text = GOOD.replace(
        "command: ./web\n",
        "command: ./web\n    env: { CATALOG: x }\n",
    );
    assert!(
        errors(&text).contains("services[0].env.CATALOG: `CATALOG` is set by ordo"),
        "{}",
        errors(&text)
    );
    let text = GOOD.replace("env: CATALOG", "env: 9lives");
    assert!(
        errors(&text).contains("services[0].dependencies[1].env: `9lives` is not a variable name")
    );
}

#[test]
fn expansions_are_checked_before_launch() {
    let text = GOOD.replace("'${PORT}'", "'${PORT'");
    assert_eq!(
        errors(&text),
        "ordo.yaml:6:20: services[0].args[1]: `${PORT`: `${` is not closed by `}`"
    );
    let text = GOOD.replace("$$5", "$5");
    assert!(errors(&text).contains("write `$$` for a `$`"));
    let text = GOOD.replace("command: ./web", "command: '${1X}/web'");
    assert!(
        errors(&text).contains("services[0].command: `${1X}/web`: `1X` is not a variable name")
    );
}

#[test]
fn a_dependency_policy_is_checked_like_a_route_policy() {
    let text = GOOD.replace("timeout: 2s", "timeout: 0s");
    assert_eq!(
        errors(&text),
        "ordo.yaml:9:19: services[0].dependencies[0].policy.timeout: must be more than zero"
    );
    let text = GOOD.replace(
        "- { service: catalog-v2, env: CATALOG }",
        "- { service: catalog-v2, env: CATALOG, load_balancer: { consistent_hash: { header: 'a b' } } }",
    );
    assert!(errors(&text).contains(
        "services[0].dependencies[1].load_balancer.consistent_hash.header: `a b` is not a header name"
    ));
}

#[test]
fn ranges_and_typos() {
    let text = GOOD.replace("replicas: 3", "replicas: 5000");
    assert_eq!(
        errors(&text),
        "ordo.yaml:16:5: services[2].replicas: must be 0 to 1000, got 5000"
    );
    let text = GOOD.replace("replicas: 3", "replica: 3");
    let e = errors(&text);
    assert!(e.starts_with("ordo.yaml:16:5: services[2]"), "{e}");
    assert!(e.contains("replica"), "{e}");
    let text = format!("{GOOD}restart: {{ initial_backoff: 2s, max_backoff: 1s }}\n");
    assert!(errors(&text).contains("restart.max_backoff: 1s is shorter than initial_backoff 2s"));
    let text = GOOD.replace(
        "    replicas: 3\n",
        "    replicas: 3\n    health: { path: health, timeout: 2s }\n",
    );
    let e = errors(&text);
    assert!(
        e.contains("services[2].health.path: `health` must start with `/`"),
        "{e}"
    );
    assert!(
        e.contains("services[2].health.timeout: 2s is longer than the interval 1s"),
        "{e}"
    );
}

#[test]
fn the_bookstore_example_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/bookstore/ordo.yaml"
    );
    if let Err(e) = ordo_config::load::<Manifest>(std::path::Path::new(path)) {
        panic!("{e}");
    }
}

#[test]
fn an_empty_manifest_says_what_it_needs() {
    assert_eq!(
        errors("# nothing yet\n"),
        "ordo.yaml: is empty: a manifest needs at least `name` and `services`"
    );
}

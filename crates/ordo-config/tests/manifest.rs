//! The manifest `ordo up` reads: defaults, references between services,
//! cycles, environment variables and the `${NAME}` syntax, each problem
//! at its file, line and field.

mod common;

use ordo_config::manifest::{Grouping, Manifest, MinHealthy, dependency_env};

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

/// The manifest of these tests with `chaos` as its top-level `chaos:`
/// section (from line 1) and `ratings` opted in with `service_chaos`.
fn with_chaos(chaos: &str, service_chaos: &str) -> String {
    let text = GOOD.replace(
        "    replicas: 3\n",
        &format!("    replicas: 3\n    chaos: {service_chaos}\n"),
    );
    format!("chaos:\n{}{text}", common::indent(chaos, 2))
}

#[test]
fn chaos_is_off_and_leashed_unless_switched_on() {
    let m = parses(GOOD);
    assert!(!m.chaos.enabled);
    assert!(m.chaos.leashed);
    assert_eq!(m.chaos.mean_time_between_kills, 5.0);
    assert_eq!(m.chaos.min_time_between_kills, 1);
    assert_eq!(m.chaos.grouping, Grouping::Cluster);
    assert_eq!(m.chaos.window.start_hour, 9);
    assert_eq!(m.chaos.window.end_hour, 15);
    assert!(m.chaos.window.weekdays_only);
    assert_eq!(m.chaos.window.time_zone, None);
    assert_eq!(m.chaos.min_healthy, MinHealthy::Count(1));
    assert_eq!(m.chaos.outage.as_ref().unwrap().max_error_rate, 0.05);
    assert!(m.chaos.outage.as_ref().unwrap().deploys);
    assert!(m.services.iter().all(|s| s.chaos.is_none()));
}

#[test]
fn a_good_chaos_section_is_read_with_its_overrides() {
    let text = with_chaos(
        "\
enabled: true
leashed: false
mean_time_between_kills: 2.5
min_time_between_kills: 0
grouping: stack
slot: 5s
window: { start_hour: 0, end_hour: 24, time_zone: Europe/Berlin, weekdays_only: false }
holidays: [2025-12-25, 2026-01-01]
exceptions:
  - { service: 'catalog*' }
  - { service: web, stack: 'eu-*', cluster: '*-old' }
min_healthy: 50%
outage: { max_error_rate: 0.1, deploys: false }
seed: 42
",
        "{ mean_time_between_kills: 3, min_time_between_kills: 2, grouping: app, min_healthy: 2 }",
    );
    let m = parses(&text);
    let c = &m.chaos;
    assert!(c.enabled && !c.leashed);
    assert_eq!(c.mean_time_between_kills, 2.5);
    assert_eq!(c.slot.unwrap().to_string(), "5s");
    assert_eq!(c.window.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(c.holidays.len(), 2);
    assert_eq!(c.exceptions[1].stack.as_deref(), Some("eu-*"));
    assert_eq!(c.exceptions[0].stack, None);
    assert_eq!(c.min_healthy, MinHealthy::Percent(50.0));
    assert_eq!(c.seed, Some(42));
    let r = m.service("ratings").unwrap().chaos.clone().unwrap();
    assert!(r.enabled);
    assert_eq!(r.grouping, Some(Grouping::App));
    assert_eq!(r.min_healthy, Some(MinHealthy::Count(2)));
    let text = with_chaos("outage: null\n", "{}");
    let m = parses(&text);
    assert_eq!(m.chaos.outage, None);
    assert!(
        m.service("ratings")
            .unwrap()
            .chaos
            .as_ref()
            .unwrap()
            .enabled
    );
}

#[test]
fn a_bad_chaos_section_names_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "window: { start_hour: 15, end_hour: 9 }\n",
            "{}",
            "ordo.yaml:2:29: chaos.window.end_hour: 9 is not after start_hour 15: the window would be empty",
        ),
        (
            "window: { end_hour: 25 }\n",
            "{}",
            "ordo.yaml:2:13: chaos.window.end_hour: must be 1 to 24, got 25",
        ),
        (
            "window: { time_zone: Mars/Olympus }\n",
            "{}",
            "ordo.yaml:2:13: chaos.window.time_zone: `Mars/Olympus` is not a time zone; \
             use an IANA name such as `Europe/Berlin`, `America/Los_Angeles` or `UTC`",
        ),
        (
            "holidays:\n  - 2025-12-25\n  - 2025-02-30\n",
            "{}",
            "ordo.yaml:4:7: chaos.holidays[1]: `2025-02-30` is not a date written `YYYY-MM-DD`, \
             such as `2025-12-25`",
        ),
        (
            "mean_time_between_kills: 0.5\n",
            "{}",
            "ordo.yaml:2:3: chaos.mean_time_between_kills: must be at least 1 (work days or slots), got 0.5",
        ),
        (
            "mean_time_between_kills: 2\nmin_time_between_kills: 3\n",
            "{}",
            "ordo.yaml:3:3: chaos.min_time_between_kills: 3 is more than the mean time between kills 2",
        ),
        (
            "min_healthy: 150%\n",
            "{}",
            "ordo.yaml:2:3: chaos.min_healthy: must be 0% to 100%, got 150%",
        ),
        (
            "outage: { max_error_rate: 1.5 }\n",
            "{}",
            "ordo.yaml:2:13: chaos.outage.max_error_rate: must be 0 to 1, got 1.5",
        ),
        (
            "exceptions: [ { service: ratngs } ]\n",
            "{}",
            "ordo.yaml:2:19: chaos.exceptions[0].service: no service is named `ratngs`",
        ),
        (
            "exceptions: [ { service: 'x*' } ]\n",
            "{}",
            "ordo.yaml:2:19: chaos.exceptions[0].service: `x*` matches no service",
        ),
        (
            "slot: 50ms\n",
            "{}",
            "ordo.yaml:2:3: chaos.slot: 50ms is shorter than 100ms",
        ),
        (
            "slot: 8h\n",
            "{}",
            "ordo.yaml:2:3: chaos.slot: 8h is longer than the window (9:00 to 15:00): \
             some work days would have no slot",
        ),
        (
            "enabled: true\n",
            "{ mean_time_between_kills: 0 }",
            "ordo.yaml:19:14: services[2].chaos.mean_time_between_kills: \
             must be at least 1 (work days or slots), got 0",
        ),
        (
            "mean_time_between_kills: 2\n",
            "{ min_time_between_kills: 3 }",
            "ordo.yaml:19:14: services[2].chaos.min_time_between_kills: \
             3 is more than the mean time between kills 2",
        ),
    ];
    for (chaos, service, expected) in cases {
        let text = with_chaos(chaos, service);
        assert_eq!(&errors(&text), expected, "--- in:\n{text}");
    }
}

#[test]
fn a_chaos_typo_is_named() {
    let e = errors(&with_chaos("enabld: true\n", "{}"));
    assert!(e.starts_with("ordo.yaml:2:3: chaos"), "{e}");
    assert!(e.contains("enabled"), "{e}");
    let e = errors(&with_chaos("grouping: region\n", "{}"));
    assert!(e.starts_with("ordo.yaml:2:"), "{e}");
    assert!(e.contains("cluster"), "{e}");
    let e = errors(&with_chaos("min_healthy: half\n", "{}"));
    assert!(e.contains("neither a count"), "{e}");
    let e = errors(&with_chaos("{}", "{ enabled: true, mean: 3 }"));
    assert!(e.contains("services[2].chaos"), "{e}");
}

#[test]
fn metadata_is_published_within_the_registrys_bounds() {
    let text = GOOD.replace(
        "    replicas: 3\n",
        "    replicas: 3\n    metadata: { cluster: ratings-v2, role: canary }\n",
    );
    let m = parses(&text);
    let ratings = m.service("ratings").expect("ratings");
    assert_eq!(ratings.metadata["cluster"], "ratings-v2");
    assert_eq!(ratings.metadata["role"], "canary");

    let long = "x".repeat(4097);
    let text = GOOD.replace(
        "    replicas: 3\n",
        &format!("    replicas: 3\n    metadata: {{ sidecar_admin: a, stack: {long} }}\n"),
    );
    let e = errors(&text);
    assert!(
        e.contains("services[2].metadata.sidecar_admin: is set by ordo"),
        "{e}"
    );
    assert!(
        e.contains("services[2].metadata.stack: is 4097 bytes, at most 4096 are allowed"),
        "{e}"
    );
}

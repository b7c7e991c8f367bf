//! Starting services: replicas on their own ports, environment, logs, specs
//! refused.

use std::collections::HashSet;

use ordo_platform::{Health, LocalOptions, LocalPlatform, Platform, PlatformError, ServiceSpec};

use crate::support::*;

#[tokio::test]
async fn replicas_each_listen_on_their_own_port_and_answer() {
    let f = Fixture::new("replicas");
    f.platform.start(f.upstream("web", 3)).await.unwrap();

    let list = f.running(3).await;
    let ids: Vec<_> = list.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["web-1", "web-2", "web-3"]);
    let ports: HashSet<_> = list.iter().map(|i| i.address.port()).collect();
    assert_eq!(ports.len(), 3, "{list:?}");
    for instance in &list {
        assert_eq!(instance.service, "web");
        assert_eq!(instance.restarts, 0);
        assert!(instance.started_at.is_some());
        // `--listen 127.0.0.1:${PORT} --name ${ORDO_INSTANCE}` were expanded.
        assert_eq!(get(instance.address, "/").await, (200, instance.id.clone()));
        let log = std::fs::read_to_string(&instance.log).unwrap();
        let pid = instance.pid.unwrap();
        assert!(
            log.lines()
                .next()
                .unwrap()
                .contains(&format!("{} start #1: ", instance.id))
                && log.contains(&format!("{} start #1: pid {pid}\n", instance.id))
                && log.contains("listening on"),
            "{log}"
        );
        assert_eq!(
            instance.log,
            f.tmp
                .path()
                .join("logs/web")
                .join(format!("{}.log", instance.id))
        );
        assert_eq!(*f.companion.health_of(&instance.id).borrow(), Health::Up);
    }
    let started = f.audit.of("service-started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].1["replicas"], 3);

    let pids = f.pids();
    f.platform.shutdown().await;
    all_gone(&pids).await;
    assert!(f.list().await.is_empty());
}

#[tokio::test]
async fn the_process_sees_its_port_service_instance_spec_and_companion_variables() {
    let f = Fixture::new("env");
    let script = format!(
        "echo \"seen: port=$PORT service=$ORDO_SERVICE instance=$ORDO_INSTANCE \
         greeting=$GREETING companion=$COMPANION_OF\"; exec {} --listen 127.0.0.1:$PORT",
        upstream_bin().display()
    );
    let spec = f
        .shell("env", &script)
        .env("GREETING", "hello-${ORDO_INSTANCE}-${MISSING:-x}-$$");
    f.platform.start(spec).await.unwrap();
    let instance = f.running(1).await.remove(0);

    let log = std::fs::read_to_string(&instance.log).unwrap();
    let port = instance.address.port();
    assert!(
        log.contains(&format!(
            "seen: port={port} service=env instance=env-1 greeting=hello-env-1-x-$ companion=env-1"
        )),
        "{log}"
    );
    f.platform.shutdown().await;
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn bad_specs_are_refused_with_the_field_and_nothing_starts() {
    let f = Fixture::new("bad-spec");
    let refused = |r: Result<(), PlatformError>| match r {
        Err(PlatformError::InvalidSpec { field, message }) => format!("{field}: {message}"),
        other => panic!("expected InvalidSpec, got {other:?}"),
    };
    let too_many = f.upstream("web", 1001);
    assert_eq!(
        refused(f.platform.start(too_many).await),
        "replicas: 1001 is more than the limit of 1000"
    );
    let no_dir = f.upstream("web", 1).dir(f.tmp.path().join("nowhere"));
    assert!(refused(f.platform.start(no_dir).await).ends_with("nowhere is not a directory"));
    let empty = ServiceSpec::new("web", "");
    assert_eq!(
        refused(f.platform.start(empty).await),
        "command: must not be empty"
    );
    assert!(f.list().await.is_empty());

    let zero_backoff = LocalOptions::new(f.tmp.path()).backoff(ordo_platform::BackoffPolicy {
        initial: std::time::Duration::ZERO,
        ..backoff()
    });
    let err = LocalPlatform::new(zero_backoff).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid backoff.initial: "),
        "{err}"
    );
}

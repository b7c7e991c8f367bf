//! Instances that fail: crash loops, commands that do not exist, apps that
//! never answer or stop answering, companions that refuse. Each gets a clear
//! reason and a backoff, never a hang.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ordo_platform::{Health, HealthSpec, Phase, Platform};

use crate::support::*;

fn backoff_reason(i: &ordo_platform::InstanceState) -> Option<&str> {
    match &i.phase {
        Phase::Backoff { reason, .. } => Some(reason),
        _ => None,
    }
}

#[tokio::test]
async fn a_crash_loop_backs_off_with_growing_delays() {
    let f = Fixture::new("crash");
    f.platform
        .start(f.shell("crash", "echo boom; exit 3"))
        .await
        .unwrap();

    let instance = f
        .instance_when("crash-1", "five restarts", |i| {
            i.restarts >= 5 && backoff_reason(i).is_some()
        })
        .await;
    assert_eq!(backoff_reason(&instance), Some("exited with status 3"));
    assert_eq!(instance.last_exit.as_deref(), Some("exited with status 3"));
    assert_eq!(instance.health, Health::Down);
    assert_eq!(instance.pid, None);

    let delays: Vec<u64> = f
        .audit
        .of("instance-restarting")
        .iter()
        .map(|(_, d)| d["backoff_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(delays[..6], [50, 100, 200, 400, 400, 400]);
    let exits = f.audit.of("instance-exited");
    assert!(
        exits
            .iter()
            .all(|(id, d)| id == "crash-1" && d["reason"] == "exited with status 3")
    );

    // Each start has its header, the app's output and how it ended.
    let log = std::fs::read_to_string(&instance.log).unwrap();
    for n in 1..=5 {
        assert!(
            log.contains(&format!("crash-1 start #{n}: sh -c \"echo boom; exit 3\"")),
            "{log}"
        );
    }
    assert!(
        log.contains("boom\n") && log.contains("crash-1 exited with status 3"),
        "{log}"
    );

    // The companion was attached once for the id, whatever the restarts.
    assert_eq!(f.companion.calls(), [Call::Attach("crash-1".into())]);

    f.platform.stop("crash").await.unwrap();
    assert_eq!(
        f.companion.calls().last(),
        Some(&Call::Detach(
            "crash-1".into(),
            ordo_platform::Ending::Graceful
        ))
    );
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn a_command_that_does_not_exist_backs_off_with_a_clear_reason() {
    let f = Fixture::new("missing");
    let mut relative = f.upstream("relative", 1);
    relative.command = "./nope".into();
    let mut bare = f.upstream("bare", 1);
    bare.command = "ordo-no-such-program".into();
    f.platform.start(relative).await.unwrap();
    f.platform.start(bare).await.unwrap();

    for (id, command) in [("relative-1", "./nope"), ("bare-1", "ordo-no-such-program")] {
        let instance = f
            .instance_when(id, "two failed starts", |i| {
                i.restarts >= 2 && backoff_reason(i).is_some()
            })
            .await;
        assert_eq!(
            backoff_reason(&instance).unwrap(),
            format!("cannot start `{command}`: No such file or directory (os error 2)")
        );
        let log = std::fs::read_to_string(&instance.log).unwrap();
        assert!(
            log.contains(&format!("start #1: cannot start `{command}`: No such file")),
            "{log}"
        );
    }
    assert!(f.pids().is_empty());
    f.platform.shutdown().await;
    assert!(f.list().await.is_empty());
}

#[tokio::test]
async fn an_unknown_variable_is_a_start_failure_not_a_panic() {
    let f = Fixture::new("unknown-var");
    let spec = f
        .upstream("web", 1)
        .args(["--body-bytes", "${ORDO_TEST_SURELY_UNSET}"]);
    f.platform.start(spec).await.unwrap();
    let instance = f
        .instance_when("web-1", "a failed start", |i| backoff_reason(i).is_some())
        .await;
    let reason = backoff_reason(&instance).unwrap();
    assert!(
        reason.starts_with("cannot start `")
            && reason.contains(": args[5]: ${ORDO_TEST_SURELY_UNSET} is not set"),
        "{reason}"
    );
    f.platform.shutdown().await;
}

#[tokio::test]
async fn a_process_that_never_answers_is_killed_and_restarted() {
    let f = Fixture::new("silent");
    let spec = f.shell("silent", "exec sleep 1000").health(HealthSpec {
        start_timeout: Duration::from_millis(300),
        ..health()
    });
    f.platform.start(spec).await.unwrap();

    let instance = f
        .instance_when("silent-1", "a restart", |i| i.restarts >= 1)
        .await;
    assert_eq!(
        instance.last_exit.as_deref(),
        Some("never answered GET /health within 300ms")
    );
    let first = f.pids()[0];
    assert!(!alive(first), "the first `sleep` was killed");

    f.platform.shutdown().await;
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn an_app_that_stops_answering_is_restarted_after_the_threshold() {
    let f = Fixture::with("unhealthy", |o| o.stop_timeout(Duration::from_millis(300)));
    let spec = f.upstream("web", 1).health(HealthSpec {
        unhealthy_threshold: 3,
        timeout: Duration::from_millis(500),
        ..health()
    });
    f.platform.start(spec).await.unwrap();
    let before = f.running(1).await.remove(0);
    let mut health = f.companion.health_of("web-1");
    assert_eq!(*health.borrow_and_update(), Health::Up);
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while health.changed().await.is_ok() {
            let now = *health.borrow_and_update();
            seen.push(now);
            if seen.contains(&Health::Down) && now == Health::Up {
                break;
            }
        }
        seen
    });

    // Frozen: it still accepts connections (the kernel does) but never answers.
    let pid = before.pid.unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();

    let after = f
        .instance_when("web-1", "restarted and running", |i| {
            i.restarts == 1 && is_running(i) && i.pid != Some(pid)
        })
        .await;
    let reason = after.last_exit.unwrap();
    assert!(
        reason.starts_with("failed GET /health 3 times in a row (last: no answer within 500ms"),
        "{reason}"
    );
    assert_eq!(after.address, before.address, "restarted in place");
    assert!(!alive(pid));
    assert_eq!(get(after.address, "/").await, (200, "web-1".to_owned()));
    // The companion saw it go down, and up again, on the same channel.
    let seen = tokio::time::timeout(WITHIN, seen).await.unwrap().unwrap();
    assert_eq!(seen.first(), Some(&Health::Down), "{seen:?}");
    assert_eq!(seen.last(), Some(&Health::Up), "{seen:?}");
    assert_eq!(f.companion.calls(), [Call::Attach("web-1".into())]);

    f.platform.shutdown().await;
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn a_companion_that_refuses_is_retried_after_a_backoff() {
    let f = Fixture::new("refused");
    f.companion.refuse(2);
    f.platform.start(f.upstream("web", 1)).await.unwrap();

    let instance = f
        .instance_when("web-1", "attach refused", |i| backoff_reason(i).is_some())
        .await;
    assert_eq!(
        backoff_reason(&instance),
        Some("companion could not attach: registry unreachable")
    );
    let instance = f.running(1).await.remove(0);
    assert_eq!(instance.restarts, 0, "no process had started");
    assert_eq!(f.companion.calls(), [Call::Attach("web-1".into())]);
    assert_eq!(f.audit.of("instance-restarting").len(), 2);

    f.platform.shutdown().await;
    all_gone(&f.pids()).await;
}

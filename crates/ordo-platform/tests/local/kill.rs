//! `kill`: SIGKILL at once, a replacement with a new id and port.

use ordo_platform::{Ending, Platform, PlatformError};

use crate::support::*;

#[tokio::test]
async fn kill_replaces_the_instance_with_a_new_id_and_port() {
    let f = Fixture::new("kill");
    f.platform.start(f.upstream("web", 2)).await.unwrap();
    let before = f.running(2).await;
    let victim = &before[0];
    let victim_pid = victim.pid.unwrap();

    f.platform.kill("web-1").await.unwrap();
    // When kill returns the process is reaped and the companion detached.
    assert!(!alive(victim_pid));
    let calls = f.companion.calls();
    assert!(
        calls.contains(&Call::Detach("web-1".into(), Ending::Killed)),
        "{calls:?}"
    );
    let log = std::fs::read_to_string(&victim.log).unwrap();
    assert!(log.trim_end().ends_with("web-1 killed"), "{log}");

    let after = f.running(2).await;
    let ids: Vec<_> = after.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["web-2", "web-3"]);
    let replacement = &after[1];
    assert_ne!(replacement.address, victim.address);
    assert_ne!(replacement.address, before[1].address);
    assert_eq!(replacement.restarts, 0);
    assert_eq!(
        get(replacement.address, "/").await,
        (200, "web-3".to_owned())
    );
    assert_eq!(
        (after[0].pid, after[0].address, after[0].restarts),
        (before[1].pid, before[1].address, 0),
        "web-2 untouched"
    );

    let calls = f.companion.calls();
    assert!(calls.contains(&Call::Attach("web-3".into())), "{calls:?}");
    let killed = f.audit.of("instance-killed");
    assert_eq!(
        killed,
        [("web-1".to_owned(), serde_json::json!({"pid": victim_pid}))]
    );
    let replaced = f.audit.of("instance-replaced");
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].1["replacement"], "web-3");
    assert_eq!(replaced[0].1["address"], replacement.address.to_string());

    f.platform.shutdown().await;
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn killing_an_instance_in_backoff_replaces_it_too() {
    let f = Fixture::new("kill-backoff");
    f.platform
        .start(f.shell("crash", "exit 1").replicas(1))
        .await
        .unwrap();
    f.instance_when("crash-1", "a restart", |i| i.restarts >= 1)
        .await;
    f.platform.kill("crash-1").await.unwrap();
    let list = f.list().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, "crash-2");
    f.platform.shutdown().await;
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn killing_an_unknown_instance_is_not_found() {
    let f = Fixture::new("kill-unknown");
    match f.platform.kill("web-9").await {
        Err(e @ PlatformError::NotFound { .. }) => {
            assert_eq!(e.to_string(), "instance `web-9` not found")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

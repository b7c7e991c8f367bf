//! Scaling, stopping and shutting down: graceful, newest first, reverse
//! start order, and no process left behind.

use std::time::Duration;

use ordo_platform::{Ending, Phase, Platform, PlatformError};
use tokio::time::Instant;

use crate::support::*;

#[tokio::test]
async fn scale_up_then_down_stops_the_newest_gracefully() {
    let f = Fixture::new("scale");
    f.platform.start(f.upstream("web", 1)).await.unwrap();
    f.running(1).await;

    f.platform.scale("web", 3).await.unwrap();
    let three = f.running(3).await;
    let pids: Vec<u32> = three.iter().map(|i| i.pid.unwrap()).collect();

    f.platform.scale("web", 1).await.unwrap();
    // scale returns once the extra instances are gone.
    let list = f.list().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, "web-1");
    assert_eq!(list[0].pid, Some(pids[0]));
    assert!(!alive(pids[1]) && !alive(pids[2]));
    let calls = f.companion.calls();
    assert!(
        calls.contains(&Call::Detach("web-2".into(), Ending::Graceful)),
        "{calls:?}"
    );
    assert!(
        calls.contains(&Call::Detach("web-3".into(), Ending::Graceful)),
        "{calls:?}"
    );
    let scaled: Vec<_> = f
        .audit
        .of("service-scaled")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        scaled,
        [
            serde_json::json!({"from": 1, "to": 3}),
            serde_json::json!({"from": 3, "to": 1})
        ]
    );

    // Starting it again with a new count replaces its spec and scales it.
    f.platform.start(f.upstream("web", 2)).await.unwrap();
    let ids: Vec<_> = f.running(2).await.into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["web-1", "web-4"]);

    f.platform.shutdown().await;
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn stop_forgets_the_service_and_unknown_names_are_not_found() {
    let f = Fixture::new("stop");
    f.platform.start(f.upstream("web", 2)).await.unwrap();
    f.running(2).await;
    f.platform.stop("web").await.unwrap();
    assert!(f.list().await.is_empty());
    all_gone(&f.pids()).await;
    assert_eq!(f.audit.of("service-stopped").len(), 1);

    for result in [
        f.platform.stop("web").await,
        f.platform.scale("web", 2).await,
    ] {
        assert!(
            matches!(result, Err(PlatformError::NotFound { .. })),
            "{result:?}"
        );
    }
    let too_many = f.platform.scale("web", 5000).await;
    assert!(
        matches!(too_many, Err(PlatformError::InvalidSpec { .. })),
        "{too_many:?}"
    );
}

#[tokio::test]
async fn a_process_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let stop_timeout = Duration::from_millis(400);
    let f = Fixture::with("stubborn", |o| o.stop_timeout(stop_timeout));
    f.platform
        .start(f.shell("stubborn", "trap '' TERM; sleep 1000"))
        .await
        .unwrap();
    f.instance_when("stubborn-1", "its process started", |i| i.pid.is_some())
        .await;

    let asked = Instant::now();
    let stopping = f.platform.stop("stubborn");
    tokio::pin!(stopping);
    // While it waits out the timeout, the instance shows as stopping.
    let shown = tokio::select! {
        r = &mut stopping => panic!("stop returned before the stop timeout: {r:?}"),
        list = async {
            eventually("the instance stopping", || async {
                let list = f.list().await;
                list.iter().any(|i| i.phase == Phase::Stopping).then_some(list)
            })
            .await
        } => list,
    };
    assert_eq!(shown.len(), 1);
    stopping.await.unwrap();
    assert!(asked.elapsed() >= stop_timeout);
    all_gone(&f.pids()).await;
}

#[tokio::test]
async fn shutdown_leaves_no_process_behind_not_even_a_grandchild() {
    let f = Fixture::new("shutdown");
    // The app starts a child of its own and execs the server.
    let script = format!(
        "sleep 1000 & echo $! > \"grandchild-$ORDO_INSTANCE\"; exec {} --listen 127.0.0.1:$PORT",
        upstream_bin().display()
    );
    f.platform
        .start(f.shell("family", &script).replicas(2))
        .await
        .unwrap();
    f.platform.start(f.upstream("plain", 2)).await.unwrap();
    f.platform
        .start(f.shell("crashing", "exit 7"))
        .await
        .unwrap();
    f.running_of("family", 2).await;
    f.running_of("plain", 2).await;
    // A killed instance's supervisor finishes on the side; shutdown waits for it.
    f.platform.kill("plain-2").await.unwrap();
    f.running_of("plain", 2).await;

    let grandchildren: Vec<u32> = eventually("grandchild pids written", || async {
        let read = |id: &str| {
            std::fs::read_to_string(f.tmp.path().join(format!("grandchild-{id}")))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
        };
        Some(vec![read("family-1")?, read("family-2")?])
    })
    .await;
    assert!(grandchildren.iter().all(|p| alive(*p)));

    f.platform.shutdown().await;
    assert!(f.list().await.is_empty());
    let mut pids = f.pids();
    pids.extend(&grandchildren);
    all_gone(&pids).await;

    // Stopped in the reverse of the order they were started.
    let stopped: Vec<_> = f
        .audit
        .of("service-stopped")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(stopped, ["crashing", "plain", "family"]);
    let detached = f
        .companion
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Detach(..)))
        .count();
    assert_eq!(detached, 6, "{:?}", f.companion.calls());
}

#[tokio::test]
async fn dropping_the_platform_kills_what_it_started() {
    let f = Fixture::new("drop");
    f.platform.start(f.upstream("web", 2)).await.unwrap();
    f.running(2).await;
    let pids = f.pids();
    let Fixture { platform, tmp, .. } = f;
    drop(platform);
    all_gone(&pids).await;
    drop(tmp);
}

//! `ordo control` as a separate process, the way sidecars and tools meet
//! it: a control plane killed with SIGKILL and started again on the same
//! data folder still knows its instances (each with a fresh lease) and
//! still holds its audit log; an instance that stops heartbeating leaves
//! the registry once its lease lapses, with `lease-expired` in the audit
//! log, while one that keeps heartbeating stays.
//!
//! Every control plane listens on `127.0.0.1:0`; every wait is bounded
//! (long-polls and deadlines, no sleep that a slow machine could outrun);
//! a child still running when a test fails is killed as it is dropped.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use common::{Running, url_in};
use ordo_control::{AuditEntry, AuditQuery, AuditRecord, ControlClient, Order, Registration};
use ordo_test_support::temp::TempDir;
use serde_json::json;
use tokio::time::Instant;

/// The longest a lapsed lease may take to show: its lease, plus the
/// sweeper's interval, plus a slow machine's margin.
const EVICTION_DEADLINE: Duration = Duration::from_secs(10);

/// Starts `ordo control` on `data` and a free port; returns the process
/// and a client of its API.
async fn control(data: &Path) -> (Running, ControlClient) {
    let mut process = Running::ordo(&[
        "control",
        "--data",
        data.to_str().expect("a UTF-8 temp path"),
        "--address",
        "127.0.0.1:0",
    ]);
    let url = url_in(&process.wait_for("ordo control: listening on http://").await);
    let client = ControlClient::new(&url)
        .expect("the printed URL")
        .with_actor("control-test");
    (process, client)
}

/// The whole audit log, oldest first.
async fn audit_log(client: &ControlClient) -> Vec<AuditRecord> {
    let query = AuditQuery {
        order: Order::Asc,
        limit: Some(1000),
        ..AuditQuery::default()
    };
    client.audit(&query).await.expect("audit").records
}

fn actions(records: &[AuditRecord]) -> Vec<(&str, &str, &str)> {
    records
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str(), r.target.as_str()))
        .collect()
}

/// Stops `process` with SIGTERM and checks it stops cleanly.
async fn stop(mut process: Running) {
    process.signal("TERM");
    let status = process.exit().await;
    assert!(status.success(), "{status}\n{}", process.output());
    assert!(
        process.output().contains("ordo control: stopped"),
        "{}",
        process.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_restart_keeps_the_registry_and_the_audit_log() {
    let data = TempDir::new("control-restart");
    let (mut first, client) = control(data.path()).await;

    // A short lease, so it would have lapsed by the time the control
    // plane is back, and a default one.
    let lease = Duration::from_secs(3);
    let ratings = Registration::new("ratings-1", "ratings", "127.0.0.1:8081")
        .metadata("version", "1.4.2")
        .lease(lease);
    let registered = client.register(&ratings).await.expect("register");
    let registered_at = Instant::now();
    assert!(registered.created);
    client
        .register(&Registration::new("catalog-1", "catalog", "127.0.0.1:8082"))
        .await
        .expect("register");
    client
        .append_audit(
            &AuditEntry::new("operator", "note", "ratings-1")
                .with_detail(json!({ "why": "before the crash" })),
        )
        .await
        .expect("append");
    let before = audit_log(&client).await;
    assert_eq!(
        actions(&before),
        [
            ("registry", "control-started", ""),
            ("control-test", "registered", "ratings-1"),
            ("control-test", "registered", "catalog-1"),
            ("operator", "note", "ratings-1"),
        ]
    );
    let index_before = client.instances(None, None).await.expect("list").index;

    // Crash: no shutdown, no chance to flush anything more.
    first.signal("KILL");
    let status = first.exit().await;
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(
        client.health().await.is_err(),
        "the control plane is down while it is down"
    );
    // Down for longer than ratings-1's lease: only a lease restarted on
    // restore keeps it.
    tokio::time::sleep_until(registered_at + lease + Duration::from_millis(200)).await;

    let restarted_at = Instant::now();
    let (second, client) = control(data.path()).await;
    let listing = client.instances(None, None).await.expect("list");
    let up_for = restarted_at.elapsed();
    let ids: Vec<&str> = listing.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["catalog-1", "ratings-1"]);
    assert!(
        listing.index > index_before,
        "the change index survives and moves on: {} then {}",
        index_before,
        listing.index
    );
    let restored = &listing.instances[1];
    assert_eq!(restored.service, "ratings");
    assert_eq!(restored.address, "127.0.0.1:8081");
    assert_eq!(restored.metadata["version"], "1.4.2");
    assert_eq!(restored.lease_ms, 3000);
    assert_eq!(restored.registered_at, registered.instance.registered_at);
    // A fresh lease: counted from the restart, not from the last heartbeat
    // (which was more than a lease ago).
    let fresh_at_least = lease.saturating_sub(up_for).as_millis() as u64;
    assert!(
        restored.expires_in_ms > 0 && restored.expires_in_ms + 5 >= fresh_at_least,
        "expires in {} ms, {} ms after the restart",
        restored.expires_in_ms,
        up_for.as_millis()
    );
    // And it is live: a heartbeat extends it rather than asking it to
    // register again.
    client
        .heartbeat("ratings-1", None)
        .await
        .expect("the restored instance takes heartbeats");

    // The audit log holds every earlier record, unchanged, then the second start.
    let after = audit_log(&client).await;
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        actions(&after[before.len()..]),
        [("registry", "control-started", "")]
    );
    let started: Vec<&AuditRecord> = after
        .iter()
        .filter(|r| r.action == "control-started")
        .collect();
    assert_eq!(started.len(), 2);
    assert_eq!(started[0].detail["restored"], 0);
    assert_eq!(started[1].detail["restored"], 2);
    assert!(started[1].id > before.last().expect("records").id);

    stop(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_stops_heartbeating_leaves_when_its_lease_lapses() {
    let data = TempDir::new("control-lease");
    let (process, client) = control(data.path()).await;
    // The shortest lease allowed, for both.
    let lease = Duration::from_secs(1);
    for id in ["ratings-quiet", "ratings-steady"] {
        client
            .register(&Registration::new(id, "ratings", "127.0.0.1:8081").lease(lease))
            .await
            .expect("register");
    }

    // ratings-steady heartbeats ten times a lease until the test ends.
    let steady = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 10);
            loop {
                tick.tick().await;
                client
                    .heartbeat("ratings-steady", None)
                    .await
                    .expect("ratings-steady stays registered");
            }
        })
    };

    // ratings-quiet heartbeats over more than a lease, which keeps it...
    let mut last_heartbeat = Instant::now();
    for _ in 0..3 {
        tokio::time::sleep(lease * 2 / 5).await;
        last_heartbeat = Instant::now();
        let me = client
            .heartbeat("ratings-quiet", None)
            .await
            .expect("ratings-quiet is still registered");
        assert!(me.expires_in_ms > 500, "a renewed lease: {me:?}");
    }
    // ...then stops. Long-poll the service until it is gone.
    let deadline = last_heartbeat + EVICTION_DEADLINE;
    let mut index = 0;
    let listing = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        assert!(
            !wait.is_zero(),
            "ratings-quiet was not evicted within {EVICTION_DEADLINE:?}"
        );
        let listing = client.watch("ratings", index, wait).await.expect("watch");
        if listing.instances.iter().all(|i| i.id != "ratings-quiet") {
            break listing;
        }
        index = listing.index;
    };
    let gone_after = last_heartbeat.elapsed();
    assert!(
        gone_after >= lease,
        "evicted {gone_after:?} after its last heartbeat, before its lease lapsed"
    );
    let ids: Vec<&str> = listing.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["ratings-steady"], "the heartbeating instance stays");
    assert!(
        !steady.is_finished(),
        "ratings-steady's heartbeats all landed"
    );
    steady.abort();

    // The eviction is audited, by the registry, for the quiet one only.
    let expired = client
        .audit(&AuditQuery {
            action: Some("lease-expired".into()),
            ..AuditQuery::default()
        })
        .await
        .expect("audit")
        .records;
    assert_eq!(
        actions(&expired),
        [("registry", "lease-expired", "ratings-quiet")]
    );
    assert_eq!(expired[0].detail["service"], "ratings");
    assert_eq!(expired[0].detail["lease_ms"], 1000);
    // A late heartbeat is told to register again.
    let late = client
        .heartbeat("ratings-quiet", None)
        .await
        .expect_err("evicted");
    assert!(late.is_not_found(), "{late}");

    stop(process).await;
}

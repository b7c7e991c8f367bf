//! The registry's behaviour on tokio's paused clock: leases, heartbeats, overrides, the
//! change index and long-polls. The store is a real SQLite file.

mod common;

use std::time::Duration;

use ordo_control::audit::actions;
use ordo_control::{AuditQuery, InstanceQuery, Order, Registration, Status};
use tokio::time::{Instant, sleep};

use common::{TempDir, open};

const ACTOR: &str = "test";

fn reg(id: &str, service: &str) -> Registration {
    Registration::new(id, service, "127.0.0.1:8080")
}

#[tokio::test(start_paused = true)]
async fn a_lapsed_lease_removes_the_instance() {
    let dir = TempDir::new("lapse");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    let start = Instant::now();
    registry
        .register(ACTOR, reg("a-1", "a").lease(Duration::from_secs(10)))
        .await
        .unwrap();

    sleep(Duration::from_millis(9_999)).await;
    assert!(registry.get("a-1").is_some(), "the lease has 1 ms left");
    let index = registry.index();

    let moved = registry
        .wait_for_change(index, Instant::now() + Duration::from_secs(5))
        .await;
    assert_eq!(moved, index + 1, "an eviction bumps the index once");
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(10),
        "evicted at the lease's end"
    );
    assert!(registry.get("a-1").is_none());

    let expired = plane
        .audit()
        .query(&AuditQuery {
            action: Some(actions::LEASE_EXPIRED.into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(expired.records.len(), 1);
    assert_eq!(expired.records[0].target, "a-1");
    assert_eq!(expired.records[0].actor, actions::REGISTRY_ACTOR);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_extend_the_lease() {
    let dir = TempDir::new("extend");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    let start = Instant::now();
    registry.register(ACTOR, reg("a-1", "a")).await.unwrap(); // default lease: 10 s

    sleep(Duration::from_secs(8)).await;
    let renewed = registry.heartbeat(ACTOR, "a-1", None).await.unwrap();
    assert_eq!(renewed.expires_in_ms, 10_000);

    sleep(Duration::from_millis(9_999)).await;
    assert!(
        registry.get("a-1").is_some(),
        "the heartbeat at 8 s holds it to 18 s"
    );
    registry
        .wait_for_change(registry.index(), Instant::now() + Duration::from_secs(5))
        .await;
    assert!(registry.get("a-1").is_none());
    assert_eq!(start.elapsed(), Duration::from_secs(18));
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_for_an_unknown_id_is_not_found() {
    let dir = TempDir::new("unknown");
    let plane = open(dir.path()).await;
    let e = plane
        .registry()
        .heartbeat(ACTOR, "ghost-1", Some(Status::Up))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(
        plane
            .registry()
            .deregister(ACTOR, "ghost-1")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        plane
            .registry()
            .set_override(ACTOR, "ghost-1", Some(Status::Down))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test(start_paused = true)]
async fn an_override_wins_over_heartbeats_until_cleared() {
    let dir = TempDir::new("override");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    registry.register(ACTOR, reg("a-1", "a")).await.unwrap();

    let held = registry
        .set_override("operator", "a-1", Some(Status::OutOfService))
        .await
        .unwrap();
    assert_eq!(held.status, Status::OutOfService);
    assert_eq!(held.override_status, Some(Status::OutOfService));

    let hb = registry
        .heartbeat(ACTOR, "a-1", Some(Status::Up))
        .await
        .unwrap();
    assert_eq!(
        hb.status,
        Status::OutOfService,
        "heartbeats do not clear an override"
    );
    let hb = registry
        .heartbeat(ACTOR, "a-1", Some(Status::Down))
        .await
        .unwrap();
    assert_eq!(
        (hb.status, hb.reported_status),
        (Status::OutOfService, Status::Down)
    );
    // Re-registering keeps the override too.
    let again = registry.register(ACTOR, reg("a-1", "a")).await.unwrap();
    assert_eq!(again.instance.status, Status::OutOfService);

    let cleared = registry
        .set_override("operator", "a-1", None)
        .await
        .unwrap();
    assert_eq!(
        cleared.status,
        Status::Up,
        "the reported status counts again"
    );
    assert_eq!(cleared.override_status, None);
}

#[tokio::test(start_paused = true)]
async fn the_index_moves_only_on_visible_changes() {
    let dir = TempDir::new("index");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    let mut index = registry.index();
    let mut expect = |moved: bool, what: &str| {
        let now = registry.index();
        assert_eq!(now, if moved { index + 1 } else { index }, "{what}");
        index = now;
    };

    registry.register(ACTOR, reg("a-1", "a")).await.unwrap();
    expect(true, "a registration");
    registry.heartbeat(ACTOR, "a-1", None).await.unwrap();
    expect(false, "a bare heartbeat");
    registry
        .heartbeat(ACTOR, "a-1", Some(Status::Up))
        .await
        .unwrap();
    expect(false, "a heartbeat reporting the same status");
    registry.register(ACTOR, reg("a-1", "a")).await.unwrap();
    expect(false, "an identical re-registration");
    registry
        .register(ACTOR, reg("a-1", "a").metadata("v", "2"))
        .await
        .unwrap();
    expect(true, "new metadata");
    registry
        .register(
            ACTOR,
            Registration::new("a-1", "a", "127.0.0.1:9090").metadata("v", "2"),
        )
        .await
        .unwrap();
    expect(true, "a new address");
    registry
        .heartbeat(ACTOR, "a-1", Some(Status::Down))
        .await
        .unwrap();
    expect(true, "a new reported status");
    registry
        .set_override(ACTOR, "a-1", Some(Status::Up))
        .await
        .unwrap();
    expect(true, "an override");
    registry
        .set_override(ACTOR, "a-1", Some(Status::Up))
        .await
        .unwrap();
    expect(false, "the same override again");
    registry
        .heartbeat(ACTOR, "a-1", Some(Status::Starting))
        .await
        .unwrap();
    expect(
        true,
        "a new reported status under an override (reported_status shows it)",
    );
    registry.deregister(ACTOR, "a-1").await.unwrap();
    expect(true, "a deregistration");
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_wakes_on_change_and_times_out_otherwise() {
    let dir = TempDir::new("poll");
    let plane = open(dir.path()).await;
    let registry = plane.registry().clone();
    let hour = Duration::from_secs(3600);
    registry
        .register(ACTOR, reg("ratings-1", "ratings").lease(hour))
        .await
        .unwrap();
    let ratings = InstanceQuery::service("ratings");
    let seen = registry.instances(&ratings).index;

    // A change to another service does not wake a watcher of ratings.
    let start = Instant::now();
    let watcher = {
        let registry = registry.clone();
        let ratings = ratings.clone();
        tokio::spawn(async move {
            registry
                .watch(&ratings, seen, Instant::now() + Duration::from_secs(30))
                .await
        })
    };
    sleep(Duration::from_secs(1)).await;
    assert_eq!(registry.waiting(), 1);
    registry
        .register(ACTOR, reg("catalog-1", "catalog").lease(hour))
        .await
        .unwrap();
    let timed_out = watcher.await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(30),
        "it waited the whole deadline"
    );
    assert_eq!(timed_out.index, seen);
    assert_eq!(registry.waiting(), 0);

    // A change to ratings wakes it at once.
    let start = Instant::now();
    let watcher = {
        let registry = registry.clone();
        tokio::spawn(async move {
            registry
                .watch(&ratings, seen, Instant::now() + Duration::from_secs(30))
                .await
        })
    };
    sleep(Duration::from_secs(2)).await;
    registry
        .register(ACTOR, reg("ratings-2", "ratings").lease(hour))
        .await
        .unwrap();
    let woken = watcher.await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(woken.index > seen);
    assert_eq!(woken.instances.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn two_long_polls_both_wake_on_one_registration() {
    let dir = TempDir::new("two-polls");
    let plane = open(dir.path()).await;
    let registry = plane.registry().clone();
    let seen = registry.index();
    let deadline = Instant::now() + Duration::from_secs(60);
    let polls: Vec<_> = (0..2)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move { registry.wait_for_change(seen, deadline).await })
        })
        .collect();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(registry.waiting(), 2);
    registry.register(ACTOR, reg("a-1", "a")).await.unwrap();
    for p in polls {
        assert_eq!(p.await.unwrap(), seen + 1);
    }
    assert!(Instant::now() < deadline);
}

#[tokio::test(start_paused = true)]
async fn an_index_from_the_future_answers_at_once() {
    let dir = TempDir::new("future");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    let start = Instant::now();
    let now = registry
        .wait_for_change(
            registry.index() + 100,
            Instant::now() + Duration::from_secs(30),
        )
        .await;
    assert_eq!(now, registry.index());
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn changes_are_audited_and_heartbeats_are_not() {
    let dir = TempDir::new("audited");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    registry.register("sidecar", reg("a-1", "a")).await.unwrap();
    registry.heartbeat("sidecar", "a-1", None).await.unwrap();
    registry
        .heartbeat("sidecar", "a-1", Some(Status::Down))
        .await
        .unwrap();
    registry
        .register(
            "sidecar",
            reg("a-1", "a").metadata("v", "2").status(Status::Down),
        )
        .await
        .unwrap();
    registry
        .set_override("operator", "a-1", Some(Status::OutOfService))
        .await
        .unwrap();
    registry
        .set_override("operator", "a-1", None)
        .await
        .unwrap();
    registry.deregister("operator", "a-1").await.unwrap();

    let page = plane
        .audit()
        .query(&AuditQuery {
            target: Some("a-1".into()),
            order: Order::Asc,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let seen: Vec<_> = page
        .records
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("sidecar", actions::REGISTERED),
            ("sidecar", actions::STATUS_CHANGED),
            ("sidecar", actions::UPDATED),
            // The override changes the effective status (DOWN -> OUT_OF_SERVICE) and
            // clearing it changes it back: both are recorded beside the override.
            ("operator", actions::OVERRIDE_SET),
            ("operator", actions::STATUS_CHANGED),
            ("operator", actions::OVERRIDE_CLEARED),
            ("operator", actions::STATUS_CHANGED),
            ("operator", actions::DEREGISTERED),
        ]
    );
    let down = &page.records[1].detail;
    assert_eq!((&down["from"], &down["to"]), (&"UP".into(), &"DOWN".into()));
    let held = &page.records[4].detail;
    assert_eq!(
        (&held["from"], &held["to"]),
        (&"DOWN".into(), &"OUT_OF_SERVICE".into())
    );
}

#[tokio::test(start_paused = true)]
async fn services_are_counted_by_effective_status() {
    let dir = TempDir::new("services");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    registry
        .register(ACTOR, reg("r-1", "ratings"))
        .await
        .unwrap();
    registry
        .register(ACTOR, reg("r-2", "ratings").status(Status::Starting))
        .await
        .unwrap();
    registry
        .register(ACTOR, reg("r-3", "ratings").status(Status::Down))
        .await
        .unwrap();
    registry
        .set_override(ACTOR, "r-1", Some(Status::OutOfService))
        .await
        .unwrap();
    registry
        .register(ACTOR, reg("c-1", "catalog"))
        .await
        .unwrap();

    let services = registry.services();
    assert_eq!(services.index, registry.index());
    let names: Vec<_> = services.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["catalog", "ratings"]);
    let r = &services.services[1];
    assert_eq!(
        (r.total, r.up, r.down, r.starting, r.out_of_service),
        (3, 0, 1, 1, 1)
    );

    let down = registry.instances(&InstanceQuery::service("ratings").with_status(Status::Down));
    assert_eq!(down.instances.len(), 1);
    assert_eq!(down.instances[0].id, "r-3");
}

#[tokio::test(start_paused = true)]
async fn invalid_registrations_change_nothing() {
    let dir = TempDir::new("invalid");
    let plane = open(dir.path()).await;
    let registry = plane.registry();
    let index = registry.index();
    let mut bad = Registration::new("a 1", "a", "localhost");
    bad.lease_ms = Some(7_200_000);
    for i in 0..65 {
        bad.metadata.insert(format!("k{i}"), "v".into());
    }
    let e = registry.register(ACTOR, bad).await.unwrap_err();
    let msg = e.to_string();
    for field in ["id:", "address:", "metadata:", "lease_ms:"] {
        assert!(msg.contains(field), "{msg}");
    }
    assert!(
        registry.register("", reg("a-1", "a")).await.is_err(),
        "an actor is required"
    );
    assert_eq!(registry.index(), index);
    assert!(registry.get("a 1").is_none());
}

//! The store: what survives a restart, what the file holds, and the files it refuses.

mod common;

use std::time::Duration;

use ordo_control::audit::actions;
use ordo_control::{
    AuditEntry, AuditQuery, ControlError, ControlPlane, DATABASE_FILE, InstanceQuery, Registration,
    Status, StoreError,
};
use rusqlite::Connection;

use common::{TempDir, open, options};

#[tokio::test(start_paused = true)]
async fn the_registry_and_the_audit_log_survive_a_restart() {
    let dir = TempDir::new("restart");
    let before = {
        let plane = open(dir.path()).await;
        let r = plane.registry();
        r.register(
            "t",
            Registration::new("r-1", "ratings", "127.0.0.1:1").metadata("v", "1"),
        )
        .await
        .unwrap();
        r.register(
            "t",
            Registration::new("r-2", "ratings", "127.0.0.1:2").lease(Duration::from_secs(60)),
        )
        .await
        .unwrap();
        r.set_override("operator", "r-2", Some(Status::OutOfService))
            .await
            .unwrap();
        plane
            .audit()
            .append(AuditEntry::new("chaos-monkey", "kill-intent", "r-1"))
            .await
            .unwrap();
        (r.instances(&InstanceQuery::default()), r.index())
    };

    let plane = open(dir.path()).await;
    let r = plane.registry();
    let after = r.instances(&InstanceQuery::default());
    assert_eq!(after.instances.len(), 2);
    for (a, b) in before.0.instances.iter().zip(&after.instances) {
        assert_eq!(
            (&a.id, &a.service, &a.address, a.status),
            (&b.id, &b.service, &b.address, b.status)
        );
        assert_eq!(
            (&a.metadata, a.override_status, &a.registered_at),
            (&b.metadata, b.override_status, &b.registered_at)
        );
        assert_eq!(
            b.expires_in_ms, b.lease_ms,
            "a restored instance gets a fresh lease"
        );
    }
    assert_eq!(
        after.instances[1].override_status,
        Some(Status::OutOfService)
    );
    assert!(
        r.index() > before.1,
        "the index never goes back, across restarts too"
    );

    let log = plane.audit().query(&AuditQuery::default()).await.unwrap();
    let started = &log.records[0];
    assert_eq!(started.action, actions::CONTROL_STARTED);
    assert_eq!(started.detail["restored"], 2);
    assert!(
        log.records
            .iter()
            .any(|r| r.action == "kill-intent" && r.actor == "chaos-monkey")
    );
    assert!(
        log.records
            .iter()
            .any(|r| r.action == actions::OVERRIDE_SET)
    );
}

#[tokio::test]
async fn the_state_lives_in_one_sqlite_file() {
    let dir = TempDir::new("file");
    let plane = open(dir.path()).await;
    plane
        .registry()
        .register("t", Registration::new("r-1", "ratings", "127.0.0.1:1"))
        .await
        .unwrap();
    let file = dir.path().join(DATABASE_FILE);
    assert_eq!(plane.database(), file);

    let conn = Connection::open(&file).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let (id, status): (String, String) = conn
        .query_row("SELECT id, reported_status FROM instances", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((id.as_str(), status.as_str()), ("r-1", "UP"));
    let audited: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(audited, 2, "control-started and registered");
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes() {
    let dir = TempDir::new("append-only");
    let plane = open(dir.path()).await;
    let record = plane
        .audit()
        .append(AuditEntry::new("me", "did", "it"))
        .await
        .unwrap();

    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    for statement in [
        "UPDATE audit SET actor = 'someone else'",
        "DELETE FROM audit",
        "DELETE FROM audit WHERE id = 1",
    ] {
        let e = conn.execute(statement, []).unwrap_err();
        assert!(
            e.to_string().contains("the audit log is append-only"),
            "{statement}: {e}"
        );
    }
    let page = plane.audit().query(&AuditQuery::default()).await.unwrap();
    assert_eq!(page.records[0], record, "the record is unchanged");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = TempDir::new("garbage");
    std::fs::write(dir.path().join(DATABASE_FILE), vec![0x42u8; 8192]).unwrap();
    let e = ControlPlane::open(options(dir.path())).await.unwrap_err();
    assert!(
        matches!(e, ControlError::Store(StoreError::NotOrdo { .. })),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("is not an ordo control-plane database"),
        "{msg}"
    );
    assert!(msg.contains("not an SQLite database"), "{msg}");
    assert_eq!(
        std::fs::read(dir.path().join(DATABASE_FILE)).unwrap(),
        vec![0x42u8; 8192],
        "left as it was"
    );
}

#[tokio::test]
async fn another_applications_database_is_refused() {
    let dir = TempDir::new("foreign");
    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.execute_batch("CREATE TABLE users (name TEXT)")
        .unwrap();
    drop(conn);
    let e = ControlPlane::open(options(dir.path())).await.unwrap_err();
    assert!(e.to_string().contains("another application"), "{e}");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    drop(open(dir.path()).await);
    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let e = ControlPlane::open(options(dir.path())).await.unwrap_err();
    assert!(
        matches!(e, ControlError::Store(StoreError::TooNew { found: 99, .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("upgrade ordo"), "{e}");
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_created_is_an_error() {
    let dir = TempDir::new("no-dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let e = ControlPlane::open(options(&file.join("data")))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ControlError::Store(StoreError::DataDir { .. })),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("cannot create the data directory"),
        "{e}"
    );
}

#[tokio::test]
async fn a_missing_data_dir_is_created() {
    let dir = TempDir::new("create");
    let nested = dir.path().join("a/b/c");
    let plane = open(&nested).await;
    assert!(plane.database().exists());
    plane.check_store().await.unwrap();
}

#[tokio::test]
async fn forgetting_instances_on_start_keeps_the_audit_log() {
    let dir = TempDir::new("forget");
    {
        let plane = open(dir.path()).await;
        plane
            .registry()
            .register("t", Registration::new("r-1", "ratings", "127.0.0.1:1"))
            .await
            .unwrap();
    }
    let mut o = options(dir.path());
    o.forget_instances_on_start = true;
    let plane = ControlPlane::open(o).await.unwrap();
    assert!(plane.registry().get("r-1").is_none());
    let log = plane.audit().query(&AuditQuery::default()).await.unwrap();
    let actions: Vec<_> = log.records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            actions::CONTROL_STARTED,
            actions::INSTANCES_FORGOTTEN,
            actions::REGISTERED,
            actions::CONTROL_STARTED
        ]
    );
    assert_eq!(log.records[1].detail["count"], 1);
    drop(plane);
    // Forgotten means gone from the store too.
    let plane = open(dir.path()).await;
    assert!(plane.registry().get("r-1").is_none());
}

#[tokio::test]
async fn a_failed_write_changes_nothing_and_is_an_error() {
    let dir = TempDir::new("failed-write");
    let plane = open(dir.path()).await;
    let index = plane.registry().index();
    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.execute_batch("DROP TABLE instances").unwrap();

    let e = plane
        .registry()
        .register("t", Registration::new("r-1", "ratings", "127.0.0.1:1"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the control store failed while writing an instance"),
        "{e}"
    );
    assert!(plane.registry().get("r-1").is_none());
    assert_eq!(plane.registry().index(), index);
    assert!(plane.check_store().await.is_err());
}

#[tokio::test]
async fn audit_entries_are_bounded_and_queries_filter_and_page() {
    let dir = TempDir::new("audit");
    let plane = open(dir.path()).await;
    let audit = plane.audit();
    for i in 0..5 {
        audit
            .append(
                AuditEntry::new(
                    if i % 2 == 0 { "even" } else { "odd" },
                    "tick",
                    format!("t{i}"),
                )
                .with_detail(serde_json::json!({ "i": i })),
            )
            .await
            .unwrap();
    }
    let evens = audit
        .query(&AuditQuery {
            actor: Some("even".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let is: Vec<_> = evens
        .records
        .iter()
        .map(|r| r.detail["i"].as_i64().unwrap())
        .collect();
    assert_eq!(is, [4, 2, 0], "newest first by default");

    let first = audit
        .query(&AuditQuery {
            action: Some("tick".into()),
            order: ordo_control::Order::Asc,
            limit: Some(2),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let next = audit
        .query(&AuditQuery {
            action: Some("tick".into()),
            order: ordo_control::Order::Asc,
            after: Some(first.records[1].id),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let targets: Vec<_> = first
        .records
        .iter()
        .chain(&next.records)
        .map(|r| r.target.as_str())
        .collect();
    assert_eq!(targets, ["t0", "t1", "t2", "t3", "t4"]);
    assert!(
        first.records[0].at.ends_with('Z') && first.records[0].at.len() == 24,
        "{}",
        first.records[0].at
    );

    let big =
        AuditEntry::new("me", "big", "").with_detail(serde_json::json!("x".repeat(17 * 1024)));
    let e = audit.append(big).await.unwrap_err();
    assert!(e.to_string().contains("detail:"), "{e}");
    let e = audit
        .append(AuditEntry::new("", "a".repeat(65), "t".repeat(257)))
        .await
        .unwrap_err();
    for field in ["actor:", "action:", "target:"] {
        assert!(e.to_string().contains(field), "{e}");
    }
    assert!(
        audit
            .query(&AuditQuery {
                limit: Some(1001),
                ..AuditQuery::default()
            })
            .await
            .is_err()
    );
}

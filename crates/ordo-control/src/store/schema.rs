//! The database's schema and its migrations.
//!
//! An ordo database is recognised by SQLite's `application_id` header field (set to
//! [`APPLICATION_ID`], "ordo" in ASCII) and versioned by `user_version`: migration `n`
//! (1-based) moves a database from version `n - 1` to `n`, in one transaction with the
//! version bump, so a crash mid-migration leaves the previous version intact. A database
//! whose version is newer than this build knows is refused rather than guessed at.
//!
//! The audit table is append-only *in SQLite*: triggers abort any `UPDATE` or `DELETE`,
//! so neither a bug in ordo nor a hand-written statement can rewrite history.

use std::path::Path;

use rusqlite::{Connection, ErrorCode};

use super::{StoreError, sql};

/// `application_id` of an ordo control-plane database: "ordo" in ASCII.
pub(crate) const APPLICATION_ID: i32 = 0x6f72_646f;

/// Migrations, in order; `MIGRATIONS[n - 1]` produces schema version `n`.
const MIGRATIONS: &[&str] = &[
    // 1: instances, the audit log, and the registry's change index.
    r"
    CREATE TABLE instances (
        id                TEXT PRIMARY KEY NOT NULL,
        service           TEXT NOT NULL,
        address           TEXT NOT NULL,
        reported_status   TEXT NOT NULL,
        override_status   TEXT,
        metadata          TEXT NOT NULL,
        lease_ms          INTEGER NOT NULL,
        registered_at_ms  INTEGER NOT NULL,
        last_heartbeat_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX instances_by_service ON instances (service);

    CREATE TABLE audit (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms  INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_actor  ON audit (actor, id);
    CREATE INDEX audit_by_action ON audit (action, id);
    CREATE INDEX audit_by_target ON audit (target, id);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO meta (key, value) VALUES ('index', 0);
    ",
    // 2: Chaos Monkey's slots (one row per group and slot: drawn or not, and what
    // became of the kill) and its switches (paused, halted).
    r"
    CREATE TABLE chaos_slots (
        grp       TEXT NOT NULL,
        slot      INTEGER NOT NULL,
        service   TEXT NOT NULL,
        at_ms     INTEGER,
        state     TEXT NOT NULL,
        target    TEXT,
        intent_id INTEGER,
        reason    TEXT,
        PRIMARY KEY (grp, slot)
    ) STRICT;
    CREATE INDEX chaos_slots_by_state ON chaos_slots (state, slot);

    CREATE TABLE chaos_switches (
        name  TEXT PRIMARY KEY NOT NULL,
        on_   INTEGER NOT NULL,
        actor TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    ) STRICT;
    ",
    // 3: slot numbers belong to a calendar (`days`, or `slots:<ms>`): a
    // demo's seconds-scale slots and a fleet's work days on one store never
    // compare. Rows written before carry the calendar ``.
    r"
    CREATE TABLE chaos_slots_3 (
        calendar  TEXT NOT NULL,
        grp       TEXT NOT NULL,
        slot      INTEGER NOT NULL,
        service   TEXT NOT NULL,
        at_ms     INTEGER,
        state     TEXT NOT NULL,
        target    TEXT,
        intent_id INTEGER,
        reason    TEXT,
        PRIMARY KEY (calendar, grp, slot)
    ) STRICT;
    INSERT INTO chaos_slots_3
        SELECT '', grp, slot, service, at_ms, state, target, intent_id, reason FROM chaos_slots;
    DROP TABLE chaos_slots;
    ALTER TABLE chaos_slots_3 RENAME TO chaos_slots;
    CREATE INDEX chaos_slots_by_state ON chaos_slots (state, slot);
    ",
];

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Checks that `conn` is an ordo database (or a new, empty file) and brings its schema to
/// [`VERSION`]. Runs before the journal mode changes, so a foreign file is left as it was.
pub(crate) fn check_and_migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let not_ordo = |reason: String| StoreError::NotOrdo {
        path: path.to_owned(),
        reason,
    };
    let application_id: i32 = match conn.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(id) => id,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            return Err(not_ordo("the file is not an SQLite database".into()));
        }
        Err(source) => {
            return Err(StoreError::Open {
                path: path.to_owned(),
                source,
            });
        }
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql("reading the schema version"))?;
    if application_id == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(sql("reading the schema"))?;
        if tables > 0 || version != 0 {
            return Err(not_ordo(
                "it is an SQLite database of another application".into(),
            ));
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sql("marking the database as ordo's"))?;
    } else if application_id != APPLICATION_ID {
        return Err(not_ordo(format!(
            "its application id is {application_id:#x}, ordo's is {APPLICATION_ID:#x}"
        )));
    }
    if version > VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            known: VERSION,
        });
    }
    for (n, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(sql("migrating the schema"))?;
        tx.execute_batch(migration)
            .map_err(sql("migrating the schema"))?;
        tx.pragma_update(None, "user_version", n as i64 + 1)
            .map_err(sql("migrating the schema"))?;
        tx.commit().map_err(sql("migrating the schema"))?;
        tracing::info!(path = %path.display(), version = n + 1, "control store migrated");
    }
    Ok(())
}

//! The embedded store: one SQLite file, `<data_dir>/control.db`.
//!
//! The registry keeps its state in memory for reads and writes every change through to
//! this store before it answers; the audit log lives only here. SQLite runs in WAL mode
//! with `synchronous=NORMAL`: a committed write survives a crash of the process, and the
//! last few transactions may be lost only if the machine itself loses power. That is the
//! trade the audit log's "write the intent before acting" needs: each append is one
//! short transaction, with no fsync of its own on the write path.
//!
//! rusqlite blocks, so every call runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]) with the one connection behind a mutex that is never
//! held across an `.await`. (A blocking task also holds tokio's paused test clock still
//! while it runs, which keeps lease tests exact.)

mod chaos;
mod rows;
mod schema;

pub(crate) use chaos::{KILL_NOW, SlotRow, SlotState, SwitchRow};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
pub(crate) use rows::{InstanceRow, RowChange};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "control.db";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory does not exist and cannot be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// SQLite cannot open or set up the file.
    #[error("cannot open {path}: {source} (is its directory writable?)")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file exists but is not an ordo control-plane database.
    #[error(
        "{path} is not an ordo control-plane database: {reason}; \
         choose another data directory or move the file away"
    )]
    NotOrdo {
        /// The database file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The database was written by a newer ordo.
    #[error(
        "{path} has schema version {found}, newer than the {known} this ordo knows; \
         upgrade ordo or use another data directory"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A statement failed (disk full, file made read-only, ...).
    #[error("the control store failed while {doing}: {source}")]
    Sqlite {
        /// What the store was doing.
        doing: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A row holds a value this build cannot read.
    #[error("the control store holds a row it cannot read ({what}): {detail}")]
    Corrupt {
        /// Which row or column.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The blocking task running the statement failed.
    #[error("the control store's worker failed: {0}")]
    Worker(String),
}

/// Maps a rusqlite error to [`StoreError::Sqlite`] with what the store was doing.
pub(crate) fn sql(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { doing, source }
}

/// One transaction of registry changes: rows to write or delete, the new change index,
/// and the audit entries that describe them. All of it commits, or none.
#[derive(Debug, Default)]
pub(crate) struct Write {
    /// The registry's change index after this write, if it moves.
    pub(crate) index: Option<u64>,
    /// Instance rows to upsert or delete.
    pub(crate) changes: Vec<RowChange>,
    /// Audit entries, appended in order.
    pub(crate) audit: Vec<AuditEntry>,
}

/// What the registry finds in the store when it opens.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The change index last written.
    pub(crate) index: u64,
    /// Every stored instance.
    pub(crate) instances: Vec<InstanceRow>,
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/control.db`, checks that it is ordo's,
    /// migrates it, and switches it to WAL.
    pub(crate) async fn open(data_dir: &Path, busy_timeout: Duration) -> Result<Store, StoreError> {
        let dir = data_dir.to_owned();
        tokio::task::spawn_blocking(move || open_blocking(&dir, busy_timeout))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A statement that panicked left no transaction open (rusqlite rolls back on
            // drop), so the connection is still usable.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    /// Commits `write` in one transaction; returns the audit records it appended.
    pub(crate) async fn write(&self, write: Write) -> Result<Vec<AuditRecord>, StoreError> {
        self.call(move |conn| rows::write(conn, write)).await
    }

    /// Appends one audit entry.
    pub(crate) async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        let mut records = self
            .write(Write {
                audit: vec![entry],
                ..Write::default()
            })
            .await?;
        records
            .pop()
            .ok_or_else(|| StoreError::Worker("an append wrote no record".into()))
    }

    /// Audit records matching `query` (already validated).
    pub(crate) async fn query(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.call(move |conn| rows::query_audit(conn, &query)).await
    }

    /// The stored index and instances.
    pub(crate) async fn load(&self) -> Result<Loaded, StoreError> {
        self.call(rows::load).await
    }

    /// Checks that the database answers.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.call(|conn| {
            conn.query_row("SELECT count(*) FROM instances", [], |r| r.get::<_, i64>(0))
                .map(drop)
                .map_err(sql("answering a health check"))
        })
        .await
    }
}

fn open_blocking(dir: &Path, busy_timeout: Duration) -> Result<Store, StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(DATABASE_FILE);
    let open_err = |source| StoreError::Open {
        path: path.clone(),
        source,
    };
    let mut conn = Connection::open(&path).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    schema::check_and_migrate(&mut conn, &path)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "the control store could not switch to WAL");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    Ok(Store {
        conn: Arc::new(Mutex::new(conn)),
        path: Arc::new(path),
    })
}

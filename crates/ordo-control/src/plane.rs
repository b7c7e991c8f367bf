//! [`ControlPlane`]: opens the store, restores the registry, and serves the API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::{Extension, Router};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::api::{self, Draining};
use crate::audit::AuditLog;
use crate::options::ControlOptions;
use crate::problem::{self, Problem};
use crate::registry::Registry;
use crate::store::{Store, StoreError};

/// Why the control plane could not open or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The options are invalid.
    #[error("invalid control plane options: {}", problem::join(.0))]
    Options(Vec<Problem>),
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The API's address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// The control plane: registry, audit log and store, and the API over them. Cheap to
/// clone; the sweeper stops and the database closes when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: ControlOptions,
    store: Store,
    registry: Registry,
    audit: AuditLog,
}

impl Drop for Inner {
    fn drop(&mut self) {
        tracing::info!(store = %self.store.path().display(), "control plane stopped");
    }
}

impl ControlPlane {
    /// Opens (or creates) the store in `options.data_dir`, restores the registry with a
    /// fresh lease for each instance (or forgets them, if asked), records
    /// `control-started` in the audit log, and starts the lease sweeper. Must run inside
    /// a tokio runtime.
    pub async fn open(options: ControlOptions) -> Result<ControlPlane, ControlError> {
        let problems = options.problems();
        if !problems.is_empty() {
            return Err(ControlError::Options(problems));
        }
        let store = Store::open(&options.data_dir, options.busy_timeout).await?;
        let (registry, opened) = Registry::open(
            store.clone(),
            options.default_lease,
            options.sweep_interval,
            options.forget_instances_on_start,
        )
        .await?;
        tracing::info!(
            store = %store.path().display(),
            restored = opened.restored,
            forgotten = opened.forgotten,
            index = opened.index,
            "control plane started"
        );
        Ok(ControlPlane {
            inner: Arc::new(Inner {
                audit: AuditLog::new(store.clone()),
                options,
                store,
                registry,
            }),
        })
    }

    /// The instance registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// The store, for the controllers in this crate.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The options it was opened with.
    pub fn options(&self) -> &ControlOptions {
        &self.inner.options
    }

    /// The database file (`<data_dir>/control.db`).
    pub fn database(&self) -> &Path {
        self.inner.store.path()
    }

    /// Checks that the store answers.
    pub async fn check_store(&self) -> Result<(), StoreError> {
        self.inner.store.ping().await
    }

    /// The API as a router (state applied, ready to merge or serve) and its OpenAPI
    /// document, which the router also serves at `/openapi.json`.
    pub fn router(&self) -> (Router, OpenApi) {
        self.router_with(OpenApiRouter::new())
    }

    /// The API with `extra` routes merged in before the document is built, so they are
    /// documented at `/openapi.json` too.
    pub fn router_with(&self, extra: OpenApiRouter) -> (Router, OpenApi) {
        api::router(self.clone(), extra)
    }

    /// Serves [`ControlPlane::router`] on `addr` (`127.0.0.1:0` picks a free port).
    /// Returns the bound address and a handle that stops the server.
    pub async fn serve(&self, addr: &str) -> Result<(SocketAddr, ServeHandle), ControlError> {
        self.serve_router(addr, self.router().0).await
    }

    /// Serves `router` (built from [`ControlPlane::router`] or
    /// [`ControlPlane::router_with`], perhaps with more routes) on `addr`. On shutdown,
    /// waiting long-polls answer at once, then the server stops gracefully.
    pub async fn serve_router(
        &self,
        addr: &str,
        router: Router,
    ) -> Result<(SocketAddr, ServeHandle), ControlError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ControlError::Bind {
                addr: addr.to_owned(),
                source,
            })?;
        self.serve_listener(listener, router)
    }

    /// Serves `router` on a listener bound beforehand (when the address must be known
    /// before the routes can be built).
    pub fn serve_listener(
        &self,
        listener: tokio::net::TcpListener,
        router: Router,
    ) -> Result<(SocketAddr, ServeHandle), ControlError> {
        let bind_err = |source| ControlError::Bind {
            addr: "the given listener".to_owned(),
            source,
        };
        let local = listener.local_addr().map_err(bind_err)?;
        let (stop, stopped) = watch::channel(false);
        let app = router.layer(Extension(Draining::new(stopped.clone())));
        let mut signal = stopped;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = signal.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "control plane API failed");
            }
            tracing::info!(addr = %local, "control plane API stopped");
        });
        tracing::info!(addr = %local, store = %self.database().display(), "control plane API listening");
        Ok((
            local,
            ServeHandle {
                addr: local,
                stop,
                task,
            },
        ))
    }
}

/// A running API server. [`ServeHandle::shutdown`] stops it gracefully; dropping the
/// handle stops it too, without waiting.
#[derive(Debug)]
pub struct ServeHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServeHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers waiting long-polls, stops accepting, lets requests in flight finish, and
    /// returns when the server has stopped.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

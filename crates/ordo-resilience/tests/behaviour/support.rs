//! A dependency whose behaviour a test switches at will, and small helpers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use ordo_resilience::Error;
use tokio::sync::Notify;
use tower::{Service, ServiceExt};

/// The error type of the test dependency.
pub(crate) type E = Error<&'static str>;

/// What the dependency does with the next calls.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// Answer with the request at once.
    Ok,
    /// Fail at once.
    Fail,
    /// Answer after a delay.
    Slow(Duration),
    /// Fail after a delay.
    SlowFail(Duration),
    /// Never answer until released.
    Hang,
}

/// A dependency shared by a test and the services it hands out.
#[derive(Clone)]
pub(crate) struct Dep {
    mode: Arc<Mutex<Mode>>,
    calls: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    release: Arc<Notify>,
}

impl Dep {
    pub(crate) fn new(mode: Mode) -> Self {
        Dep {
            mode: Arc::new(Mutex::new(mode)),
            calls: Arc::new(AtomicUsize::new(0)),
            finished: Arc::new(AtomicUsize::new(0)),
            release: Arc::new(Notify::new()),
        }
    }

    pub(crate) fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Calls received so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Calls that ran to completion (not dropped).
    pub(crate) fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Lets every hanging call answer successfully.
    pub(crate) fn release_all(&self) {
        self.release.notify_waiters();
    }

    pub(crate) fn service(
        &self,
    ) -> impl Service<u32, Response = u32, Error = E, Future = BoxFuture<'static, Result<u32, E>>>
    + Clone
    + Send
    + 'static {
        let dep = self.clone();
        tower::service_fn(move |req: u32| {
            let dep = dep.clone();
            dep.calls.fetch_add(1, Ordering::SeqCst);
            let mode = *dep.mode.lock().unwrap();
            let release = dep.release.clone();
            let finished = dep.finished.clone();
            let fut: BoxFuture<'static, Result<u32, E>> = Box::pin(async move {
                let r = match mode {
                    Mode::Ok => Ok(req),
                    Mode::Fail => Err(Error::Inner("dependency failed")),
                    Mode::Slow(d) => {
                        tokio::time::sleep(d).await;
                        Ok(req)
                    }
                    Mode::SlowFail(d) => {
                        tokio::time::sleep(d).await;
                        Err(Error::Inner("dependency failed slowly"))
                    }
                    Mode::Hang => {
                        release.notified().await;
                        Ok(req)
                    }
                };
                finished.fetch_add(1, Ordering::SeqCst);
                r
            });
            fut
        })
    }
}

/// Waits for readiness, then calls.
pub(crate) async fn call<S: Service<R>, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(req).await
}

/// Makes `n` calls, ignoring their results (to fill or trip a window).
pub(crate) async fn calls<S: Service<u32>>(svc: &mut S, n: usize) {
    for _ in 0..n {
        let _ = call(svc, 1).await;
    }
}

/// Lets spawned tasks run up to their next wait, without moving the clock.
pub(crate) async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Every event a listener saw, in order.
pub(crate) fn kinds(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<ordo_resilience::Event>,
) -> Vec<ordo_resilience::EventKind> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e.kind);
    }
    out
}

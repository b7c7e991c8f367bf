//! The chaos service: decides per call whether to inject.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::ResponseFuture;
use super::layer::Settings;

/// Injects latency and outcomes into a share of the calls to `S`; made by
/// [`ChaosLayer`](super::ChaosLayer).
pub struct ChaosService<S, T, E> {
    inner: S,
    settings: Arc<Settings<T, E>>,
}

impl<S: fmt::Debug, T, E> fmt::Debug for ChaosService<S, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosService")
            .field("inner", &self.inner)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<S: Clone, T, E> Clone for ChaosService<S, T, E> {
    fn clone(&self) -> Self {
        ChaosService {
            inner: self.inner.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<S, T, E> ChaosService<S, T, E> {
    pub(crate) fn new(inner: S, settings: Arc<Settings<T, E>>) -> Self {
        ChaosService { inner, settings }
    }
}

impl<S, Req, T, E> Service<Req> for ChaosService<S, T, E>
where
    S: Service<Req, Response = T, Error = E> + Clone,
{
    type Response = T;
    type Error = E;
    type Future = ResponseFuture<S, Req, T, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        if !self.settings.roll() {
            return ResponseFuture::passed(self.inner.call(req));
        }
        let s = &self.settings;
        let outcome = s.outcome.as_ref().map(|make| make());
        match s.latency.map(|d| d.sample(&mut || s.rng.next_f64())) {
            // A delay first: the call (or the outcome) comes after it. The
            // service made ready is the one that will be called; a clone
            // takes its place here.
            Some(delay) => {
                let ready = match outcome {
                    Some(_) => None,
                    None => {
                        let clone = self.inner.clone();
                        Some((std::mem::replace(&mut self.inner, clone), req))
                    }
                };
                ResponseFuture::delayed(delay, ready, outcome)
            }
            None => match outcome {
                Some(result) => ResponseFuture::injected(result),
                None => ResponseFuture::passed(self.inner.call(req)),
            },
        }
    }
}

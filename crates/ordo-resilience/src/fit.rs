//! The FIT request context for Rust services: carry `x-ordo-fit` from the
//! request a service is handling onto the requests it makes meanwhile.
//!
//! # Why
//!
//! A fault scoped to a FIT scenario (`ordo fault add --scenario checkout
//! --cluster ratings ...`) touches only requests that carry the scenario
//! in the `x-ordo-fit` header. For it to reach a dependency two hops down,
//! every service on the way must pass the header on, exactly as it passes
//! a tracing header. These two layers do it for a Tower service and a
//! Tower client:
//!
//! - [`FitLayer`], on the server: runs each call with the incoming
//!   request's `x-ordo-fit` as the task's FIT context ([`current`]);
//! - [`PropagateFitLayer`], on the client: copies the context onto each
//!   outgoing request (unless it already has the header).
//!
//! Code that is not a Tower service reads [`current`] or runs work in a
//! context of its own with [`scope`]. [`in_scenario`] tells whether the
//! current request is in a scenario (the chaos layer uses it).
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use http::{HeaderValue, Request};
//! use ordo_resilience::fit::{self, FitLayer, PropagateFitLayer};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! // The client the handler calls its dependency with.
//! let client = PropagateFitLayer.layer(service_fn(|req: Request<()>| async move {
//!     Ok::<_, std::convert::Infallible>(req.headers().get("x-ordo-fit").cloned())
//! }));
//! let mut server = FitLayer.layer(service_fn(move |_req: Request<()>| {
//!     let client = client.clone();
//!     async move { client.oneshot(Request::new(())).await }
//! }));
//! let incoming = Request::builder().header("x-ordo-fit", "checkout").body(()).unwrap();
//! let forwarded = server.ready().await.unwrap().call(incoming).await.unwrap();
//! assert_eq!(forwarded, Some(HeaderValue::from_static("checkout")));
//! # }
//! ```

use std::task::{Context, Poll};

use http::{HeaderValue, Request};
/// The header that carries the FIT context: `x-ordo-fit`.
pub use ordo_fault::fit::HEADER;
use ordo_fault::fit::tags;
use tokio::task::futures::TaskLocalFuture;
use tower_layer::Layer;
use tower_service::Service;

tokio::task_local! {
    static FIT: Option<HeaderValue>;
}

/// The FIT context of the request being handled (its `x-ordo-fit` value),
/// if there is one.
pub fn current() -> Option<HeaderValue> {
    FIT.try_with(Clone::clone).ok().flatten()
}

/// Whether the request being handled is in `scenario`.
pub fn in_scenario(scenario: &str) -> bool {
    FIT.try_with(|v| {
        v.as_ref()
            .is_some_and(|v| tags(v.as_bytes()).any(|t| t == scenario))
    })
    .unwrap_or(false)
}

/// Runs `f` with `context` as its FIT context.
pub fn scope<F: Future>(
    context: Option<HeaderValue>,
    f: F,
) -> TaskLocalFuture<Option<HeaderValue>, F> {
    FIT.scope(context, f)
}

/// Runs each call of a server with the incoming request's FIT context.
#[derive(Debug, Clone, Copy, Default)]
pub struct FitLayer;

impl<S> Layer<S> for FitLayer {
    type Service = FitService<S>;

    fn layer(&self, inner: S) -> FitService<S> {
        FitService { inner }
    }
}

/// See [`FitLayer`].
#[derive(Debug, Clone)]
pub struct FitService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for FitService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<Option<HeaderValue>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let context = req.headers().get(HEADER).cloned();
        FIT.scope(context, self.inner.call(req))
    }
}

/// Copies the FIT context onto each outgoing request of a client.
#[derive(Debug, Clone, Copy, Default)]
pub struct PropagateFitLayer;

impl<S> Layer<S> for PropagateFitLayer {
    type Service = PropagateFit<S>;

    fn layer(&self, inner: S) -> PropagateFit<S> {
        PropagateFit { inner }
    }
}

/// See [`PropagateFitLayer`].
#[derive(Debug, Clone)]
pub struct PropagateFit<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for PropagateFit<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        if !req.headers().contains_key(HEADER)
            && let Some(v) = current()
        {
            req.headers_mut().insert(HEADER, v);
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outside_a_request_there_is_no_context() {
        assert_eq!(current(), None);
        assert!(!in_scenario("x"));
    }

    #[tokio::test]
    async fn a_scope_sets_the_context_and_its_scenarios() {
        let v = HeaderValue::from_static("a, checkout");
        scope(Some(v.clone()), async move {
            assert_eq!(current(), Some(v));
            assert!(in_scenario("checkout"));
            assert!(!in_scenario("check"));
            // A nested request without the header has no context.
            scope(None, async { assert_eq!(current(), None) }).await;
        })
        .await;
    }
}

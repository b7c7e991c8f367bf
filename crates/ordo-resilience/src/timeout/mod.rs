//! Timeout: give up on a call that takes too long.
//!
//! # Why
//!
//! Every call needs a deadline. Without one, a dependency that stops
//! answering holds the caller's resources forever, and nothing upstream
//! (retry, circuit breaker, fallback) gets a failure to act on.
//!
//! # How
//!
//! The response future races the call against a timer; if the timer wins,
//! the call is dropped (cancelling it) and [`Elapsed`] is returned. Placed
//! inside a retry, it bounds each attempt; outside, the whole call.
//!
//! The timer starts when the call first has to wait: a call that completes
//! on its first poll never touches the timer wheel or the clock, which keeps
//! this layer almost free for cached and local answers. For a call that
//! waits, the timeout is measured from that first poll, normally the moment
//! the call is made.
//!
//! # Defaults
//!
//! | setting | default | resilience4j | Hystrix | Polly |
//! |---|---|---|---|---|
//! | `timeout` | 1 s | 1 s | 1 s | 30 s |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! use std::time::Duration;
//! use ordo_resilience::{timeout::TimeoutLayer, Error};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let mut svc = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(Duration::from_millis(100)))
//!     .service(service_fn(|_: ()| std::future::pending::<Result<(), Error>>()));
//! let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
//! assert!(err.is_timeout());
//! # }
//! ```

mod error;
mod future;
mod layer;
mod service;

pub use error::Elapsed;
pub use future::ResponseFuture;
pub use layer::TimeoutLayer;
pub use service::TimeoutService;

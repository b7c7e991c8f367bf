//! Composing policies: one documented order, presets that reproduce the
//! anchors' defaults, and a builder that refuses harmful orders.
//!
//! # The order
//!
//! Outermost first, as a call meets them:
//!
//! ```text
//! fallback                 answers for whatever failed below (add it outside the stack)
//! └ instrument             counts each call once: ordo_calls_total, ordo_call_duration_seconds
//!   └ total timeout        bounds the whole call, retries included
//!     └ retry              tries again, within the budget
//!       └ hedge            sends a second attempt when one is slow (same budget)
//!         └ circuit breaker  sees every attempt; rejects at once when open
//!           └ rate limit     caps attempts per second
//!             └ throttle     drops locally while the dependency refuses calls
//!               └ attempt timeout  bounds each attempt; a hung call becomes a failure the breaker counts
//!                 └ bulkhead         caps attempts in flight
//!                   └ concurrency limit  adapts that cap to latency and drops
//!                     └ the service
//! ```
//!
//! Each position has a reason: the breaker is inside retry so it counts
//! attempts and retries stop once it opens; the attempt timeout is inside
//! the breaker so hung calls count as failures; the limits are innermost so
//! they measure the dependency, not backoff; the fallback is outermost so
//! every policy sees real failures first.
//!
//! [`StackConfig::build`] always uses this order. [`StackBuilder`] lets you
//! choose another and refuses the ones known to be harmful; see
//! [`OrderError`] for the list and the reason for each.
//!
//! # Presets
//!
//! [`presets::hystrix`], [`presets::resilience4j`] and [`presets::polly`]
//! reproduce each anchor's defaults; [`presets::ordo`] is ordo's own.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use ordo_resilience::{stack::presets, Error, Telemetry};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let stack = presets::resilience4j().build(Telemetry::new("inventory")).unwrap();
//! let mut svc = ServiceBuilder::new()
//!     .layer(stack)
//!     .service(service_fn(|id: u32| async move { Ok::<_, Error>(id * 2) }));
//! assert_eq!(svc.ready().await.unwrap().call(21).await.unwrap(), 42);
//! # }
//! ```

mod builder;
mod config;
mod order;
pub mod presets;

pub use builder::{OrderErrors, StackBuilder};
pub use config::{PolicyStack, StackConfig};
pub use order::{OrderError, Policy, PolicyKind, check_order};

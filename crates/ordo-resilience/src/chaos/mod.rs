//! Chaos: inject latency, errors or made-up results into a share of calls,
//! on purpose, to test that the policies around them and the code above
//! hold up (Polly's chaos strategies, Netflix's FIT inside a service).
//!
//! # Why inside the service
//!
//! ordo's proxy injects faults between services; some failures only exist
//! inside one: a slow database driver, a client library that throws, a
//! cache that returns garbage. A [`ChaosLayer`] placed around such a call
//! fails it the way it would fail, for a share of calls, only when switched
//! on, and (optionally) only for requests of one FIT scenario, so a test
//! user's request breaks and nobody else's does.
//!
//! # What it injects
//!
//! - **latency**: a delay before the call, fixed or drawn from a
//!   distribution ([`Delay`], shared with the proxy's faults);
//! - **an outcome**: a result returned *instead of* calling: an error
//!   ([`ChaosLayer::error`]) or a made-up response ([`ChaosLayer::outcome`]);
//! - both: a delay, then the outcome.
//!
//! Each call is injected with probability `rate` (0 to 1), while the
//! [`ChaosSwitch`] is on (it starts off unless given on), and, with
//! [`ChaosLayer::scenario`], only inside a FIT context carrying that
//! scenario ([`crate::fit`]). Times come from tokio's clock, randomness
//! from a seedable [`Rng`](crate::Rng), so tests are deterministic.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use ordo_resilience::chaos::{ChaosLayer, ChaosSwitch};
//! use ordo_resilience::Rng;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! let switch = ChaosSwitch::on();
//! let chaos = ChaosLayer::error(|| "injected")
//!     .rate(1.0)
//!     .switch(switch.clone())
//!     .rng(Rng::seeded(1));
//! let mut svc = chaos.layer(service_fn(|x: u32| async move { Ok::<_, &str>(x) }));
//! assert_eq!(svc.ready().await.unwrap().call(1).await, Err("injected"));
//! switch.set(false);
//! assert_eq!(svc.ready().await.unwrap().call(2).await, Ok(2));
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::ChaosLayer;
pub use ordo_fault::Delay;
pub use service::ChaosService;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Turns a chaos layer on and off at runtime; clones share the state.
#[derive(Debug, Clone)]
pub struct ChaosSwitch(Arc<AtomicBool>);

impl ChaosSwitch {
    /// A switch that starts on.
    pub fn on() -> Self {
        ChaosSwitch(Arc::new(AtomicBool::new(true)))
    }

    /// A switch that starts off.
    pub fn off() -> Self {
        ChaosSwitch(Arc::new(AtomicBool::new(false)))
    }

    /// Turns it on or off.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    /// Whether it is on.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

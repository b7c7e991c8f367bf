#![doc = include_str!("../README.md")]

pub mod bulkhead;
pub mod chaos;
pub mod circuit_breaker;
pub mod classify;
mod error;
pub mod events;
pub mod fallback;
pub mod fit;
pub mod hedge;
pub mod instrument;
pub mod limit;
pub mod metrics;
mod padded;
pub mod rate_limit;
pub mod retry;
mod rng;
pub mod stack;
mod telemetry;
pub mod throttle;
pub mod timeout;
mod window;

pub use circuit_breaker::CircuitState;
pub use error::{BoxError, ConfigError, Error, ErrorKind, ResilienceError};
pub use events::{Event, EventKind};
pub use metrics::Metrics;
pub use rng::Rng;
pub use telemetry::Telemetry;

//! How one request is sent: the [`Transport`] seam between the schedule and
//! the network.
//!
//! The run (scheduling, slots, timeouts, accounting) is generic over this
//! trait, so its arithmetic is tested on Tokio's paused clock with an
//! in-process transport that answers after a scripted delay, while
//! [`HttpTransport`] carries the real requests.

mod http;

use std::future::Future;

pub(crate) use self::http::HttpTransport;
use crate::error::ErrorKind;

/// Sends one request and waits for its whole response.
pub(crate) trait Transport: Send + Sync + 'static {
    /// The response's status code, or why there was none. The run applies
    /// the timeout around this future and classifies its expiry itself.
    fn send(&self) -> impl Future<Output = Result<u16, ErrorKind>> + Send;
}

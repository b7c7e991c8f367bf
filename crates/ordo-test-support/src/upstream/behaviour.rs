//! What an upstream does with each request: the [`Behaviour`] a test selects,
//! and [`Profile`], the combination of faults the bench binary's flags describe.

use std::time::Duration;

/// How an [`Upstream`](super::Upstream) answers the requests that follow.
///
/// Every response, whatever the behaviour, carries `x-upstream: <name>`.
/// `GET /health`, upgrades and the control endpoint are not affected.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Behaviour {
    /// `200 OK`; the body is the upstream's name (or the builder's `ok_body`).
    #[default]
    Ok,
    /// Answers with this status code and the name as body.
    Status(u16),
    /// Waits (with `tokio::time::sleep`, so paused clocks apply), then [`Behaviour::Ok`].
    Delay(Duration),
    /// Reads the request, then closes the connection without a response.
    ///
    /// On HTTP/2 the whole connection is closed, not only the stream.
    Reset,
    /// Sends `200` with `content-length: 1000000`, a few bytes of body, then
    /// aborts the response (HTTP/1.1: the connection closes; HTTP/2: the
    /// stream is reset).
    ResetMidBody,
    /// Fails a deterministic fraction of requests with `status`: over any `n`
    /// consecutive requests, `floor(n * ratio)` fail, spread evenly
    /// (`0.5` fails exactly every second request, starting with the second).
    FailRatio {
        /// Fraction of requests that fail, in `0.0..=1.0`.
        ratio: f64,
        /// Status code of a failed request.
        status: u16,
    },
    /// Like [`Behaviour::FailRatio`], but the failing requests are
    /// [reset](Behaviour::Reset) instead of answered.
    ResetRatio(f64),
    /// `200` with a JSON body describing the request (see [`Echoed`](super::Echoed)).
    Echo,
    /// `200` with a chunked body: `chunks` chunks of `chunk_bytes` bytes each,
    /// one every `every` (the first immediately).
    Stream {
        /// Number of chunks.
        chunks: usize,
        /// Size of each chunk.
        chunk_bytes: usize,
        /// Pause between chunks.
        every: Duration,
    },
    /// A capacity-limited server: at most `max_concurrent` requests are served
    /// at once, each for `service_time`, then answered [`Behaviour::Ok`];
    /// requests beyond the limit wait in a FIFO queue.
    Capacity {
        /// Requests served at the same time.
        max_concurrent: usize,
        /// Time each request holds its slot.
        service_time: Duration,
    },
    /// Several faults at once (see [`Profile`]).
    Profile(Profile),
    /// A service with a dependency: each request is sent on as a `GET` of
    /// this base URL plus the request's path and query, carrying the
    /// request's FIT context (`x-ordo-fit`, through ordo-resilience's `fit`
    /// layers) as a real service should, and answered with the
    /// dependency's status and body (`502` when it cannot be reached).
    Forward(String),
}

/// Several faults at once, applied in this order to each request: wait for a
/// capacity slot and hold it for `service_time`, sleep `delay`, then maybe
/// reset (`reset_ratio`), else maybe fail (`fail_ratio`), else answer Ok.
///
/// The ratios are deterministic as in [`Behaviour::FailRatio`], with one
/// counter each. `Profile::default()` behaves like [`Behaviour::Ok`].
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Pause before answering.
    pub delay: Duration,
    /// `(max_concurrent, service_time)` as in [`Behaviour::Capacity`].
    pub capacity: Option<(usize, Duration)>,
    /// Fraction of requests reset, in `0.0..=1.0`.
    pub reset_ratio: f64,
    /// Fraction of requests (not reset) answered with `fail_status`.
    pub fail_ratio: f64,
    /// Status of failed requests.
    pub fail_status: u16,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            capacity: None,
            reset_ratio: 0.0,
            fail_ratio: 0.0,
            fail_status: 503,
        }
    }
}

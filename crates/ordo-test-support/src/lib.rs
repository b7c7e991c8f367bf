//! Fixtures for ordo's integration tests: real HTTP servers, real sockets.
//!
//! A proxy's resilience is only as believable as the failures it was tested
//! against, and mocks at the `Service` level never see a half-written body or
//! a connection that closes mid-request. This crate starts *real* upstream
//! servers (hyper, HTTP/1.1 and HTTP/2 prior knowledge) on `127.0.0.1:0`, so
//! tests run in parallel without port clashes, and lets a test script how each
//! upstream misbehaves while the test runs:
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use ordo_test_support::{client, Behaviour, Upstream};
//!
//! let up = Upstream::builder().name("a").start().await;
//! let http = client::http1_client();
//! let (status, headers, body) = client::get(&http, &up.url("/")).await;
//! assert_eq!(status, 200);
//! assert_eq!(headers["x-upstream"], "a");
//! assert_eq!(body, "a");
//!
//! up.set_behaviour(Behaviour::Delay(Duration::from_millis(50)));
//! up.set_behaviour(Behaviour::FailRatio { ratio: 0.5, status: 503 });
//! up.set_healthy(false); // GET /health now answers 503
//! assert_eq!(up.hits(), 1);
//! up.shutdown().await;
//! # }
//! ```
//!
//! The same server backs the `ordo-upstream` binary that benchmark scripts
//! run (`cargo run -p ordo-test-support --bin ordo-upstream -- --help`); its
//! behaviour can be changed at runtime with `PUT /__ordo/behaviour` (see
//! [`BehaviourSpec`]), and it reports its counters with `GET /__ordo/stats`
//! (see [`Stats`]; `POST /__ordo/stats/reset` zeroes them).
//!
//! [`raw::RawUpstream`] answers with hand-written bytes instead, for what no
//! well-behaved server sends (chunked trailers, interim responses, bodies
//! delimited by a close, malformed heads, keep-alive connections closed as
//! a request arrives).
//!
//! [`temp::TempDir`] is a directory of its own for a test's files.
//!
//! [`client`] holds the matching client side: hyper clients for HTTP/1.1 and
//! HTTP/2, a one-call `GET`, and [`client::raw_exchange`] for writing
//! malformed bytes on a socket.

pub mod client;
pub mod raw;
pub mod temp;
pub mod upstream;

pub use upstream::{
    Behaviour, BehaviourSpec, Echoed, Profile, Recorded, SpecError, Stats, Upstream,
    UpstreamBuilder, X_UPSTREAM,
};

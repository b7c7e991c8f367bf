//! An open-loop HTTP load generator: requests at a constant arrival rate,
//! latency measured from when each request *should* have been sent.
//!
//! `ordo load URL --rate 200` and `ordo up --load 200` drive a service with
//! it, and the squeeze tests use it to find the rate at which a service
//! breaks its latency objective.
//!
//! # Why open loop
//!
//! A closed-loop tester (a fixed number of connections, each sending its
//! next request when the previous response arrives) slows down when the
//! service does: a server that stalls for a second is sent nothing for that
//! second, so the stall costs one slow sample instead of the hundreds of
//! users who would have waited. That is *coordinated omission*: the tester
//! coordinates with the server to omit exactly the measurements that
//! matter, and its p99 can be orders of magnitude too good.
//!
//! Real users do not wait for each other. This generator sends request `i`
//! at `start + i / rate` whatever happened to earlier ones, as wrk2 does.
//!
//! # How coordinated omission is avoided
//!
//! - The schedule is fixed in advance: request `i` is due at
//!   `start + i / rate`, computed from `i` (not by adding periods, so
//!   nothing drifts).
//! - A scheduler task sleeps until the next due time and hands each request
//!   to its own task, so a slow response never delays the next send. When
//!   the scheduler wakes late, it sends every request already due.
//! - Each request's latency runs from its **intended** send time to the end
//!   of its response. If the generator itself falls behind (a busy runtime,
//!   or all [`LoadSpec::max_in_flight`] slots taken by a stalled server),
//!   the requests it sends late still carry their intended times, so the
//!   delay shows in the percentiles instead of vanishing.
//! - Latencies go into an [HdrHistogram](hdrhistogram) (1 µs to 1 h, three
//!   significant digits), tallied by one recorder task that request tasks
//!   reach through a channel, so the request path takes no lock.
//!
//! One bias remains, towards slower: Tokio's timer has a 1 ms resolution,
//! so above 1,000 requests per second the scheduler sends each
//! millisecond's requests together, and a request can be sent up to about
//! 1 ms after its intended time; that wait counts in its latency.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ordo_load::LoadError> {
//! # let upstream = ordo_test_support::Upstream::builder().start().await;
//! # let url = upstream.url("/");
//! use std::time::Duration;
//! use ordo_load::{Load, LoadSpec, report_text, summary_line};
//!
//! // 100 requests per second for half a second.
//! let run = Load::start(LoadSpec {
//!     duration: Some(Duration::from_millis(500)),
//!     ..LoadSpec::new(url, 100.0)
//! })?;
//! println!("{}", summary_line(&run.snapshot()));
//! let report = run.finish().await;
//! print!("{}", report_text(&report));
//! assert_eq!(report.snapshot.total.completed, 50);
//! # Ok(())
//! # }
//! ```
//!
//! prints, for a server on the same machine:
//!
//! ```text
//!     0s      0/s  ok 0         4xx 0      5xx 0      errors 0 (0.00%)      p50 0µs      p99 0µs      max 0µs
//! requests  intended 50  sent 50  completed 50  errors 0
//! rate      target 100/s  achieved 100/s over 500ms
//! status    ok 50  4xx 0  5xx 0
//! errors    timeout 0  connect 0  io 0
//! latency   from each request's intended send time, over 50 responses
//!   mean      213µs
//!   50%       178µs
//!   ...
//! ```
//!
//! Watch a run live with [`LoadRun::subscribe`] (a snapshot per second),
//! and export its histogram with [`Report::histogram`] or [`Report::hgrm`].

mod error;
mod format;
mod record;
mod report;
mod run;
mod schedule;
mod snapshot;
mod spec;
mod transport;

/// The HdrHistogram crate, as [`Report::histogram`] returns its type.
pub use hdrhistogram;

pub use error::{ErrorKind, LoadError};
pub use format::{format_latency, report_text, summary_line};
pub use report::{Percentile, REPORT_PERCENTILES, Report};
pub use run::{Load, LoadRun};
pub use snapshot::{Errors, Latency, Snapshot, Window};
pub use spec::{LoadSpec, MAX_IN_FLIGHT, MAX_RATE, MIN_RATE, Problem, SpecError};

//! Toxics compiled from their specs, and what each does to a byte stream.

use std::time::Duration;

use ordo_config::proxy::ToxicSpec;

/// Which way a toxic acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Client to upstream.
    Upstream,
    /// Upstream to client.
    Downstream,
}

impl Stream {
    fn parse(s: &str) -> Stream {
        if s == "upstream" {
            Stream::Upstream
        } else {
            Stream::Downstream
        }
    }
}

/// What a toxic does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Effect {
    /// Each chunk waits `latency` ± `jitter`.
    Latency { latency: Duration, jitter: Duration },
    /// At most this many bytes per second.
    Bandwidth { bytes_per_second: u64 },
    /// The close waits this long after the source closed.
    SlowClose { delay: Duration },
    /// Data stops; the connection closes after this (never, if zero).
    Timeout { after: Duration },
    /// The connection is reset after this.
    ResetPeer { after: Duration },
    /// Chunks are cut into slices of about `average` bytes (± `variation`),
    /// `delay` apart.
    Slicer {
        average: usize,
        variation: usize,
        delay: Duration,
    },
    /// The connection closes once this many bytes have passed.
    LimitData { bytes: u64 },
}

/// A toxic on a TCP proxy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Toxic {
    /// Distinguishes it from a toxic later added under the same name (a
    /// connection's toxicity draw is per toxic).
    pub(crate) serial: u64,
    pub(crate) spec: ToxicSpec,
    pub(crate) name: String,
    pub(crate) stream: Stream,
    pub(crate) toxicity: f64,
    pub(crate) effect: Effect,
}

impl Toxic {
    /// Compiles a checked spec.
    pub(crate) fn compile(spec: ToxicSpec, serial: u64) -> Toxic {
        let a = |k: &str| spec.attributes.get(k).copied().unwrap_or(0).max(0) as u64;
        let ms = |k: &str| Duration::from_millis(a(k));
        let effect = match spec.kind.as_str() {
            "latency" => Effect::Latency {
                latency: ms("latency"),
                jitter: ms("jitter"),
            },
            "bandwidth" => Effect::Bandwidth {
                // Toxiproxy's KB is 1000 bytes.
                bytes_per_second: a("rate").saturating_mul(1000).max(1),
            },
            "slow_close" => Effect::SlowClose { delay: ms("delay") },
            "timeout" => Effect::Timeout {
                after: ms("timeout"),
            },
            "reset_peer" => Effect::ResetPeer {
                after: ms("timeout"),
            },
            "slicer" => Effect::Slicer {
                average: a("average_size").max(1) as usize,
                variation: a("size_variation") as usize,
                delay: Duration::from_micros(a("delay")),
            },
            _ => Effect::LimitData { bytes: a("bytes") },
        };
        Toxic {
            serial,
            name: spec.name(),
            stream: Stream::parse(&spec.stream),
            toxicity: spec.toxicity,
            effect,
            spec,
        }
    }

    /// The spec as the API shows it (with its name).
    pub(crate) fn view(&self) -> ToxicSpec {
        ToxicSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        }
    }
}

//! One direction of a proxied TCP connection: bytes read from one side and
//! written to the other, through the toxics that act on that direction.
//!
//! Toxics are read from a watch channel, so adding or removing one changes
//! connections already open. Whether a toxic applies to a connection is
//! drawn once per connection (its toxicity). A `timeout` or `reset_peer`
//! toxic, or `limit_data` running out, decides the fate of the whole
//! connection: both directions end, closed or reset.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ordo_resilience::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::toxic::{Effect, Stream, Toxic};

/// Read size of one chunk.
const CHUNK: usize = 32 * 1024;

/// How a connection ends, decided by either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Running,
    /// Closed (FIN) in both directions.
    Close,
    /// Reset (RST) in both directions.
    Reset,
}

/// A toxic as this connection sees it.
#[derive(Debug, Clone)]
struct Active {
    toxic: Toxic,
    /// When it began to act on this connection.
    since: Instant,
}

/// What one direction of a connection is doing.
pub(crate) struct Pump {
    pub(crate) src: OwnedReadHalf,
    pub(crate) dst: OwnedWriteHalf,
    pub(crate) stream: Stream,
    pub(crate) toxics: watch::Receiver<Arc<Vec<Toxic>>>,
    pub(crate) fate: Arc<watch::Sender<Fate>>,
    pub(crate) rng: Arc<Rng>,
}

impl Pump {
    /// Runs until the source closes or the connection's fate is decided.
    pub(crate) async fn run(mut self) {
        let mut fate = self.fate.subscribe();
        // Toxicity draws, by toxic serial (shared knowledge: both
        // directions draw for their own toxics only).
        let mut drawn: HashMap<u64, bool> = HashMap::new();
        let mut active = self.refresh(&mut drawn, &[]);
        let mut buf = vec![0u8; CHUNK];
        // Bytes passed since each toxic began to act (limit_data counts from
        // then, as does the bandwidth toxic's schedule), by toxic serial.
        let mut passed: HashMap<u64, u64> = HashMap::new();
        loop {
            let deadline = self.deadline(&active);
            // Already due (a reset or timeout of zero): before any data.
            if let Some((at, decided)) = deadline
                && at <= Instant::now()
            {
                self.fate.send_replace(decided);
                return self.end(decided);
            }
            // Biased: a decided fate or a due deadline goes before data
            // (a reset with no delay lets nothing through).
            let n = tokio::select! {
                biased;
                f = fate.wait_for(|f| *f != Fate::Running) => {
                    let f = f.map_or(Fate::Close, |f| *f);
                    return self.end(f);
                }
                decided = sleep_until(deadline) => {
                    self.fate.send_replace(decided);
                    return self.end(decided);
                }
                changed = self.toxics.changed() => {
                    if changed.is_err() {
                        return self.end(Fate::Close);
                    }
                    active = self.refresh(&mut drawn, &active);
                    continue;
                }
                r = self.src.read(&mut buf) => r.unwrap_or_default(),
            };
            if n == 0 {
                // The source closed: a slow close waits, then the other
                // side is told.
                if let Some(delay) = active.iter().find_map(|a| match a.toxic.effect {
                    Effect::SlowClose { delay } => Some(delay),
                    _ => None,
                }) {
                    tokio::time::sleep(delay).await;
                }
                let _ = self.dst.shutdown().await;
                return;
            }
            // A timeout toxic stops all data.
            if active
                .iter()
                .any(|a| matches!(a.toxic.effect, Effect::Timeout { .. }))
            {
                continue;
            }
            passed.retain(|serial, _| active.iter().any(|a| a.toxic.serial == *serial));
            let mut chunk = &buf[..n];
            let mut exhausted = false;
            if let Some((serial, limit)) = active.iter().find_map(|a| match a.toxic.effect {
                Effect::LimitData { bytes } => Some((a.toxic.serial, bytes)),
                _ => None,
            }) {
                let left = limit.saturating_sub(passed.get(&serial).copied().unwrap_or(0));
                if (chunk.len() as u64) >= left {
                    chunk = &chunk[..left as usize];
                    exhausted = true;
                }
            }
            // The other direction may decide the connection's fate while
            // this one waits out a latency or writes.
            let delivered = tokio::select! {
                biased;
                f = fate.wait_for(|f| *f != Fate::Running) => Err(f.map_or(Fate::Close, |f| *f)),
                r = deliver(&mut self.dst, &self.rng, chunk, &active, &passed) => r.map_err(|_| Fate::Close),
            };
            if let Err(f) = delivered {
                return self.end(f);
            }
            for a in &active {
                *passed.entry(a.toxic.serial).or_insert(0) += chunk.len() as u64;
            }
            if exhausted {
                self.fate.send_replace(Fate::Close);
                return self.end(Fate::Close);
            }
        }
    }

    /// The toxics acting on this direction of this connection now, keeping
    /// the start times of those already acting.
    fn refresh(&self, drawn: &mut HashMap<u64, bool>, before: &[Active]) -> Vec<Active> {
        let now = Instant::now();
        let list = self.toxics.borrow().clone();
        drawn.retain(|serial, _| list.iter().any(|t| t.serial == *serial));
        list.iter()
            .filter(|t| t.stream == self.stream)
            .filter(|t| {
                *drawn
                    .entry(t.serial)
                    .or_insert_with(|| t.toxicity >= 1.0 || self.rng.next_f64() < t.toxicity)
            })
            .map(|t| Active {
                since: before
                    .iter()
                    .find(|b| b.toxic.serial == t.serial)
                    .map_or(now, |b| b.since),
                toxic: t.clone(),
            })
            .collect()
    }

    /// When a timeout or reset toxic decides the connection's fate.
    fn deadline(&self, active: &[Active]) -> Option<(Instant, Fate)> {
        active
            .iter()
            .filter_map(|a| match a.toxic.effect {
                Effect::Timeout { after } if !after.is_zero() => {
                    Some((a.since + after, Fate::Close))
                }
                Effect::ResetPeer { after } => Some((a.since + after, Fate::Reset)),
                _ => None,
            })
            .min_by_key(|(at, _)| *at)
    }

    /// Ends this direction: a reset sends RST on both sockets (and no FIN
    /// first: the write half is let go without shutting it down, so the
    /// sockets close, with zero linger, when the read halves go).
    fn end(self, fate: Fate) {
        if fate == Fate::Reset {
            let _ = self.src.as_ref().set_zero_linger();
            let _ = self.dst.as_ref().set_zero_linger();
            self.dst.forget();
        }
    }
}

/// Writes one chunk through the latency, bandwidth and slicer toxics;
/// `passed` holds the bytes each toxic has let through before it.
async fn deliver(
    dst: &mut OwnedWriteHalf,
    rng: &Rng,
    chunk: &[u8],
    active: &[Active],
    passed: &HashMap<u64, u64>,
) -> std::io::Result<()> {
    for a in active {
        match a.toxic.effect {
            Effect::Latency { latency, jitter } => {
                let j = jitter.as_secs_f64();
                let d = latency.as_secs_f64() + j * (2.0 * rng.next_f64() - 1.0);
                if d > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(d)).await;
                }
            }
            Effect::Bandwidth { bytes_per_second } => {
                // The chunk may go once the bytes before it (since the
                // toxic began) and it have had their time.
                let owed = passed.get(&a.toxic.serial).copied().unwrap_or(0) + chunk.len() as u64;
                let due = a.since + Duration::from_secs_f64(owed as f64 / bytes_per_second as f64);
                tokio::time::sleep_until(due).await;
            }
            _ => {}
        }
    }
    let slicer = active.iter().find_map(|a| match a.toxic.effect {
        Effect::Slicer {
            average,
            variation,
            delay,
        } => Some((average, variation, delay)),
        _ => None,
    });
    match slicer {
        None => dst.write_all(chunk).await,
        Some((average, variation, delay)) => {
            let mut rest = chunk;
            while !rest.is_empty() {
                let spread = variation.min(average.saturating_sub(1));
                let size = if spread == 0 {
                    average
                } else {
                    average - spread + rng.below(2 * spread as u64 + 1) as usize
                }
                .clamp(1, rest.len());
                let (piece, tail) = rest.split_at(size);
                dst.write_all(piece).await?;
                rest = tail;
                if !rest.is_empty() && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            Ok(())
        }
    }
}

/// Sleeps until the deadline and returns its fate; never, without one.
async fn sleep_until(deadline: Option<(Instant, Fate)>) -> Fate {
    match deadline {
        Some((at, fate)) => {
            tokio::time::sleep_until(at).await;
            fate
        }
        None => std::future::pending().await,
    }
}

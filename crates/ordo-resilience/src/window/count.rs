//! The last N calls, with atomics only.
//!
//! A ring of N one-byte slots holds each call's outcome; one 64-bit word
//! holds the totals (calls, failures, slow calls) in three 21-bit fields.
//! Recording claims the next slot with one atomic add, swaps its outcome
//! in, and adds the difference between the new and the evicted outcome to
//! the totals, all in one atomic add. When the new outcome equals the
//! evicted one (a healthy dependency, window full) the totals do not change
//! and nothing else is written.
//!
//! When every call in a full window succeeded and another success arrives,
//! nothing is written at all, not even the position: evicting a success to
//! record a success leaves the window as it was, whichever slot it would
//! have used. A healthy dependency's calls cost one load here.
//!
//! Two threads racing for the same slot (possible once the ring wraps
//! faster than a thread records) apply their differences in some order:
//! each swap returns exactly what it replaced, so after both finish the
//! totals equal the slots. Between the two adds one field may be briefly
//! negative; the totals are decoded as signed fields and clamped, so a
//! reader never sees a wrapped-around count.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::Snapshot;
use crate::padded::Padded;

const BITS: u32 = 21;
const MASK: u64 = (1 << BITS) - 1;
const HALF: i64 = 1 << (BITS - 1);

/// The largest window: totals must stay below 2^20 to decode.
pub(crate) const MAX_SIZE: u32 = 1_000_000;

const PRESENT: u8 = 1;
const FAILED: u8 = 2;
const SLOW: u8 = 4;

#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// `u64::MAX / size + 1`, for a division-free modulo (Lemire's fastmod).
    magic: u64,
    head: Padded<AtomicU64>,
    totals: Padded<AtomicU64>,
    slots: Box<[AtomicU8]>,
}

#[inline]
fn code(failed: bool, slow: bool) -> u8 {
    PRESENT | (u8::from(failed) * FAILED) | (u8::from(slow) * SLOW)
}

#[inline]
fn weight(code: u8) -> u64 {
    let c = u64::from(code);
    (c & 1) | ((c >> 1) & 1) << BITS | ((c >> 2) & 1) << (2 * BITS)
}

#[inline]
fn signed_field(x: u64) -> i64 {
    let v = (x & MASK) as i64;
    if v >= HALF { v - (1 << BITS) } else { v }
}

/// `n % d` without a division, given `magic = u64::MAX / d + 1`.
#[inline]
fn fastmod(n: u32, magic: u64, d: u64) -> u64 {
    let low = magic.wrapping_mul(u64::from(n));
    ((u128::from(low) * u128::from(d)) >> 64) as u64
}

/// Decodes three signed 21-bit fields from their packed wrapping sum.
#[inline]
fn decode(packed: u64, size: u64) -> Snapshot {
    let calls = signed_field(packed);
    let rest = packed.wrapping_sub(calls as u64) >> BITS;
    let failures = signed_field(rest);
    let rest = rest.wrapping_sub(failures as u64) >> BITS;
    let slow = signed_field(rest);
    let clamp = |v: i64| (v.max(0) as u64).min(size);
    Snapshot {
        calls: clamp(calls),
        failures: clamp(failures),
        slow: clamp(slow),
    }
}

impl CountWindow {
    /// A window of the last `size` calls; `size` is in `1..=MAX_SIZE`.
    pub(crate) fn new(size: u32) -> Self {
        debug_assert!((1..=MAX_SIZE).contains(&size));
        CountWindow {
            size: u64::from(size),
            magic: (u64::MAX / u64::from(size)).wrapping_add(1),
            head: Padded(AtomicU64::new(0)),
            totals: Padded(AtomicU64::new(0)),
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// Records one call. Returns the new totals when they changed, `None`
    /// when the call replaced an identical outcome.
    #[inline]
    pub(crate) fn record(&self, failed: bool, slow: bool) -> Option<Snapshot> {
        let new = code(failed, slow);
        if new == PRESENT && self.totals.load(Ordering::Relaxed) == self.size {
            // A full window of plain successes (totals of exactly `size`
            // calls, no failures, no slow calls) and one more: no change.
            return None;
        }
        // The counter's low 32 bits, modulo the size: where the counter
        // wraps (every 2^32 calls) one slot is revisited early, harmlessly.
        let n = self.head.fetch_add(1, Ordering::Relaxed) as u32;
        let i = fastmod(n, self.magic, self.size) as usize;
        let slot = &self.slots[i];
        if slot.load(Ordering::Relaxed) == new {
            return None;
        }
        let old = slot.swap(new, Ordering::Relaxed);
        let delta = weight(new).wrapping_sub(weight(old));
        if delta == 0 {
            return None;
        }
        let prev = self.totals.fetch_add(delta, Ordering::AcqRel);
        Some(decode(prev.wrapping_add(delta), self.size))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        decode(self.totals.load(Ordering::Acquire), self.size)
    }

    /// Forgets every call. Safe while calls are recorded: each slot is
    /// emptied with a swap and its weight taken off the totals, the same
    /// way `record` changes a slot, so the totals always equal the slots.
    pub(crate) fn reset(&self) {
        for slot in self.slots.iter() {
            let old = slot.swap(0, Ordering::Relaxed);
            if old != 0 {
                self.totals.fetch_sub(weight(old), Ordering::AcqRel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_survives_transiently_negative_fields() {
        // failures went to -1 before the matching +1 arrived.
        let packed = 5u64.wrapping_add((-1i64 as u64) << BITS);
        let s = decode(packed, 10);
        assert_eq!((s.calls, s.failures, s.slow), (5, 0, 0));
        let packed = 7u64
            .wrapping_add(3u64 << BITS)
            .wrapping_add((-2i64 as u64) << (2 * BITS));
        let s = decode(packed, 10);
        assert_eq!((s.calls, s.failures, s.slow), (7, 3, 0));
    }

    #[test]
    fn fastmod_matches_the_remainder() {
        for d in [1u64, 2, 3, 7, 100, 1000, 999_999, 1_000_000] {
            let magic = (u64::MAX / d).wrapping_add(1);
            for n in [0u32, 1, 2, 99, 100, 101, 12345, u32::MAX - 1, u32::MAX] {
                assert_eq!(fastmod(n, magic, d), u64::from(n) % d, "{n} % {d}");
            }
        }
    }

    #[test]
    fn evicts_the_oldest_call() {
        let w = CountWindow::new(3);
        assert_eq!(w.record(true, false).unwrap().failures, 1);
        w.record(false, false);
        w.record(false, true);
        assert_eq!(
            w.snapshot(),
            Snapshot {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // The fourth call evicts the first (a failure).
        let s = w.record(false, false).unwrap();
        assert_eq!(
            s,
            Snapshot {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        // Same outcome as the evicted one: nothing changes.
        assert_eq!(w.record(false, false), None);
    }

    #[test]
    fn resets_during_records_keep_totals_equal_to_slots() {
        let w = std::sync::Arc::new(CountWindow::new(50));
        let writers: Vec<_> = (0..3)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u32 {
                        w.record((i + t) % 4 == 0, false);
                    }
                })
            })
            .collect();
        for _ in 0..200 {
            w.reset();
        }
        for t in writers {
            t.join().unwrap();
        }
        // Refill with successes: whatever the races, no failure survives.
        for _ in 0..50 {
            w.record(false, false);
        }
        assert_eq!(
            w.snapshot(),
            Snapshot {
                calls: 50,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn concurrent_records_keep_totals_equal_to_slots() {
        let w = std::sync::Arc::new(CountWindow::new(7));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        w.record((i + t) % 3 == 0, (i * 7 + t) % 5 == 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut expect = Snapshot::default();
        for s in w.slots.iter() {
            let c = s.load(Ordering::Relaxed);
            expect.calls += u64::from(c & PRESENT);
            expect.failures += u64::from((c & FAILED) >> 1);
            expect.slow += u64::from((c & SLOW) >> 2);
        }
        assert_eq!(w.snapshot(), expect);
    }
}

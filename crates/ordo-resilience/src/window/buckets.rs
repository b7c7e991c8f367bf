//! Counters over a sliding span of time, in buckets that roll over by
//! themselves, with atomics only.
//!
//! The span is cut in `n` buckets of equal length. Time is counted in
//! bucket periods since an origin (the *epoch* of an instant); epoch `e`
//! lives in bucket `e % n`. Each bucket is one 64-bit word: a tag (the low
//! bits of the epoch it holds) and `F` saturating counters. A writer that
//! finds a stale tag replaces the whole word, with a fresh tag and its own
//! counts, in the same compare-and-swap that adds to a current one: there is
//! no separate "roll" step to race with.
//!
//! The tag alone cannot tell a bucket written one cycle of tags ago from a
//! current one, so each bucket also keeps the full epoch it was last rolled
//! to; readers use it to discard buckets older than the span. It is written
//! right after the tag, so for a moment a reader may skip the newest
//! bucket's first call: the windows are statistics, and this bias is one
//! call at a bucket boundary.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

/// The most buckets a window may have (tags must outnumber buckets).
pub(crate) const MAX_BUCKETS: u32 = 256;

#[derive(Debug)]
struct Bucket {
    word: AtomicU64,
    epoch: AtomicU64,
}

/// `F` counters (1 to 3) over the last `n` bucket periods.
#[derive(Debug)]
pub(crate) struct Buckets<const F: usize> {
    origin: Instant,
    period_nanos: u64,
    buckets: Box<[Bucket]>,
}

impl<const F: usize> Buckets<F> {
    const TAG_BITS: u32 = 10;
    const FIELD_BITS: u32 = (64 - Self::TAG_BITS) / F as u32;
    const FIELD_MAX: u64 = (1 << Self::FIELD_BITS) - 1;
    const TAG_MASK: u64 = (1 << Self::TAG_BITS) - 1;
    const TAG_SHIFT: u32 = 64 - Self::TAG_BITS;

    /// `n` buckets (`1..=MAX_BUCKETS`) of `period` each, starting at `origin`.
    pub(crate) fn new(origin: Instant, period: std::time::Duration, n: u32) -> Self {
        debug_assert!((1..=MAX_BUCKETS).contains(&n));
        debug_assert!((1..=3).contains(&F));
        let period_nanos = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1);
        Buckets {
            origin,
            period_nanos,
            buckets: (0..n)
                .map(|_| Bucket {
                    word: AtomicU64::new(0),
                    epoch: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// The largest count one bucket can hold; further adds saturate.
    #[cfg(test)]
    pub(crate) const fn bucket_capacity() -> u64 {
        Self::FIELD_MAX
    }

    #[inline]
    fn epoch(&self, now: Instant) -> u64 {
        // In u64 (584 years of nanoseconds): a 128-bit division costs a
        // library call on every recorded call.
        let nanos = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        nanos / self.period_nanos
    }

    #[inline]
    fn field(word: u64, i: usize) -> u64 {
        (word >> (i as u32 * Self::FIELD_BITS)) & Self::FIELD_MAX
    }

    #[inline]
    fn pack(tag: u64, fields: [u64; F]) -> u64 {
        let mut w = (tag & Self::TAG_MASK) << Self::TAG_SHIFT;
        for (i, v) in fields.iter().enumerate() {
            w |= (*v).min(Self::FIELD_MAX) << (i as u32 * Self::FIELD_BITS);
        }
        w
    }

    /// Adds `delta` to the bucket of `now`.
    #[inline]
    pub(crate) fn add(&self, now: Instant, delta: [u64; F]) {
        let e = self.epoch(now);
        let n = self.buckets.len() as u64;
        let bucket = &self.buckets[(e % n) as usize];
        let tag = e & Self::TAG_MASK;
        let mut cur = bucket.word.load(Ordering::Relaxed);
        loop {
            let cur_tag = cur >> Self::TAG_SHIFT;
            // A bucket already rolled to a later epoch (this thread was slow
            // to get here) takes the late call rather than being rolled
            // back.
            let rolled_to = bucket.epoch.load(Ordering::Acquire);
            // A different tag means another epoch, unless the bucket was
            // already rolled past this one (a slow thread). The same tag a
            // full tag cycle later is another epoch too.
            let rolled = if cur_tag == tag {
                e.saturating_sub(rolled_to) > Self::TAG_MASK
            } else {
                rolled_to <= e
            };
            let mut fields = [0u64; F];
            for (i, f) in fields.iter_mut().enumerate() {
                let base = if rolled { 0 } else { Self::field(cur, i) };
                *f = base.saturating_add(delta[i]);
            }
            let next = Self::pack(if rolled { tag } else { cur_tag }, fields);
            match bucket
                .word
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if rolled {
                        bucket.epoch.fetch_max(e, Ordering::Release);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// The sums of each counter over the span ending at `now`.
    pub(crate) fn sum(&self, now: Instant) -> [u64; F] {
        let e_now = self.epoch(now);
        let n = self.buckets.len() as u64;
        let mut out = [0u64; F];
        for (i, bucket) in self.buckets.iter().enumerate() {
            // The epoch this bucket should hold if it is inside the span.
            let Some(since) = e_now.checked_sub(i as u64) else {
                continue;
            };
            let expected = e_now - since % n;
            let w = bucket.word.load(Ordering::Acquire);
            if w >> Self::TAG_SHIFT != expected & Self::TAG_MASK {
                continue;
            }
            let rolled_to = bucket.epoch.load(Ordering::Acquire);
            // A full tag cycle ago, or more: stale, whatever the tag says.
            if expected.saturating_sub(rolled_to) > Self::TAG_MASK {
                continue;
            }
            for (j, o) in out.iter_mut().enumerate() {
                *o += Self::field(w, j);
            }
        }
        out
    }

    /// Forgets every count. The epochs the buckets were rolled to stay, so
    /// a call recorded meanwhile rolls its bucket as usual.
    pub(crate) fn reset(&self) {
        for b in self.buckets.iter() {
            b.word.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn counts_expire_after_the_span() {
        let origin = Instant::now();
        let w: Buckets<2> = Buckets::new(origin, Duration::from_secs(1), 10);
        w.add(Instant::now(), [1, 0]);
        tokio::time::advance(Duration::from_millis(4500)).await;
        w.add(Instant::now(), [2, 1]);
        assert_eq!(w.sum(Instant::now()), [3, 1]);
        // The first add (epoch 0) leaves the span at epoch 10.
        tokio::time::advance(Duration::from_millis(5600)).await;
        assert_eq!(w.sum(Instant::now()), [2, 1]);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(w.sum(Instant::now()), [0, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_one_tag_cycle_old_is_not_read_as_current() {
        let origin = Instant::now();
        let w: Buckets<1> = Buckets::new(origin, Duration::from_millis(1), 4);
        w.add(Instant::now(), [5]);
        // Exactly 1024 epochs later the tag of bucket 0 matches again.
        tokio::time::advance(Duration::from_millis(1024)).await;
        assert_eq!(w.sum(Instant::now()), [0]);
        w.add(Instant::now(), [1]);
        assert_eq!(w.sum(Instant::now()), [1]);
    }

    #[tokio::test(start_paused = true)]
    async fn saturates_instead_of_overflowing() {
        let w: Buckets<3> = Buckets::new(Instant::now(), Duration::from_secs(1), 1);
        let cap = Buckets::<3>::bucket_capacity();
        w.add(Instant::now(), [cap, 1, 0]);
        w.add(Instant::now(), [5, 1, 0]);
        assert_eq!(w.sum(Instant::now()), [cap, 2, 0]);
    }
}

//! The circuit's state machine, shared by every clone of a breaker service.
//!
//! One 64-bit word holds the state and a generation that every transition
//! increments. A call's permit remembers the word it was admitted under, so
//! an outcome arriving after the circuit moved on (a slow call admitted
//! before a trip) is dropped instead of polluting the new state's counts.
//!
//! In the closed state, admission is one atomic load; recording is the
//! window's work (see [`crate::window`]) plus one load of the state word.
//! Neither takes a lock or allocates. Transitions are compare-and-swaps of
//! the state word, and only the thread that wins one writes the new state's
//! data (open deadline, ramp start). That data is stamped with the low bits
//! of the generation it belongs to, so a reader that sees the new state
//! before its data knows to wait, and a thread that lost the race never
//! overwrites the winner's. Half-open bookkeeping is a word tagged the same
//! way, cleared when the probes end.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::config::{CircuitBreakerConfig, SlidingWindow};
use super::{CircuitOpen, CircuitState};
use crate::classify::Outcome;
use crate::events::EventKind;
use crate::padded::Padded;
use crate::telemetry::Telemetry;
use crate::window::{Buckets, CountWindow, Snapshot};

// Internal state codes. `PROBING` and `RAMPING` are both half-open.
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const PROBING: u64 = 2;
const FORCED_OPEN: u64 = 3;
const DISABLED: u64 = 4;
const METRICS_ONLY: u64 = 5;
const RAMPING: u64 = 6;

#[inline]
fn code(word: u64) -> u64 {
    word & 0xff
}

const MS_MASK: u64 = (1 << 48) - 1;

/// A time in milliseconds since the origin, for the generation `tag`.
fn stamped(tag: u64, ms: u64) -> u64 {
    tag << 48 | (ms & MS_MASK)
}

/// The time in a stamp, if it belongs to generation `tag`.
fn stamp_for(word: u64, tag: u64) -> Option<u64> {
    (word >> 48 == tag).then_some(word & MS_MASK)
}

#[inline]
fn generation_tag(word: u64) -> u64 {
    (word >> 8) & 0xffff
}

fn public(code: u64) -> CircuitState {
    match code {
        CLOSED => CircuitState::Closed,
        OPEN => CircuitState::Open,
        PROBING | RAMPING => CircuitState::HalfOpen,
        FORCED_OPEN => CircuitState::ForcedOpen,
        DISABLED => CircuitState::Disabled,
        _ => CircuitState::MetricsOnly,
    }
}

// The probe word: [tag:16 | admitted:12 | done:12 | failed:12 | slow:12].
#[derive(Clone, Copy, Default)]
struct Probes {
    admitted: u64,
    done: u64,
    failed: u64,
    slow: u64,
}

impl Probes {
    fn unpack(word: u64, tag: u64) -> Probes {
        if word >> 48 != tag {
            return Probes::default();
        }
        Probes {
            admitted: (word >> 36) & 0xfff,
            done: (word >> 24) & 0xfff,
            failed: (word >> 12) & 0xfff,
            slow: word & 0xfff,
        }
    }

    fn pack(self, tag: u64) -> u64 {
        tag << 48 | self.admitted << 36 | self.done << 24 | self.failed << 12 | self.slow
    }
}

// Boxed variants would cost a pointer chase on every recorded call; the
// window is built once per circuit, so its size does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Window {
    Count(CountWindow),
    Time(Buckets<3>),
    Consecutive(Padded<AtomicU32>, u32),
}

/// What a call was admitted under: the state word, and for a probe the
/// stamp it left in its slot (zero otherwise). Two words, so it travels in
/// registers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Permit {
    word: u64,
    stamp: u64,
}

impl Permit {
    #[inline]
    pub(crate) fn is_probe(&self) -> bool {
        self.stamp != 0
    }

    /// Marks the call's outcome as recorded: nothing is left to give back.
    #[inline]
    pub(crate) fn finish(&mut self) {
        self.stamp = 0;
    }
}

pub(crate) enum Admission {
    Granted(Permit),
    Rejected(CircuitOpen),
    /// The state changed under us: look again.
    Again,
}

#[derive(Debug)]
pub(crate) struct Circuit {
    state: Padded<AtomicU64>,
    window: Window,
    /// When the open wait ends: a stamp (see [`stamped`]).
    open_until: AtomicU64,
    trips: AtomicU32,
    probes: AtomicU64,
    probe_slots: Box<[AtomicU64]>,
    /// When the ramp started: a stamp.
    ramp_start: AtomicU64,
    ramp_seq: AtomicU64,
    ramp_permille: Box<[u64]>,
    config: CircuitBreakerConfig,
    origin: Instant,
    pub(crate) telemetry: Telemetry,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Circuit {
    pub(crate) fn new(config: CircuitBreakerConfig, telemetry: Telemetry) -> Circuit {
        let origin = Instant::now();
        let window = match config.window {
            SlidingWindow::Count { size } => Window::Count(CountWindow::new(size)),
            SlidingWindow::Time { length, buckets } => {
                Window::Time(Buckets::new(origin, length / buckets, buckets))
            }
            SlidingWindow::ConsecutiveFailures { failures } => {
                Window::Consecutive(Padded(AtomicU32::new(0)), failures)
            }
        };
        if let Some(m) = telemetry.metrics() {
            m.set_circuit_state(CircuitState::Closed);
        }
        Circuit {
            state: Padded(AtomicU64::new(CLOSED)),
            window,
            open_until: AtomicU64::new(0),
            trips: AtomicU32::new(0),
            probes: AtomicU64::new(0),
            probe_slots: (0..config.half_open.permitted_calls)
                .map(|_| AtomicU64::new(0))
                .collect(),
            ramp_start: AtomicU64::new(0),
            ramp_seq: AtomicU64::new(0),
            ramp_permille: config
                .half_open
                .ramp
                .iter()
                .map(|s| (s * 1000.0).round().clamp(1.0, 999.0) as u64)
                .collect(),
            config,
            origin,
            telemetry,
        }
    }

    pub(crate) fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// True when calls must be timed to detect slow ones.
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.config.slow_calls.is_some()
    }

    fn since_origin(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.origin))
    }

    pub(crate) fn state(&self) -> CircuitState {
        public(code(self.state.load(Ordering::Acquire)))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        match &self.window {
            Window::Count(w) => w.snapshot(),
            Window::Time(b) => {
                let [calls, failures, slow] = b.sum(Instant::now());
                Snapshot {
                    calls,
                    failures,
                    slow,
                }
            }
            Window::Consecutive(c, _) => {
                let n = u64::from(c.load(Ordering::Relaxed));
                Snapshot {
                    calls: n,
                    failures: n,
                    slow: 0,
                }
            }
        }
    }

    /// The rejection the next call would get from an open circuit, without
    /// admitting or changing anything (for `poll_ready`: an open circuit
    /// should not wait on inner services' capacity before rejecting).
    #[inline]
    pub(crate) fn peek_rejection(&self) -> Option<CircuitOpen> {
        let word = self.state.load(Ordering::Acquire);
        match code(word) {
            FORCED_OPEN => Some(CircuitOpen::forced()),
            OPEN => self.open_rejection(word),
            _ => None,
        }
    }

    /// For an open circuit: the rejection while its wait lasts.
    #[cold]
    fn open_rejection(&self, word: u64) -> Option<CircuitOpen> {
        let Some(until_ms) = stamp_for(
            self.open_until.load(Ordering::Acquire),
            generation_tag(word),
        ) else {
            // The thread that opened the circuit has not written the
            // deadline yet: the wait has only just begun.
            return Some(CircuitOpen::waiting(self.config.open_wait.initial));
        };
        let elapsed = self.since_origin(Instant::now());
        let until = until_ms.saturating_mul(1_000_000);
        (elapsed < until).then(|| CircuitOpen::waiting(Duration::from_nanos(until - elapsed)))
    }

    /// Counts a rejection decided elsewhere (in `poll_ready`).
    pub(crate) fn rejected(&self) {
        self.telemetry.emit(EventKind::Rejected {
            reason: crate::ErrorKind::CircuitOpen,
        });
    }

    /// Admits a call or says why not.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<Permit, CircuitOpen> {
        loop {
            let word = self.state.load(Ordering::Acquire);
            let admission = match code(word) {
                CLOSED | METRICS_ONLY | DISABLED => return Ok(Permit { word, stamp: 0 }),
                _ => self.admit_slow_path(word),
            };
            match admission {
                Admission::Granted(p) => return Ok(p),
                Admission::Rejected(e) => {
                    self.rejected();
                    return Err(e);
                }
                Admission::Again => continue,
            }
        }
    }

    #[cold]
    fn admit_slow_path(&self, word: u64) -> Admission {
        match code(word) {
            FORCED_OPEN => Admission::Rejected(CircuitOpen::forced()),
            OPEN => {
                if let Some(open) = self.open_rejection(word) {
                    return Admission::Rejected(open);
                }
                self.transition(word, PROBING);
                Admission::Again
            }
            PROBING => self.admit_probe(word),
            RAMPING => self.admit_ramp(word),
            _ => Admission::Again,
        }
    }

    fn admit_probe(&self, word: u64) -> Admission {
        let tag = generation_tag(word);
        let permitted = u64::from(self.config.half_open.permitted_calls);
        let mut cur = self.probes.load(Ordering::Acquire);
        loop {
            let mut p = Probes::unpack(cur, tag);
            if p.admitted >= permitted {
                break;
            }
            p.admitted += 1;
            match self.probes.compare_exchange_weak(
                cur,
                p.pack(tag),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Admission::Granted(self.claim_probe_slot(word, tag)),
                Err(actual) => cur = actual,
            }
        }
        // Every permit is out. A probe past its deadline gives its permit
        // back as a failure, which may end the probe stage.
        if self.expire_probes(word, tag) {
            Admission::Again
        } else {
            Admission::Rejected(CircuitOpen::probes_busy())
        }
    }

    fn claim_probe_slot(&self, word: u64, tag: u64) -> Permit {
        let start_ms = self.since_origin(Instant::now()) / 1_000_000 + 1;
        let stamp = tag << 48 | (start_ms & ((1 << 48) - 1));
        for slot in self.probe_slots.iter() {
            let v = slot.load(Ordering::Acquire);
            if (v == 0 || v >> 48 != tag)
                && slot
                    .compare_exchange(v, stamp, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                return Permit { word, stamp };
            }
        }
        // Admitted probes never outnumber slots, so this is only reached if
        // a stale probe of this generation still holds one: run untracked.
        Permit { word, stamp: 0 }
    }

    fn expire_probes(&self, word: u64, tag: u64) -> bool {
        let deadline_ms =
            u64::try_from(self.config.half_open.probe_deadline.as_millis()).unwrap_or(u64::MAX);
        let now_ms = self.since_origin(Instant::now()) / 1_000_000 + 1;
        let mut expired = false;
        for slot in self.probe_slots.iter() {
            let v = slot.load(Ordering::Acquire);
            if v == 0 || v >> 48 != tag {
                continue;
            }
            let start_ms = v & ((1 << 48) - 1);
            if now_ms.saturating_sub(start_ms) < deadline_ms {
                continue;
            }
            if slot
                .compare_exchange(v, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                expired = true;
                self.telemetry.emit(EventKind::ProbeExpired);
                self.count_probe(word, tag, true, false);
            }
        }
        expired
    }

    fn admit_ramp(&self, word: u64) -> Admission {
        let step_nanos = nanos(self.config.half_open.ramp_step).max(1);
        // Before the ramp's start is written, the ramp is at its first step.
        let elapsed = stamp_for(
            self.ramp_start.load(Ordering::Acquire),
            generation_tag(word),
        )
        .map_or(0, |start_ms| {
            self.since_origin(Instant::now())
                .saturating_sub(start_ms.saturating_mul(1_000_000))
        });
        let step = (elapsed / step_nanos) as usize;
        let Some(&permille) = self.ramp_permille.get(step) else {
            // The ramp is over: close, keeping what the ramp recorded.
            self.transition(word, CLOSED);
            return Admission::Again;
        };
        let n = self.ramp_seq.fetch_add(1, Ordering::Relaxed);
        // Admit calls n for which floor(n * share) steps up: an even spread.
        if (n + 1) * permille / 1000 > n * permille / 1000 {
            Admission::Granted(Permit { word, stamp: 0 })
        } else {
            Admission::Rejected(CircuitOpen::ramping())
        }
    }

    /// Records a finished call.
    #[inline]
    pub(crate) fn on_result(
        &self,
        permit: &Permit,
        outcome: Outcome,
        slow: bool,
        now: Option<Instant>,
    ) {
        if outcome == Outcome::Ignored {
            self.on_cancel(permit);
            return;
        }
        let failed = outcome == Outcome::Failure;
        match code(permit.word) {
            CLOSED | RAMPING | METRICS_ONLY => self.record(permit.word, failed, slow, now),
            PROBING if self.release_probe_slot(permit) => {
                self.count_probe(permit.word, generation_tag(permit.word), failed, slow);
            }
            _ => {}
        }
    }

    #[inline]
    fn record(&self, word: u64, failed: bool, slow: bool, now: Option<Instant>) {
        // An outcome from before the last transition belongs to a window
        // that no longer exists.
        if self.state.load(Ordering::Relaxed) != word {
            return;
        }
        let exceeded = match &self.window {
            Window::Count(w) => match w.record(failed, slow) {
                None => false,
                Some(s) => self
                    .config
                    .exceeded(&s, u64::from(self.config.minimum_calls)),
            },
            Window::Time(b) => {
                let now = now.unwrap_or_else(Instant::now);
                b.add(now, [1, u64::from(failed), u64::from(slow)]);
                // A success cannot raise a rate; only bad calls re-judge.
                if failed || slow {
                    let [calls, failures, slow] = b.sum(now);
                    let s = Snapshot {
                        calls,
                        failures,
                        slow,
                    };
                    self.config
                        .exceeded(&s, u64::from(self.config.minimum_calls))
                } else {
                    false
                }
            }
            Window::Consecutive(run, threshold) => {
                if failed || slow {
                    run.fetch_add(1, Ordering::AcqRel) + 1 >= *threshold
                } else {
                    if run.load(Ordering::Relaxed) != 0 {
                        run.store(0, Ordering::Release);
                    }
                    false
                }
            }
        };
        if exceeded && code(word) != METRICS_ONLY {
            self.transition(word, OPEN);
        }
    }

    fn count_probe(&self, word: u64, tag: u64, failed: bool, slow: bool) {
        let permitted = u64::from(self.config.half_open.permitted_calls);
        let mut cur = self.probes.load(Ordering::Acquire);
        loop {
            if cur >> 48 != tag {
                return;
            }
            let mut p = Probes::unpack(cur, tag);
            p.done += 1;
            p.failed += u64::from(failed);
            p.slow += u64::from(slow);
            match self.probes.compare_exchange_weak(
                cur,
                p.pack(tag),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // Judge once, and only while these probes' state lasts
                    // (a circuit closed by hand meanwhile is not reopened).
                    if p.done == permitted && self.state.load(Ordering::Acquire) == word {
                        self.judge_probes(word, p);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    fn judge_probes(&self, word: u64, p: Probes) {
        let failed = match self.window {
            Window::Consecutive(..) => p.failed > 0 || p.slow > 0,
            _ => self.config.exceeded(
                &Snapshot {
                    calls: p.done,
                    failures: p.failed,
                    slow: p.slow,
                },
                1,
            ),
        };
        let next = if failed {
            OPEN
        } else if self.ramp_permille.is_empty() {
            CLOSED
        } else {
            RAMPING
        };
        self.transition(word, next);
    }

    /// A call ended without an outcome (dropped, or ignored): give back a
    /// probe's permit so another call can take it.
    pub(crate) fn on_cancel(&self, permit: &Permit) {
        if !self.release_probe_slot(permit) {
            return;
        }
        let tag = generation_tag(permit.word);
        let _ = self
            .probes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                if cur >> 48 != tag {
                    return None;
                }
                let mut p = Probes::unpack(cur, tag);
                p.admitted = p.admitted.saturating_sub(1);
                Some(p.pack(tag))
            });
    }

    /// Frees the probe's slot; false if it was not a probe, or its slot was
    /// already reclaimed by the deadline.
    fn release_probe_slot(&self, permit: &Permit) -> bool {
        permit.stamp != 0
            && self.probe_slots.iter().any(|slot| {
                slot.compare_exchange(permit.stamp, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })
    }

    /// Moves from `from` (the exact word) to state `to`. Returns false if
    /// another thread moved first.
    pub(crate) fn transition(&self, from: u64, to: u64) -> bool {
        // Closing after a ramp keeps what the ramp recorded; every other
        // entry into a recording state starts from an empty window.
        let fresh =
            matches!(to, CLOSED | RAMPING | METRICS_ONLY) && (to, code(from)) != (CLOSED, RAMPING);
        self.transition_with(from, to, fresh)
    }

    fn transition_with(&self, from: u64, to: u64, fresh_window: bool) -> bool {
        let window_idle = matches!(code(from), OPEN | PROBING | FORCED_OPEN | DISABLED);
        // Nothing records into an idle window, so it is emptied before the
        // new state is published: the new state's first calls find it
        // empty. Only while `from` is current: a late attempt that is about
        // to lose the race must not empty a window in use.
        if fresh_window && window_idle && self.state.load(Ordering::Acquire) == from {
            self.reset_window();
        }
        let next = ((from >> 8).wrapping_add(1) << 8) | to;
        if self
            .state
            .compare_exchange(from, next, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // Only the winner writes the new state's data, stamped with its
        // generation.
        let tag = generation_tag(next);
        let now_ns = self.since_origin(Instant::now());
        match to {
            OPEN => {
                let trip = self.trips.fetch_add(1, Ordering::AcqRel).saturating_add(1);
                let wait = nanos(self.config.open_wait.after_trip(trip));
                let until_ms = now_ns.saturating_add(wait).div_ceil(1_000_000);
                self.open_until
                    .store(stamped(tag, until_ms), Ordering::Release);
            }
            RAMPING => {
                self.ramp_seq.store(0, Ordering::Relaxed);
                self.ramp_start
                    .store(stamped(tag, now_ns / 1_000_000), Ordering::Release);
            }
            CLOSED => self.trips.store(0, Ordering::Release),
            _ => {}
        }
        // A window in use (closed or metrics-only, changed by hand) is
        // emptied once the new state is out.
        if fresh_window && !window_idle {
            self.reset_window();
        }
        if code(from) == PROBING {
            // The probes are over: their bookkeeping must not be inherited
            // by a later half-open period whose generation has the same tag.
            self.probes.store(0, Ordering::Release);
            for slot in self.probe_slots.iter() {
                slot.store(0, Ordering::Release);
            }
        }
        let (pf, pt) = (public(code(from)), public(to));
        if pf != pt {
            self.telemetry
                .emit(EventKind::CircuitTransition { from: pf, to: pt });
        }
        true
    }

    fn reset_window(&self) {
        match &self.window {
            Window::Count(w) => w.reset(),
            Window::Time(b) => b.reset(),
            Window::Consecutive(run, _) => run.store(0, Ordering::Release),
        }
    }

    /// Moves to `to` from whatever state the circuit is in (by hand).
    pub(crate) fn force(&self, to: CircuitState) {
        let to = match to {
            CircuitState::Closed => CLOSED,
            CircuitState::Open => OPEN,
            CircuitState::HalfOpen => PROBING,
            CircuitState::ForcedOpen => FORCED_OPEN,
            CircuitState::Disabled => DISABLED,
            CircuitState::MetricsOnly => METRICS_ONLY,
        };
        // By hand, closing or going metrics-only always starts afresh.
        let fresh = matches!(to, CLOSED | METRICS_ONLY);
        loop {
            let from = self.state.load(Ordering::Acquire);
            if self.transition_with(from, to, fresh) {
                return;
            }
        }
    }
}

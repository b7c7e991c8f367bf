//! The halt lock: a global halt removes every fault and every toxic, and
//! refuses new ones until it is lifted (`PUT` and `DELETE /faults/halt`,
//! the Chaos Monkey's `halt` and `resume`).
//!
//! Why a lock and not only `DELETE /faults`? A halt is what an operator
//! reaches for when an experiment hurts; if any script, CLI lease or
//! scheduled experiment may add a fault a moment later, the halt did not
//! hold. So the halt is state, kept with the fault store (a config reload
//! keeps it), and every way of adding a fault checks it:
//!
//! - faults added through the API check it under the lock that a halt
//!   takes, so an add racing a halt either lands before it (and the halt
//!   removes it) or sees it (and is refused): no fault is left once the
//!   halt returns;
//! - toxics check the flag under their proxy's toxic list lock, which the
//!   halt takes after raising the flag, to the same effect;
//! - faults and toxics declared in config are not applied while halted.
//!
//! The data path does not read it: a halted proxy simply has no faults.
//! Envoy's fault headers, which a request brings with it, are the one
//! exception: they are ignored while halted, for one atomic load on the
//! requests that carry them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Who halted fault injection, why, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Halt {
    /// Who asked (the caller's word: a user, `chaos-monkey`).
    pub(crate) by: Option<String>,
    /// Why.
    pub(crate) reason: Option<String>,
    /// When the halt began (the first `PUT`; later ones keep it).
    pub(crate) since: SystemTime,
}

impl Halt {
    /// `by` or a stand-in, for messages.
    pub(crate) fn who(&self) -> &str {
        self.by.as_deref().unwrap_or("an unnamed caller")
    }

    /// The halt's start in RFC 3339, UTC, with milliseconds.
    pub(crate) fn since_rfc3339(&self) -> String {
        humantime::format_rfc3339_millis(self.since).to_string()
    }

    /// Why an addition is refused: who halted, since when, why, and how to
    /// lift it.
    pub(crate) fn refusal(&self, what: &str) -> String {
        let reason = self
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        format!(
            "fault injection is halted (by {} since {}{reason}); no {what} can be added until \
             the halt is lifted with `DELETE /faults/halt`",
            self.who(),
            self.since_rfc3339(),
        )
    }
}

/// Whether fault injection is halted, and by whom.
#[derive(Debug, Default)]
pub(crate) struct HaltLock {
    /// Mirrors `state.is_some()`, for readers that must not take the lock.
    halted: AtomicBool,
    /// Held while a fault is checked and added, so no add slips past a halt.
    state: Mutex<Option<Halt>>,
}

impl HaltLock {
    /// Whether halted, without the lock (toxics check it under their own
    /// lock; see the module's docs).
    #[inline]
    pub(crate) fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// The halt in force, if any.
    pub(crate) fn current(&self) -> Option<Halt> {
        self.lock().clone()
    }

    /// Runs `f` with the halt in force (if any), holding the lock: a halt
    /// waits for `f`, and `f` sees any halt that returned before it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(Option<&Halt>) -> R) -> R {
        let state = self.lock();
        f(state.as_ref())
    }

    /// Halts (keeping the halt in force if there is one: its `since`, `by`
    /// and `reason` stand) and runs `clear` under the lock; the halt in
    /// force and what `clear` returned.
    pub(crate) fn engage<R>(&self, halt: Halt, clear: impl FnOnce() -> R) -> (Halt, R) {
        let mut state = self.lock();
        let current = state.get_or_insert(halt).clone();
        self.halted.store(true, Ordering::SeqCst);
        (current, clear())
    }

    /// Lifts the halt and runs `then` under the lock; the halt that was in
    /// force.
    pub(crate) fn lift(&self, then: impl FnOnce()) -> Option<Halt> {
        let mut state = self.lock();
        self.halted.store(false, Ordering::SeqCst);
        then();
        state.take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Halt>> {
        // The state is one assignment: a panic cannot leave it half-done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn halt(by: &str, secs: u64) -> Halt {
        Halt {
            by: Some(by.to_owned()),
            reason: None,
            since: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_second_halt_keeps_the_first_and_lifting_is_idempotent() {
        let lock = HaltLock::default();
        assert!(!lock.is_halted());
        let (h, cleared) = lock.engage(halt("alice", 1), || 3);
        assert_eq!((h.who(), cleared), ("alice", 3));
        let (h, _) = lock.engage(halt("bob", 2), || 0);
        assert_eq!(h, halt("alice", 1), "the first halt stands");
        assert!(lock.is_halted());
        assert_eq!(lock.lift(|| ()), Some(halt("alice", 1)));
        assert_eq!(lock.lift(|| ()), None);
        assert!(!lock.is_halted());
        assert_eq!(lock.current(), None);
    }

    #[test]
    fn the_refusal_names_who_since_why_and_how_to_lift() {
        let mut h = halt("chaos-monkey", 1_700_000_000);
        h.reason = Some("checkout SLO burning".to_owned());
        let m = h.refusal("fault");
        for part in [
            "by chaos-monkey",
            "since 2023-11-14T22:13:20.000Z",
            ": checkout SLO burning",
            "no fault can be added",
            "`DELETE /faults/halt`",
        ] {
            assert!(m.contains(part), "{part} missing from {m}");
        }
    }
}

//! A gate for crash tests, shared by the emulators: it holds the request that carries the
//! k-th mutating call from now until the test decides whether that call reaches the server
//! ([`Release::Apply`]) or is lost on the way ([`Release::Drop`]), so a test can kill the
//! client at exactly that point.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What becomes of a request held at the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Answer 503 without applying anything, as if the request never reached the service.
    /// It is still logged and counted as a mutating request, like an injected fault.
    Drop,
    /// Process it as if it had never been held.
    Apply,
}

/// How long a released request may take to be handled.
const HANDLING_TIMEOUT: Duration = Duration::from_secs(60);

/// A request through the gate: its decision, and (for a request that was held) the ticket
/// marked finished when the handler drops it.
pub(crate) struct Passage<'a> {
    gate: &'a Gate,
    ticket: Option<u64>,
    pub decision: Release,
}

impl Drop for Passage<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            let mut state = self.gate.lock();
            state.finished.push(ticket);
            self.gate.changed.notify_all();
        }
    }
}

/// Counts mutating calls as they arrive and holds the one that reaches the armed count.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Mutating calls seen so far, held ones included.
    seen: usize,
    /// The value of `seen` whose request is to be held.
    target: Option<usize>,
    /// Tickets of held requests, oldest first.
    held: VecDeque<u64>,
    /// (ticket, decision) for held requests that were released but have not woken yet.
    decided: Vec<(u64, Release)>,
    /// Tickets of released requests whose handling has finished (their [`Passage`] dropped).
    finished: Vec<u64>,
    next_ticket: u64,
    /// The emulator is going away: nothing is held any more.
    closed: bool,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds the request carrying the `k`-th mutating call from now (`k` = 1: the next one).
    /// Arming again replaces a target not yet reached. Panics if `k` is 0.
    pub fn arm(&self, k: usize) {
        assert!(k > 0, "block_mutating_at counts from 1");
        let mut state = self.lock();
        state.target = Some(state.seen + k);
    }

    /// Called once per HTTP request with the number of mutating calls it carries (a batch may
    /// carry several): returns at once, or holds the request until it is released. The
    /// handler keeps the passage until it has handled the request.
    pub fn pass(&self, calls: usize) -> Passage<'_> {
        let decision = self.decide(calls);
        Passage {
            gate: self,
            ticket: decision.1,
            decision: decision.0,
        }
    }

    fn decide(&self, calls: usize) -> (Release, Option<u64>) {
        let mut state = self.lock();
        let before = state.seen;
        state.seen += calls;
        let hit = state.target.is_some_and(|t| before < t && t <= state.seen);
        if !hit || state.closed {
            return (Release::Apply, None);
        }
        state.target = None;
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.held.push_back(ticket);
        self.changed.notify_all();
        loop {
            if let Some(i) = state.decided.iter().position(|(t, _)| *t == ticket) {
                let (_, decision) = state.decided.remove(i);
                return (decision, Some(ticket));
            }
            if state.closed {
                state.held.retain(|t| *t != ticket);
                return (Release::Drop, None);
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until a request is held; false if none is within `timeout`.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.held.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }

    /// Lets the oldest held request go as `decision` and disarms a target not yet reached.
    /// Returns whether a request was held.
    /// Returns once the request has been handled (applied or answered 503): a test that
    /// runs the next command right after must not race a late apply of the held one.
    pub fn release(&self, decision: Release) -> bool {
        let mut state = self.lock();
        state.target = None;
        let Some(ticket) = state.held.pop_front() else {
            return false;
        };
        state.decided.push((ticket, decision));
        self.changed.notify_all();
        let deadline = Instant::now() + HANDLING_TIMEOUT;
        while !state.finished.contains(&ticket) && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the released request was not handled in time"
            );
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        state.finished.retain(|t| *t != ticket);
        true
    }

    /// Drops every held request and holds nothing from now on (the emulator is stopping).
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.target = None;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn holds_the_request_carrying_the_kth_call_until_released() {
        let gate = Arc::new(Gate::default());
        assert_eq!(gate.pass(1).decision, Release::Apply);
        gate.arm(3);
        assert_eq!(gate.pass(0).decision, Release::Apply);
        assert_eq!(gate.pass(1).decision, Release::Apply);
        assert!(!gate.wait_held(Duration::from_millis(10)));
        // A batch of three calls carries the 3rd one from the arming.
        let held = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.pass(3).decision)
        };
        assert!(gate.wait_held(Duration::from_secs(5)));
        assert!(gate.release(Release::Drop));
        assert_eq!(held.join().ok(), Some(Release::Drop));
        assert!(!gate.release(Release::Apply), "nothing is held any more");
        assert_eq!(gate.pass(1).decision, Release::Apply, "the gate fires once");
    }

    #[test]
    fn release_returns_once_the_held_request_was_handled() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let gate = Arc::new(Gate::default());
        let handled = Arc::new(AtomicBool::new(false));
        gate.arm(1);
        let held = {
            let (gate, handled) = (gate.clone(), handled.clone());
            std::thread::spawn(move || {
                let passage = gate.pass(1);
                // A slow handler: the release must not return before it is done.
                std::thread::sleep(Duration::from_millis(200));
                handled.store(true, Ordering::SeqCst);
                passage.decision
            })
        };
        assert!(gate.wait_held(Duration::from_secs(5)));
        assert!(gate.release(Release::Apply));
        assert!(
            handled.load(Ordering::SeqCst),
            "release returned before the handling"
        );
        assert_eq!(held.join().ok(), Some(Release::Apply));
    }

    #[test]
    fn closing_lets_held_requests_go_and_holds_nothing_more() {
        let gate = Arc::new(Gate::default());
        gate.arm(1);
        let held = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.pass(1).decision)
        };
        assert!(gate.wait_held(Duration::from_secs(5)));
        gate.close();
        assert_eq!(held.join().ok(), Some(Release::Drop));
        gate.arm(1);
        assert_eq!(gate.pass(1).decision, Release::Apply);
    }
}

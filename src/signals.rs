//! SIGINT and SIGTERM: stop the CLI processes esk is running, release the cluster lock, say
//! what the run had done and that a re-run resumes, and exit 130 / 143. The process ends from
//! the handler's thread; the main thread is parked at its next call so it prints nothing more.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::exit;

static STOPPING: AtomicBool = AtomicBool::new(false);

/// What the handler asks of the layers above it, which register it (`main` does) so that this
/// module, which the process runner below them reads, imports none of them.
#[derive(Clone, Copy)]
pub struct OnStop {
    /// Kills the running CLI processes; how many there were.
    pub kill_children: fn() -> usize,
    /// Releases the cluster lock if this run holds it; whether it did.
    pub release_lock: fn() -> bool,
    /// What the run has done so far, in one line.
    pub progress: fn() -> String,
}

static ON_STOP: OnceLock<OnStop> = OnceLock::new();

thread_local! {
    static HANDLER: Cell<bool> = const { Cell::new(false) };
}

/// Starts the handler thread. Without it the default action applies (the process dies with
/// its lock held until the lease expires or a run on this machine sees the pid gone).
pub fn install(on_stop: OnStop) {
    let _ = ON_STOP.set(on_stop);
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        let mut forever = signals.forever();
        if let Some(signal) = forever.next() {
            std::thread::spawn(move || {
                HANDLER.with(|h| h.set(true));
                stop(signal)
            });
        }
        // A second interrupt while the first is being handled ends esk at once.
        if let Some(signal) = forever.next() {
            std::process::exit(code_of(signal).1);
        }
    });
}

/// Whether the calling thread must stop because the process is being interrupted (the
/// handler's own thread never is).
pub fn must_stop() -> bool {
    STOPPING.load(Ordering::SeqCst) && !HANDLER.with(Cell::get)
}

/// Parks the calling thread for good if an interrupt is being handled.
pub fn park_if_stopping() {
    while must_stop() {
        std::thread::park();
    }
}

fn code_of(signal: i32) -> (&'static str, i32) {
    if signal == SIGINT {
        ("SIGINT", exit::INTERRUPTED)
    } else {
        ("SIGTERM", exit::TERMINATED)
    }
}

fn stop(signal: i32) -> ! {
    // Set before the children are killed: `children::start` reads it under the same lock
    // `kill_all` takes, so no process starts after the kill.
    STOPPING.store(true, Ordering::SeqCst);
    let (name, code) = code_of(signal);
    let on_stop = ON_STOP.get();
    let stopped = on_stop.map_or(0, |o| (o.kill_children)());
    let released = on_stop.is_some_and(|o| (o.release_lock)());
    let progress = on_stop.map_or_else(String::new, |o| (o.progress)());
    let mut parts = vec![format!("done so far: {progress}")];
    if stopped > 0 {
        parts.push(format!("stopped {stopped} running call(s)"));
    }
    if released {
        parts.push("released the cluster lock".into());
    }
    eprintln!(
        "esk: interrupted by {name}; {}; re-running the same command resumes",
        parts.join("; ")
    );
    std::process::exit(code)
}

//! What the user sees while esk works: a spinner per step on a terminal, plain lines
//! otherwise, nothing but errors and the summary with -q.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct Reporter {
    verbosity: Verbosity,
    fancy: bool,
}

impl Reporter {
    pub fn new(verbosity: Verbosity) -> Reporter {
        let fancy = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Reporter { verbosity, fancy }
    }

    /// Whether live progress (spinners, bars) may be drawn on stderr.
    pub fn live(&self) -> bool {
        self.fancy && self.verbosity == Verbosity::Normal
    }

    /// A line of information (stderr, so stdout stays for plans and manifests).
    pub fn info(&self, msg: &str) {
        if self.verbosity != Verbosity::Quiet {
            eprintln!("{msg}");
        }
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("{msg}");
    }

    /// Runs one step, showing it as running and then done with its duration.
    pub fn step<T>(&self, label: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let started = Instant::now();
        let bar = (self.fancy && self.verbosity == Verbosity::Normal).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        let result = f();
        let secs = started.elapsed().as_secs_f64();
        let outcome = if result.is_ok() { "done" } else { "failed" };
        let line = format!("{label}: {outcome} ({secs:.1}s)");
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        self.info(&line);
        result
    }
}

//! Running the cloud and cluster CLIs: always an argument vector (duct), never a shell.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use super::retry::last_line;
use super::retry::{self, Failure};
use crate::error::Refused;

pub use crate::parallel::parallel_map;

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// A CLI found on PATH.
#[derive(Clone, Debug)]
pub struct Tool {
    pub name: &'static str,
    path: PathBuf,
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl Tool {
    /// Finds `name` on PATH, or says in one line what to install.
    pub fn find(name: &'static str, install: &str) -> Result<Tool, Refused> {
        which::which(name)
            .map(|path| Tool { name, path })
            .map_err(|_| Refused::new(format!("{name} not found on PATH: install {install}")))
    }

    /// Runs with `args` (and `stdin` if given), whatever the exit code. A call that has not
    /// finished within the call timeout is killed and reported as such (a hung connection
    /// must not hang esk; the caller decides whether the call is safe to repeat).
    pub fn run(&self, args: &[String], stdin: Option<&str>) -> Result<Output> {
        if VERBOSE.load(Ordering::Relaxed) {
            eprintln!("+ {} {}", self.name, shown(args));
        }
        let mut expr = duct::cmd(&self.path, args)
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        expr = match stdin {
            Some(text) => expr.stdin_bytes(text.as_bytes().to_vec()),
            None => expr.stdin_null(),
        };
        let (id, handle) = children::start(&expr)
            .with_context(|| format!("could not run {}", self.path.display()))?;
        let timeout = call_timeout();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let watched = handle.clone();
        let watchdog = std::thread::spawn(move || {
            let timed_out = matches!(
                finished.recv_timeout(timeout),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
            if timed_out {
                let _ = watched.kill();
            }
            timed_out
        });
        let waited = handle.wait().map(|o| Output {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        });
        let _ = done.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        children::remove(id);
        // Killed by the interrupt handler: say nothing more, the handler ends the process.
        crate::signals::park_if_stopping();
        let mut out = waited.with_context(|| format!("could not run {}", self.path.display()))?;
        // A call that finished just as its time ran out keeps its answer.
        if timed_out && !out.success() {
            out.code = None;
            out.stderr.push_str(&format!(
                "\nesk: no answer within {}s; the call was stopped (ESK_CALL_TIMEOUT sets the limit)",
                timeout.as_secs()
            ));
        }
        Ok(out)
    }

    /// `run_ok` for a call that is safe to repeat: transient failures (throttling, 5xx,
    /// timeouts, refused connections) are tried again with backoff, up to
    /// [`Tool::attempts`] times; anything else fails at once with the CLI's message.
    pub fn run_retry(&self, args: &[String], stdin: Option<&str>) -> Result<String> {
        let out = self.run_with_retries(args, stdin, transient)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.failure(args, &out))
        }
    }

    /// Runs, and runs again with backoff while `retry_this(&output)` says the failure may
    /// pass, up to [`Tool::attempts`] tries; returns the last output, whatever it is.
    pub fn run_with_retries(
        &self,
        args: &[String],
        stdin: Option<&str>,
        retry_this: impl Fn(&Output) -> bool,
    ) -> Result<Output> {
        let mut attempt = 1;
        loop {
            let out = self.run(args, stdin)?;
            if attempt >= self.attempts() || !retry_this(&out) {
                return Ok(out);
            }
            retry_note(self.name, attempt, &out.stderr);
            std::thread::sleep(retry::delay(attempt));
            attempt += 1;
        }
    }

    /// How many tries esk gives a transient failure of this CLI. The aws CLI already makes 5
    /// attempts of its own at throttling and 5xx (legacy retry mode), so esk adds only one
    /// more round instead of multiplying them.
    pub fn attempts(&self) -> u32 {
        if self.name == "aws" {
            2
        } else {
            retry::ATTEMPTS
        }
    }

    /// Starts a long-running command (stdout discarded, stderr kept for its error).
    pub fn spawn(&self, args: &[String]) -> Result<duct::Handle> {
        if VERBOSE.load(Ordering::Relaxed) {
            eprintln!("+ {} {}", self.name, shown(args));
        }
        duct::cmd(&self.path, args)
            .stdin_null()
            .stdout_null()
            .stderr_capture()
            .unchecked()
            .start()
            .with_context(|| format!("could not run {}", self.path.display()))
    }

    /// Runs until the command ends (no call timeout: a followed log stream lasts as long as
    /// it lasts), handing each line of its stdout to `each` as it comes; stderr is kept for
    /// the error. An interrupt stops it like any other call.
    pub fn stream_lines(&self, args: &[String], mut each: impl FnMut(&str)) -> Result<Output> {
        use std::io::BufRead;
        if VERBOSE.load(Ordering::Relaxed) {
            eprintln!("+ {} {}", self.name, shown(args));
        }
        let expr = duct::cmd(&self.path, args)
            .stdin_null()
            .stderr_capture()
            .unchecked();
        let (id, reader) = children::start_reader(&expr)
            .with_context(|| format!("could not run {}", self.path.display()))?;
        let mut lines = std::io::BufReader::new(&*reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => each(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n'])),
            }
        }
        let ended = reader.try_wait().ok().flatten().map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        });
        children::remove(id);
        crate::signals::park_if_stopping();
        let (code, stderr) = ended.unwrap_or((None, String::new()));
        Ok(Output {
            code,
            stdout: String::new(),
            stderr,
        })
    }

    /// Runs and returns stdout, or an error carrying the command and its stderr.
    pub fn run_ok(&self, args: &[String], stdin: Option<&str>) -> Result<String> {
        let out = self.run(args, stdin)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.failure(args, &out))
        }
    }

    pub fn failure(&self, args: &[String], out: &Output) -> anyhow::Error {
        let code = out
            .code
            .map_or("a signal".to_string(), |c| format!("exit {c}"));
        anyhow!(
            "`{} {}` failed ({code}):\n{}",
            self.name,
            shown(args),
            out.stderr.trim_end()
        )
    }
}

/// Whether a finished call failed in a way another try may not (see [`retry::classify`]).
pub fn transient(out: &Output) -> bool {
    !out.success() && retry::classify(&out.stderr) == Failure::Transient
}

/// How long one CLI call may take (`ESK_CALL_TIMEOUT` seconds, default 300: a disk create
/// waits for its operation, a foreground delete for its pods).
fn call_timeout() -> Duration {
    let secs = std::env::var("ESK_CALL_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Says on stderr that a call is being retried, with the first line of why.
pub fn retry_note(tool: &str, attempt: u32, stderr: &str) {
    let why = last_line(stderr).unwrap_or("no message");
    eprintln!("retrying {tool} (try {}): {why}", attempt + 1);
}

/// The CLI processes running now, so an interrupted esk can stop them before it exits.
pub mod children {
    use std::sync::{Arc, Mutex};

    /// A running CLI: one whose output is captured, or one whose stdout is read as it comes.
    enum Child {
        Captured(Arc<duct::Handle>),
        Read(Arc<duct::ReaderHandle>),
    }

    static RUNNING: Mutex<Vec<(u64, Child)>> = Mutex::new(Vec::new());
    static NEXT: Mutex<u64> = Mutex::new(0);

    /// Starts `expr` and registers it in one step under the registry's lock, so that an
    /// interrupt (which kills everything registered under the same lock) can never miss a
    /// process; once an interrupt is being handled, no new process starts.
    pub(super) fn start(expr: &duct::Expression) -> std::io::Result<(u64, Arc<duct::Handle>)> {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if crate::signals::must_stop() {
            drop(running);
            crate::signals::park_if_stopping();
            return Err(std::io::Error::other("esk is being interrupted"));
        }
        let handle = Arc::new(expr.start()?);
        let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        running.push((*next, Child::Captured(handle.clone())));
        Ok((*next, handle))
    }

    /// [`start`] for a command whose stdout is read as it comes.
    pub(super) fn start_reader(
        expr: &duct::Expression,
    ) -> std::io::Result<(u64, Arc<duct::ReaderHandle>)> {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if crate::signals::must_stop() {
            drop(running);
            crate::signals::park_if_stopping();
            return Err(std::io::Error::other("esk is being interrupted"));
        }
        let handle = Arc::new(expr.reader()?);
        let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        running.push((*next, Child::Read(handle.clone())));
        Ok((*next, handle))
    }

    pub(super) fn remove(id: u64) {
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(i, _)| *i != id);
    }

    /// Kills every running CLI process; returns how many there were.
    pub fn kill_all() -> usize {
        let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, child) in &running {
            let _ = match child {
                Child::Captured(h) => h.kill(),
                Child::Read(h) => h.kill(),
            };
        }
        running.len()
    }
}

/// The command line as a reader would type it (for messages only; never executed).
fn shown(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '\'', '"', '\n', '(', ')', '~', '$', '*']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Strings from string literals, for building argument vectors tersely.
pub fn args<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tools_are_named_with_what_to_install() {
        let err = Tool::find("esk-no-such-tool", "the thing").unwrap_err();
        assert_eq!(
            err.to_string(),
            "esk-no-such-tool not found on PATH: install the thing"
        );
    }

    #[test]
    fn parallel_map_keeps_order() {
        let out = parallel_map(&[1, 2, 3, 4, 5], 2, |x| x * 10);
        assert_eq!(out, vec![10, 20, 30, 40, 50]);
    }
}

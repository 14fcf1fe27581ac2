//! Running the cloud and cluster CLIs: always an argument vector (duct), never a shell.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, Context, Result};

use crate::error::Refused;

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

    /// Runs with `args` (and `stdin` if given), whatever the exit code.
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
        let out = expr
            .run()
            .with_context(|| format!("could not run {}", self.path.display()))?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
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

/// Runs `f` over `items` with at most `limit` at a time, keeping the input order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let limit = limit.max(1);
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(limit) {
        let results: Vec<R> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|item| s.spawn(|| f(item))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        out.extend(results);
    }
    out
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

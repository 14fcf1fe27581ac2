//! Errors that decide the exit code. Everything else is an `anyhow::Error` and exits 1.

use std::fmt;

/// Exit codes, documented in README.md.
pub mod exit {
    /// A cloud or kubectl call failed; what was done is listed and a re-run resumes.
    pub const FAILED: i32 = 1;
    /// Invalid input or usage; nothing was changed.
    pub const USAGE: i32 = 2;
    /// A safety rule or a missing prerequisite stopped esk before any change.
    pub const REFUSED: i32 = 3;
    /// Another run holds the cluster lock (and did not let go within --lock-timeout).
    pub const LOCKED: i32 = 4;
    /// Stopped by SIGINT / SIGTERM (128 + the signal), after releasing the lock.
    pub const INTERRUPTED: i32 = 130;
    pub const TERMINATED: i32 = 143;
    /// `esk lint` found at least one error.
    pub const LINT_ERRORS: i32 = 5;
    /// `esk doctor` found a failing check.
    pub const DOCTOR: i32 = 6;
    /// `esk status`: a leader and quorum, but not every node is well (also a --wait timeout).
    pub const DEGRADED: i32 = 10;
    /// `esk status`: no leader, no quorum, or two leaders (also a --wait timeout).
    pub const DOWN: i32 = 11;
    /// No such cluster.
    pub const NOT_FOUND: i32 = 12;
}

/// `esk doctor` printed its report and some checks failed: exit code 6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksFailed(pub usize);

impl fmt::Display for ChecksFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} check(s) failed", self.0)
    }
}

impl std::error::Error for ChecksFailed {}

/// Bad input: a one-line message, exit code 2, and no side effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(String);

impl UsageError {
    pub fn new(msg: impl Into<String>) -> UsageError {
        UsageError(one_line(msg.into()))
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// esk declined to go on (a safety rule, a missing tool, no confirmation): exit code 3, nothing
/// changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(String);

impl Refused {
    pub fn new(msg: impl Into<String>) -> Refused {
        Refused(one_line(msg.into()))
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Another run holds the cluster's lock: exit code 4, nothing changed by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHeld(String);

impl LockHeld {
    pub fn new(msg: impl Into<String>) -> LockHeld {
        LockHeld(one_line(msg.into()))
    }
}

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LockHeld {}
/// `esk lint` found errors (already printed): exit code 5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintErrors(usize);

impl LintErrors {
    pub fn new(errors: usize) -> LintErrors {
        LintErrors(errors)
    }
}

impl fmt::Display for LintErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lint found {} error(s)", self.0)
    }
}

impl std::error::Error for LintErrors {}
/// The cluster is not healthy (or not there): exit 10, 11 or 12 with a one-line summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy {
    pub code: i32,
    message: String,
}

impl Unhealthy {
    pub fn new(code: i32, msg: impl Into<String>) -> Unhealthy {
        Unhealthy {
            code,
            message: msg.into(),
        }
    }
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Unhealthy {}

/// Keeps user-supplied text from breaking the one-line error contract.
fn one_line(msg: String) -> String {
    if msg.contains(['\n', '\r']) {
        msg.replace('\r', "\\r").replace('\n', "\\n")
    } else {
        msg
    }
}

/// The exit code for an error that reached `main`.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        exit::USAGE
    } else if err.downcast_ref::<Refused>().is_some() {
        exit::REFUSED
    } else if err.downcast_ref::<LockHeld>().is_some() {
        exit::LOCKED
    } else if err.downcast_ref::<LintErrors>().is_some() {
        exit::LINT_ERRORS
    } else if err.downcast_ref::<ChecksFailed>().is_some() {
        exit::DOCTOR
    } else if let Some(u) = err.downcast_ref::<Unhealthy>() {
        u.code
    } else {
        exit::FAILED
    }
}

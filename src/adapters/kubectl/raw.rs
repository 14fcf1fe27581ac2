//! Raw requests to the API server (`kubectl … --raw PATH`), for the lock's compare-and-swap
//! calls, which need the server's own answer rather than kubectl's.

use anyhow::Result;

use super::Kubectl;
use crate::adapters::process::{args, transient};

/// The raw verbs: GET, POST, PUT, DELETE.
#[derive(Clone, Copy, Debug)]
pub enum RawVerb {
    Get,
    Create,
    Replace,
    Delete,
}

impl RawVerb {
    fn as_str(self) -> &'static str {
        match self {
            RawVerb::Get => "get",
            RawVerb::Create => "create",
            RawVerb::Replace => "replace",
            RawVerb::Delete => "delete",
        }
    }
}

/// How the API server answered a raw request.
#[derive(Debug, PartialEq, Eq)]
pub enum RawAnswer {
    /// 2xx, with the body.
    Ok(String),
    AlreadyExists,
    /// A stale resourceVersion: someone else changed the object first.
    Conflict,
    /// The object (or its namespace) does not exist; the server's message.
    NotFound(String),
}

impl Kubectl {
    /// One raw request to the API server (`kubectl get|create|replace|delete --raw PATH`, the
    /// body on stdin): the lock's compare-and-swap calls, which need the server's own answer
    /// (a create that finds the object, a replace or delete whose resourceVersion is stale).
    pub fn raw(&self, verb: RawVerb, path: &str, body: Option<&str>) -> Result<RawAnswer> {
        let mut a = self.base();
        a.push(verb.as_str().to_string());
        a.push(format!("--raw={path}"));
        if body.is_some() {
            a.extend(args(["-f", "-"]));
        }
        // The server's own answers (exists, stale, missing) are never retried.
        let answered = |o: &crate::adapters::process::Output| {
            ["(AlreadyExists)", "(Conflict)", "(NotFound)"]
                .iter()
                .any(|r| o.stderr.contains(r))
        };
        let out = self
            .tool
            .run_with_retries(&a, body, |o| transient(o) && !answered(o))?;
        if out.success() {
            return Ok(RawAnswer::Ok(out.stdout));
        }
        let reason = ["AlreadyExists", "Conflict", "NotFound"]
            .into_iter()
            .find(|r| out.stderr.contains(&format!("({r})")));
        Ok(match reason {
            Some("AlreadyExists") => RawAnswer::AlreadyExists,
            Some("Conflict") => RawAnswer::Conflict,
            Some(_) => RawAnswer::NotFound(out.stderr.trim().to_string()),
            None => return Err(self.tool.failure(&a, &out)),
        })
    }
}

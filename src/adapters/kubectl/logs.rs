//! `kubectl logs --timestamps` of one pod: read once, or followed line by line.

use anyhow::Result;

use super::{first_line, Kubectl};
use crate::adapters::process::transient;

/// Which lines of a pod's log to read.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    /// The previous (terminated) container's log instead of the running one's.
    pub previous: bool,
    /// Only lines newer than this duration (`--since`, e.g. `10m`).
    pub since: Option<String>,
    /// Only lines written at or after this time (RFC 3339; `--since-time`).
    pub since_time: Option<String>,
    /// Only the last N lines.
    pub tail: Option<u32>,
}

impl Kubectl {
    fn log_args(&self, pod: &str, query: &LogQuery, follow: bool) -> Vec<String> {
        let mut a = self.base();
        a.extend(["logs".to_string(), pod.to_string(), "--timestamps".into()]);
        if query.previous {
            a.push("--previous".into());
        }
        if let Some(d) = &query.since {
            a.push(format!("--since={d}"));
        }
        if let Some(t) = &query.since_time {
            a.push(format!("--since-time={t}"));
        }
        if let Some(n) = query.tail {
            a.push(format!("--tail={n}"));
        }
        if follow {
            a.push("--follow".into());
        }
        a
    }

    /// The pod's log lines, each starting with its RFC 3339 time; `Err` with kubectl's
    /// message in one line when it refuses (no previous container, a pod not started yet).
    pub fn logs(&self, pod: &str, query: &LogQuery) -> Result<Result<String, String>> {
        let a = self.log_args(pod, query, false);
        let out = self.tool.run_with_retries(&a, None, transient)?;
        Ok(if out.success() {
            Ok(out.stdout)
        } else {
            Err(first_line(&out.stderr))
        })
    }

    /// Follows the pod's log (`--follow`), handing each line (with its time) to `each` as it
    /// comes, until the stream ends: the container stopped or the pod went. `Err` with
    /// kubectl's message when it refused.
    pub fn follow_logs(
        &self,
        pod: &str,
        query: &LogQuery,
        each: impl FnMut(&str),
    ) -> Result<Result<(), String>> {
        let out = self
            .tool
            .stream_lines(&self.log_args(pod, query, true), each)?;
        Ok(if out.success() {
            Ok(())
        } else {
            Err(first_line(&out.stderr))
        })
    }
}

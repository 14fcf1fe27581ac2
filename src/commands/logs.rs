//! `esk logs [--node I] [-f] [--previous] [--since D] [--timestamps]`: every node's log
//! (`kubectl logs --timestamps`, one call per node pod, in parallel), merged in the order the
//! container runtime stamped the lines, each line prefixed with its node. `-f` prints what is
//! there, then follows each node, and after a node's stream ends (its container stopped, its
//! pod was replaced) follows the node's current pod from the last line printed.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::existing::{found, open};
use crate::adapters::kubectl::{Kubectl, LogQuery};
use crate::adapters::process::{args, parallel_map};
use crate::cli::{Global, LogsArgs};
use crate::error::UsageError;
use crate::health::{self, clock, observe};
use crate::manifest::NODE_LABEL;
use crate::names::selector_string;
use crate::spec::Spec;

/// Node logs read at once.
const CONCURRENCY: usize = 16;
/// How long a follower waits before looking for the node's pod again after its stream ended.
const FOLLOW_PAUSE: Duration = Duration::from_millis(1000);

/// One member whose log is read: its name (`es-2`), its label value and its current pod.
#[derive(Clone, Debug)]
struct Source {
    name: String,
    member: String,
    pod: Option<String>,
}

pub(super) fn node_number(raw: &str) -> Result<u8, UsageError> {
    raw.parse::<u8>()
        .ok()
        .filter(|i| (1..=crate::domain::MAX_NODES).contains(i))
        .ok_or_else(|| {
            UsageError::new(format!(
                "--node takes a node number from 1 to 99, got \"{}\"",
                raw.escape_debug()
            ))
        })
}

/// `--since`: what kubectl passes on as a Go duration, limited to whole h/m/s parts (`1h30m`).
fn since_duration(raw: &str) -> Result<String, UsageError> {
    let mut digits = 0;
    let mut parts = 0;
    for b in raw.bytes() {
        match b {
            b'0'..=b'9' if digits < 9 => digits += 1,
            b'h' | b'm' | b's' if digits > 0 => {
                digits = 0;
                parts += 1;
            }
            _ => parts = usize::MAX,
        }
        if parts == usize::MAX {
            break;
        }
    }
    if digits == 0 && (1..=3).contains(&parts) {
        Ok(raw.to_string())
    } else {
        Err(UsageError::new(format!(
            "--since takes a duration such as 30s, 10m, 2h or 1h30m, got \"{}\"",
            raw.escape_debug()
        )))
    }
}

/// A log line's runtime stamp (`2024-05-01T12:00:00.123456789Z`) as (seconds, nanoseconds).
fn stamp_key(stamp: &str) -> Option<(i64, u32)> {
    let secs = clock::parse_rfc3339(stamp)?;
    let nanos = match stamp.split_once('.') {
        Some((_, rest)) => {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let padded: String = digits.chars().chain("000000000".chars()).take(9).collect();
            padded.parse().ok()?
        }
        None => 0,
    };
    Some((secs, nanos))
}

/// A `--timestamps` line split into its stamp's key, the stamp and the text.
fn split_line(line: &str) -> Option<((i64, u32), &str, &str)> {
    let (stamp, text) = line.split_once(' ').unwrap_or((line, ""));
    Some((stamp_key(stamp)?, stamp, text))
}

/// How a line is printed: `es-2 | text`, the node names padded to one width.
fn prefixed(name: &str, width: usize, stamp: &str, text: &str, timestamps: bool) -> String {
    if timestamps {
        format!("{name:<width$} | {stamp} {text}")
    } else {
        format!("{name:<width$} | {text}")
    }
}

/// Every node's `--timestamps` output merged in time order (stable: equal times keep the
/// nodes' order and each node's own order). A line without a stamp continues the one
/// before it (a message that spanned lines).
fn merge(logs: &[(String, String)], timestamps: bool) -> Vec<String> {
    let width = logs.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut lines = Vec::new();
    for (node, (name, text)) in logs.iter().enumerate() {
        let mut key = (i64::MIN, 0);
        for (seq, line) in text.lines().enumerate() {
            let (stamp, body) = match split_line(line) {
                Some((k, stamp, body)) => {
                    key = k;
                    (stamp, body)
                }
                None => ("", line),
            };
            lines.push((
                key,
                node,
                seq,
                prefixed(name, width, stamp, body, timestamps),
            ));
        }
    }
    lines.sort_by_key(|l| (l.0, l.1, l.2));
    lines.into_iter().map(|(_, _, _, l)| l).collect()
}

/// The members to read, from one look at the cluster: every voting node and read-only
/// replica, or only `--node I`.
fn sources(spec: &Spec, obs: &health::Observation, only: Option<u8>) -> Result<Vec<Source>> {
    let h = health::assess(spec, obs, clock::now());
    let all: Vec<Source> = h
        .nodes
        .iter()
        .filter(|n| only.is_none_or(|i| !n.read_only_replica && n.index == i))
        .map(|n| Source {
            name: n.name.clone(),
            member: if n.read_only_replica {
                format!("r{}", n.index)
            } else {
                n.index.to_string()
            },
            pod: n.pod.as_ref().map(|p| p.name.clone()),
        })
        .collect();
    if let (Some(i), true) = (only, all.is_empty()) {
        return Err(UsageError::new(format!(
            "cluster {} has no node {i} (it has nodes 1 to {})",
            spec.name,
            spec.nodes.get()
        ))
        .into());
    }
    Ok(all)
}

pub(super) fn run(g: &Global, a: &LogsArgs) -> Result<()> {
    let only = a.node.as_deref().map(node_number).transpose()?;
    let since = a.since.as_deref().map(since_duration).transpose()?;
    let (base, kubectl, _) = open(g)?;
    let obs = observe::read_objects(&kubectl, &base)?;
    let spec = found(g, base, &obs)?;
    let sources = sources(&spec, &obs, only)?;
    let query = LogQuery {
        previous: a.previous,
        since,
        ..LogQuery::default()
    };
    let read = parallel_map(&sources, CONCURRENCY, |s| match &s.pod {
        None => Ok(Err("no pod".to_string())),
        Some(pod) => kubectl.logs(pod, &query),
    });
    let mut logs = Vec::new();
    for (source, result) in sources.iter().zip(read) {
        match result? {
            Ok(text) => logs.push((source.name.clone(), text)),
            Err(why) => eprintln!("esk: no log from {}: {why}", source.name),
        }
    }
    let mut out = std::io::stdout().lock();
    for line in merge(&logs, a.timestamps) {
        writeln!(out, "{line}").context("writing the logs")?;
    }
    drop(out);
    if !a.follow {
        return Ok(());
    }
    let width = sources.iter().map(|s| s.name.len()).max().unwrap_or(0);
    std::thread::scope(|scope| {
        for source in &sources {
            let last = logs
                .iter()
                .find(|(n, _)| *n == source.name)
                .map(|(_, text)| Last::of(text))
                .unwrap_or_default();
            let (kubectl, spec) = (&kubectl, &spec);
            scope.spawn(move || follow(kubectl, spec, source, width, last, a.timestamps));
        }
    });
    Ok(())
}

/// Where a follower is: the key of the last line printed and how many lines had that key
/// (asking again `--since-time` that moment returns them again).
#[derive(Clone, Debug, Default)]
struct Last {
    key: Option<(i64, u32)>,
    stamp: String,
    seen_at_key: usize,
}

impl Last {
    /// Where printing `text` (a node's `--timestamps` output) left a follower.
    fn of(text: &str) -> Last {
        let mut last = Last::default();
        for (key, stamp, _) in text.lines().filter_map(split_line) {
            if last.key == Some(key) {
                last.seen_at_key += 1;
            } else if last.key.is_none_or(|k| key > k) {
                last = Last {
                    key: Some(key),
                    stamp: stamp.to_string(),
                    seen_at_key: 1,
                };
            }
        }
        last
    }
}

/// The node's current pod: the newest of its pods that is not being deleted.
fn current_pod(kubectl: &Kubectl, spec: &Spec, member: &str) -> Option<String> {
    let selector = format!("{},{NODE_LABEL}={member}", selector_string(spec));
    let list = kubectl.get_json(&args(["pods", "-l", &selector])).ok()?;
    let meta = |p: &Value, key: &str| p["metadata"][key].as_str().unwrap_or("").to_string();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .max_by_key(|p| {
            (
                clock::parse_rfc3339(&meta(p, "creationTimestamp")),
                meta(p, "name"),
            )
        })
        .map(|p| meta(p, "name"))
}

/// Follows one node until the process is interrupted.
fn follow(kubectl: &Kubectl, spec: &Spec, source: &Source, width: usize, last: Last, ts: bool) {
    let mut last = last;
    loop {
        if let Some(pod) = current_pod(kubectl, spec, &source.member) {
            let query = LogQuery {
                since_time: last.key.map(|_| last.stamp.clone()),
                ..LogQuery::default()
            };
            // Lines seen again at the last moment printed are dropped; a line at that same
            // moment that was not printed yet may be dropped too (the runtime's stamps are
            // nanoseconds, so two lines rarely share one).
            let mut replayed = last.seen_at_key;
            let _ = kubectl.follow_logs(&pod, &query, |line| {
                if let Some((key, stamp, text)) = split_line(line) {
                    if last.key == Some(key) && replayed > 0 {
                        replayed -= 1;
                        return;
                    }
                    if last.key.is_some_and(|k| key < k) {
                        return;
                    }
                    if last.key != Some(key) {
                        last.key = Some(key);
                        last.stamp = stamp.to_string();
                        last.seen_at_key = 0;
                        replayed = 0;
                    }
                    last.seen_at_key += 1;
                    println!("{}", prefixed(&source.name, width, stamp, text, ts));
                } else {
                    println!("{}", prefixed(&source.name, width, "", line, ts));
                }
            });
        }
        std::thread::sleep(FOLLOW_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_three_nodes_merge_in_time_order_with_their_prefix() {
        let logs = vec![
            (
                "es-1".to_string(),
                "2026-01-01T10:00:00.5Z a1\n2026-01-01T10:00:03Z a2\n".to_string(),
            ),
            ("es-2".to_string(), "2026-01-01T10:00:01Z b1\n".to_string()),
            (
                "es-10".to_string(),
                "2026-01-01T10:00:00.25Z c1\n  continued\n2026-01-01T10:00:02Z c2\n".to_string(),
            ),
        ];
        assert_eq!(
            merge(&logs, false),
            vec![
                "es-10 | c1",
                "es-10 |   continued",
                "es-1  | a1",
                "es-2  | b1",
                "es-10 | c2",
                "es-1  | a2"
            ]
        );
        assert_eq!(merge(&logs, true)[0], "es-10 | 2026-01-01T10:00:00.25Z c1");
    }

    #[test]
    fn durations_are_whole_hours_minutes_and_seconds() {
        for ok in ["30s", "10m", "2h", "1h30m", "1h2m3s"] {
            assert_eq!(since_duration(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "", "10", "m", "1d", "-1m", "1.5h", "1h 2m", "10m;x", "1h2m3s4s",
        ] {
            assert!(since_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_follower_resumes_after_the_last_line_printed() {
        let last =
            Last::of("2026-01-01T10:00:01Z a\n2026-01-01T10:00:02Z b\n2026-01-01T10:00:02Z c\n");
        assert_eq!(last.stamp, "2026-01-01T10:00:02Z");
        assert_eq!(last.seen_at_key, 2);
    }
}

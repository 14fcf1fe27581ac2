//! A pod's logs as the kubelet serves them at `/api/v1/namespaces/NS/pods/NAME/log`, with the
//! options `kubectl logs` sends: `container`, `previous`, `tailLines`, `timestamps`,
//! `sinceSeconds`, `sinceTime` and `follow` (kubelet `pkg/kubelet/kuberuntime/logs`: the tail
//! is found first, then lines written before the `since` bound are skipped).
//!
//! `follow=true` streams, as the kubelet does: the lines so far, then each new line as the
//! test adds it, until the pod is deleted or replaced (its container stopped) or the bed
//! stops ([`follow`]).

use super::kinds::by_kind;
use super::pods::{node_key, str_of};
use super::status::ApiError;
use super::store::Store;
use super::time::unix_now;
use crate::http::{Request, Response};

/// `2024-05-01T12:00:00.5Z` as (seconds, nanoseconds) since the epoch, for ordering.
fn instant(text: &str) -> Option<(i64, u32)> {
    let trimmed = text.trim_end_matches('Z');
    let (whole, nanos) = match trimmed.split_once('.') {
        Some((whole, fraction)) => {
            let digits: String = fraction
                .chars()
                .chain("000000000".chars())
                .take(9)
                .collect();
            (whole.to_string(), digits.parse::<u32>().ok()?)
        }
        None => (trimmed.to_string(), 0),
    };
    Some((super::time::parse_rfc3339(&whole)?, nanos))
}

/// `GET /api/v1/namespaces/NS/pods/NAME/log`, whole (`follow` streams the rest).
pub fn serve_log(store: &Store, req: &Request, ns: &str, name: &str) -> Response {
    match log_lines(store, req, ns, name, false) {
        Ok(lines) => Response::new(200, "text/plain", lines.concat()),
        Err(refused) => refused,
    }
}

/// What a follower has been sent: the pod (by uid) and how many of its lines.
pub struct Followed {
    uid: String,
    sent: usize,
}

/// Starts following: the answer to send first (as without `follow`), and where it left off.
pub fn follow_start(
    store: &Store,
    req: &Request,
    ns: &str,
    name: &str,
) -> (Response, Option<Followed>) {
    let first = serve_log(store, req, ns, name);
    if first.status != 200 {
        return (first, None);
    }
    let info = by_kind("Pod").expect("Pod is served");
    let uid = store
        .get(info, Some(ns), name)
        .map(|p| str_of(p, &["metadata", "uid"]).to_string())
        .unwrap_or_default();
    let sent = log_lines(store, req, ns, name, true).map_or(0, |l| l.len());
    (first, Some(Followed { uid, sent }))
}

/// The lines written since the follower's last look, or `None` once the stream ends: the pod
/// is gone, being deleted or replaced by another of the same name.
pub fn follow_more(
    store: &Store,
    req: &Request,
    ns: &str,
    name: &str,
    followed: &mut Followed,
) -> Option<String> {
    let info = by_kind("Pod").expect("Pod is served");
    let pod = store.get(info, Some(ns), name)?;
    if str_of(pod, &["metadata", "uid"]) != followed.uid
        || !pod["metadata"]["deletionTimestamp"].is_null()
    {
        return None;
    }
    let lines = log_lines(store, req, ns, name, true).ok()?;
    let new = lines.get(followed.sent..).unwrap_or_default().concat();
    followed.sent = followed.sent.max(lines.len());
    Some(new)
}

/// The log's lines as served (each ending in a newline, stamped with `timestamps`); `whole`
/// ignores `tailLines` and the `since` bound (a follower's later lines).
fn log_lines(
    store: &Store,
    req: &Request,
    ns: &str,
    name: &str,
    whole: bool,
) -> Result<Vec<String>, Response> {
    let info = by_kind("Pod").expect("Pod is served");
    let Some(pod) = store.get(info, Some(ns), name) else {
        return Err(ApiError::not_found(info, name).to_response());
    };
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = req
        .query_param("container")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| containers.first().copied().unwrap_or(""));
    if !containers.contains(&container) {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        ))
        .to_response());
    }
    let since_seconds = req.query_param("sinceSeconds");
    let since_time = req.query_param("sinceTime");
    // The API server's validation of PodLogOptions.
    if since_seconds.is_some() && since_time.is_some() {
        return Err(ApiError::bad_request(
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        )
        .to_response());
    }
    let since = match (since_seconds, since_time) {
        (Some(s), _) => match s.parse::<i64>() {
            Ok(s) if s >= 1 => Some((unix_now() - s, 0)),
            _ => {
                return Err(ApiError::bad_request(
                    "sinceSeconds: Invalid value: must be greater than 0",
                )
                .to_response())
            }
        },
        (_, Some(t)) => match instant(t) {
            Some(t) => Some(t),
            None => {
                return Err(
                    ApiError::bad_request(format!("sinceTime: Invalid value: \"{t}\""))
                        .to_response(),
                )
            }
        },
        _ => None,
    };
    let state = store
        .overrides
        .states
        .get(&node_key(pod))
        .cloned()
        .unwrap_or_default();
    if state.unschedulable.is_some() || pod["status"]["podIP"].is_null() {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        ))
        .to_response());
    }
    let created = str_of(pod, &["metadata", "creationTimestamp"]).to_string();
    let previous = req.query_param("previous") == Some("true");
    let (text, times) = if previous {
        match &state.previous_logs {
            // The previous container's lines: written before this pod's container started.
            Some(text) => (text.clone(), Vec::new()),
            None => {
                return Err(ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ))
                .to_response())
            }
        }
    } else {
        (state.logs.clone(), state.log_times.clone())
    };
    let lines: Vec<(&str, String)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            (
                line,
                times.get(i).cloned().unwrap_or_else(|| created.clone()),
            )
        })
        .collect();
    let tail = req
        .query_param("tailLines")
        .and_then(|t| t.parse::<usize>().ok())
        .filter(|_| !whole)
        .unwrap_or(lines.len());
    let since = since.filter(|_| !whole);
    let stamped = req.query_param("timestamps") == Some("true");
    let mut out = Vec::new();
    for (line, time) in &lines[lines.len().saturating_sub(tail)..] {
        if since.is_some_and(|since| instant(time).is_some_and(|t| t < since)) {
            continue;
        }
        out.push(if stamped {
            format!("{time} {line}\n")
        } else {
            format!("{line}\n")
        });
    }
    Ok(out)
}

//! A pod's logs as the kubelet serves them at `/api/v1/namespaces/NS/pods/NAME/log`, with the
//! options `kubectl logs` sends: `container`, `previous`, `tailLines`, `timestamps`,
//! `sinceSeconds`, `sinceTime` and `follow` (kubelet `pkg/kubelet/kuberuntime/logs`: the tail
//! is found first, then lines written before the `since` bound are skipped).
//!
//! `follow=true`: the HTTP server writes whole responses, so the stream ends after the lines
//! written so far, as a real one does when the container stops; a follower that wants more
//! asks again from its last line's time, which works the same against a real kubelet.

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

/// `GET /api/v1/namespaces/NS/pods/NAME/log`.
pub fn serve_log(store: &Store, req: &Request, ns: &str, name: &str) -> Response {
    let info = by_kind("Pod").expect("Pod is served");
    let Some(pod) = store.get(info, Some(ns), name) else {
        return ApiError::not_found(info, name).to_response();
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
        return ApiError::bad_request(format!("container {container} is not valid for pod {name}"))
            .to_response();
    }
    let since_seconds = req.query_param("sinceSeconds");
    let since_time = req.query_param("sinceTime");
    // The API server's validation of PodLogOptions.
    if since_seconds.is_some() && since_time.is_some() {
        return ApiError::bad_request(
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        )
        .to_response();
    }
    let since = match (since_seconds, since_time) {
        (Some(s), _) => match s.parse::<i64>() {
            Ok(s) if s >= 1 => Some((unix_now() - s, 0)),
            _ => {
                return ApiError::bad_request("sinceSeconds: Invalid value: must be greater than 0")
                    .to_response()
            }
        },
        (_, Some(t)) => match instant(t) {
            Some(t) => Some(t),
            None => {
                return ApiError::bad_request(format!("sinceTime: Invalid value: \"{t}\""))
                    .to_response()
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
        return ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        ))
        .to_response();
    }
    let created = str_of(pod, &["metadata", "creationTimestamp"]).to_string();
    let previous = req.query_param("previous") == Some("true");
    let (text, times) = if previous {
        match &state.previous_logs {
            // The previous container's lines: written before this pod's container started.
            Some(text) => (text.clone(), Vec::new()),
            None => {
                return ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ))
                .to_response()
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
        .unwrap_or(lines.len());
    let stamped = req.query_param("timestamps") == Some("true");
    let mut out = String::new();
    for (line, time) in &lines[lines.len().saturating_sub(tail)..] {
        if since.is_some_and(|since| instant(time).is_some_and(|t| t < since)) {
            continue;
        }
        if stamped {
            out.push_str(time);
            out.push(' ');
        }
        out.push_str(line);
        out.push('\n');
    }
    Response::new(200, "text/plain", out)
}

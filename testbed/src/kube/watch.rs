//! `?watch=true`: the changes after a resourceVersion (or the current objects as ADDED when
//! none is given), as newline-delimited watch events. The HTTP server writes whole responses
//! (headers included) at once, so a watch answers as soon as there is something to report,
//! else after a window: short, with a BOOKMARK, for clients that allow bookmarks (kubectl
//! wait, rollout status: they stop only once the pending watch answers), else just over a
//! second, with nothing (client-go warns about a "very short watch" that ends sooner with no
//! events). Clients then watch again from where they were, as after any closed watch.

use super::route::parse_route;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::Store;
use crate::http::{Request, Response};
use serde_json::{json, Value};
use std::time::Duration;

/// How long one watch response waits for a change.
pub fn window(req: &Request) -> Duration {
    let asked = req
        .query_param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::MAX, Duration::from_secs);
    let ours = if bookmarks_allowed(req) {
        Duration::from_millis(250)
    } else {
        Duration::from_millis(1100)
    };
    asked.min(ours)
}

fn bookmarks_allowed(req: &Request) -> bool {
    req.query_param("allowWatchBookmarks") == Some("true")
}

/// What to send when the window closes without events: a BOOKMARK at the current revision
/// when the client allows them, else nothing.
pub fn idle(store: &Store, req: &Request) -> Vec<Value> {
    let Ok(route) = parse_route(&req.path) else {
        return Vec::new();
    };
    if !bookmarks_allowed(req) {
        return Vec::new();
    }
    vec![json!({
        "type": "BOOKMARK",
        "object": {
            "kind": route.info.kind,
            "apiVersion": route.info.api_version(),
            "metadata": {"resourceVersion": store.revision().to_string()}
        }
    })]
}

pub fn is_watch(req: &Request) -> bool {
    req.method == "GET"
        && req
            .query_param("watch")
            .is_some_and(|w| w == "true" || w == "1")
}

/// The events to send now (empty: nothing yet).
pub fn poll(store: &Store, req: &Request) -> Result<Vec<Value>, ApiError> {
    let route = parse_route(&req.path)?;
    let labels = LabelSelector::parse(req.query_param("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(req.query_param("fieldSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let ns = route.namespace.as_deref();
    let wanted = |object: &Value| {
        object["kind"] == route.info.kind
            && ns.is_none_or(|ns| object["metadata"]["namespace"] == ns)
            && route
                .name
                .as_deref()
                .is_none_or(|name| object["metadata"]["name"] == name)
            && labels.matches(object["metadata"]["labels"].as_object())
            && fields.matches(object)
    };
    let since = req.query_param("resourceVersion").unwrap_or("");
    if since.is_empty() || since == "0" {
        return Ok(store
            .list(route.info, ns)
            .filter(|o| wanted(o))
            .map(|o| json!({"type": "ADDED", "object": o}))
            .collect());
    }
    let revision: u64 = since
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {since}")))?;
    let Some(events) = store.events_since(revision) else {
        let gone = ApiError::new(
            410,
            "Expired",
            format!(
                "too old resource version: {revision} ({})",
                store.revision()
            ),
        );
        return Ok(vec![json!({"type": "ERROR", "object": gone.to_value()})]);
    };
    Ok(events
        .filter(|e| wanted(&e.object))
        .map(|e| json!({"type": e.kind, "object": e.object}))
        .collect())
}

pub fn response(events: &[Value]) -> Response {
    let mut body = String::new();
    for event in events {
        body.push_str(&event.to_string());
        body.push('\n');
    }
    Response::new(200, "application/json", body)
}

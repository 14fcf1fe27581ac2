//! Non-apply patches on a stored object: JSON merge patch (RFC 7386), strategic merge patch
//! (treated as a merge patch; its `$` directives are refused), and JSON patch (RFC 6902).

use super::status::ApiError;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
}

impl PatchKind {
    /// The patch kind of a Content-Type, if it is one.
    pub fn from_media(media: &str) -> Option<PatchKind> {
        match media {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/json-patch+json" => Some(PatchKind::Json),
            _ => None,
        }
    }
}

/// Applies the request body `body` as a `kind` patch to `target`.
pub fn apply_patch(kind: PatchKind, target: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    match kind {
        PatchKind::Merge | PatchKind::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            if kind == PatchKind::Strategic && has_directives(&patch) {
                return Err(ApiError::unsupported_media(
                    "application/strategic-merge-patch+json",
                    "strategic merge patch directives ($patch, $setElementOrder, ...) are not \
                     emulated; use server-side apply or a merge patch",
                ));
            }
            merge(target, &patch);
            Ok(())
        }
        PatchKind::Json => {
            let ops = patch
                .as_array()
                .ok_or_else(|| ApiError::bad_request("a JSON patch must be an array"))?;
            ops.iter().try_for_each(|op| json_patch_op(target, op))
        }
    }
}

/// RFC 7386: objects merge key by key, `null` deletes, everything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn has_directives(patch: &Value) -> bool {
    match patch {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.starts_with('$') || has_directives(v)),
        Value::Array(items) => items.iter().any(has_directives),
        _ => false,
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(422, "Invalid", message)
}

/// `/a/b~1c/0` → ["a", "b/c", "0"].
fn pointer(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| invalid(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// The container holding the pointer's last token, and that token.
fn parent<'a>(target: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), ApiError> {
    let mut tokens = pointer(path)?;
    let last = tokens
        .pop()
        .ok_or_else(|| invalid("the whole document cannot be patched".into()))?;
    let mut node = target;
    for token in &tokens {
        node = match node {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| invalid(format!("path {path:?} does not exist")))?;
    }
    Ok((node, last))
}

fn remove(target: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (node, last) = parent(target, path)?;
    let missing = || invalid(format!("unable to remove nonexistent key {path:?}"));
    match node {
        Value::Object(map) => map.remove(&last).ok_or_else(missing),
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => Ok(items.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let (node, last) = parent(target, path)?;
    match node {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) if last == "-" => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i <= items.len() => {
                items.insert(i, value);
                Ok(())
            }
            _ => Err(invalid(format!("index out of range in {path:?}"))),
        },
        _ => Err(invalid(format!("path {path:?} does not exist"))),
    }
}

fn json_patch_op(target: &mut Value, op: &Value) -> Result<(), ApiError> {
    let path = op["path"]
        .as_str()
        .ok_or_else(|| invalid("a JSON patch operation needs a path".into()))?;
    let value = || op.get("value").cloned().unwrap_or(Value::Null);
    let from = || {
        op["from"]
            .as_str()
            .ok_or_else(|| invalid("move and copy need a from path".into()))
    };
    match op["op"].as_str().unwrap_or("") {
        "add" => add(target, path, value()),
        "remove" => remove(target, path).map(drop),
        "replace" => {
            remove(target, path)?;
            add(target, path, value())
        }
        "move" => {
            let moved = remove(target, from()?)?;
            add(target, path, moved)
        }
        "copy" => {
            let copied = target
                .pointer(from()?)
                .cloned()
                .ok_or_else(|| invalid(format!("path {:?} does not exist", op["from"])))?;
            add(target, path, copied)
        }
        "test" => {
            if target.pointer(path) == Some(&value()) {
                Ok(())
            } else {
                Err(invalid(format!("testing value {path} failed")))
            }
        }
        other => Err(invalid(format!(
            "unexpected JSON patch operation {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_semantics() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge(&mut target, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }

    #[test]
    fn json_patch_operations() {
        let mut doc = json!({"data": {"a": "1", "b/c": "2"}, "list": [1, 2]});
        let ops = json!([
            {"op": "remove", "path": "/data/b~1c"},
            {"op": "replace", "path": "/data/a", "value": "x"},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "add", "path": "/list/0", "value": 0},
            {"op": "copy", "from": "/data/a", "path": "/data/z"},
            {"op": "test", "path": "/data/z", "value": "x"}
        ]);
        apply_patch(PatchKind::Json, &mut doc, ops.to_string().as_bytes()).expect("applies");
        assert_eq!(
            doc,
            json!({"data": {"a": "x", "z": "x"}, "list": [0, 1, 2, 3]})
        );
        let bad = json!([{"op": "remove", "path": "/nope"}]).to_string();
        assert!(apply_patch(PatchKind::Json, &mut doc, bad.as_bytes()).is_err());
    }
}

//! Field ownership, as far as server-side apply needs it: a merge patch records the fields it
//! set under its manager (`managedFields[].fieldsV1`, `f:<name>` keys), and an apply keeps a
//! field it omits when another manager set it (a real API server removes only fields the
//! applier owns alone). So `kubectl rollout restart`'s annotation survives a later apply.

use serde_json::{Map, Value};

/// The fieldsV1 set of a merge patch: every leaf it sets.
pub fn fields_of(patch: &Value) -> Value {
    match patch.as_object() {
        Some(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_of(v)))
                .collect(),
        ),
        None => Value::Object(Map::new()),
    }
}

/// Merges fieldsV1 set `more` into `into`.
pub fn merge(into: &mut Value, more: &Value) {
    let (Some(into), Some(more)) = (into.as_object_mut(), more.as_object()) else {
        return;
    };
    for (k, v) in more {
        merge(
            into.entry(k.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            v,
        );
    }
}

/// Copies into `body` every leaf that another manager than `manager` set on `stored` (by an
/// update) and `body` omits.
pub fn keep_others(stored: &Value, body: &mut Value, manager: &str) {
    let entries = stored["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for e in entries {
        if e["manager"] == manager || e["operation"] != "Update" {
            continue;
        }
        keep(&e["fieldsV1"], stored, body);
    }
}

fn keep(fields: &Value, stored: &Value, body: &mut Value) {
    let Some(map) = fields.as_object() else {
        return;
    };
    for (k, sub) in map {
        let Some(name) = k.strip_prefix("f:") else {
            continue;
        };
        let Some(value) = stored.get(name) else {
            continue;
        };
        let leaf = sub.as_object().is_none_or(Map::is_empty);
        let Some(target) = body.as_object_mut() else {
            return;
        };
        if leaf {
            target
                .entry(name.to_string())
                .or_insert_with(|| value.clone());
        } else if value.is_object() {
            let child = target
                .entry(name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            keep(sub, value, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_apply_keeps_what_another_manager_patched() {
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {"r": "1"}}}}});
        let stored = json!({
            "metadata": {"managedFields": [
                {"manager": "esk", "operation": "Apply", "fieldsV1": {}},
                {"manager": "kubectl-rollout", "operation": "Update", "fieldsV1": fields_of(&patch)},
            ]},
            "spec": {"replicas": 1, "template": {"metadata": {"annotations": {"r": "1", "a": "x"}}}},
        });
        let mut body = json!({"spec": {"template": {"metadata": {"annotations": {"a": "y"}}}}});
        keep_others(&stored, &mut body, "esk");
        assert_eq!(
            body,
            json!({"spec": {"template": {"metadata": {"annotations": {"a": "y", "r": "1"}}}}})
        );
    }
}

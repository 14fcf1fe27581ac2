//! Settings that leave the cluster open: insecure mode (ES020) and the default credentials
//! (ES026).

use serde_yaml::Value;

use super::Push;
use crate::lint::model::{pod_of, seq, text, Item};
use crate::lint::node::{config_value, Node};

/// ES020: `INSECURE=true` turns off TLS and authentication at once.
pub fn insecure(node: &Node, push: &mut Push) {
    if node
        .setting("INSECURE")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        push(
            "ES020",
            "INSECURE=true: no TLS between nodes or to clients, and no authentication".into(),
        );
    }
}

/// Whether a value is (or carries) the default password `changeit`.
fn is_default_password(key: &str, value: &str) -> bool {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    lower.contains("admin:changeit")
        || lower.contains("ops:changeit")
        || (key.to_ascii_uppercase().contains("PASS") && v == "changeit")
}

/// ES026: the default credentials in a ConfigMap, a Secret, or a container's literal
/// settings and arguments (once per object; what consumes it from a ConfigMap or Secret is
/// not reported again).
pub fn default_credentials(item: &Item, push: &mut Push) {
    let mut keys: Vec<String> = Vec::new();
    match item.kind() {
        "ConfigMap" | "Secret" => {
            for field in ["data", "stringData"] {
                for (k, _) in item
                    .at(&[field])
                    .and_then(Value::as_mapping)
                    .into_iter()
                    .flatten()
                {
                    let Some(k) = text(Some(k)) else { continue };
                    let value = if item.kind() == "Secret" && field == "data" {
                        config_value(
                            std::slice::from_ref(item),
                            item.namespace(),
                            "Secret",
                            &item.object.name,
                            &k,
                        )
                    } else {
                        text(item.at(&[field, &k]))
                    };
                    if value.is_some_and(|v| is_default_password(&k, &v)) && !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
        }
        _ => {
            let Some((_, pod)) = pod_of(item) else { return };
            for c in seq(pod.get("containers"))
                .iter()
                .chain(seq(pod.get("initContainers")))
            {
                for e in seq(c.get("env")) {
                    let (Some(k), Some(v)) = (text(e.get("name")), text(e.get("value"))) else {
                        continue;
                    };
                    if is_default_password(&k, &v) {
                        keys.push(k);
                    }
                }
                let words: Vec<String> = seq(c.get("command"))
                    .iter()
                    .chain(seq(c.get("args")))
                    .filter_map(|w| text(Some(w)))
                    .collect();
                for (i, w) in words.iter().enumerate() {
                    let (key, value) = match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (w.clone(), words.get(i + 1).cloned().unwrap_or_default()),
                    };
                    let option = key.starts_with('-');
                    if (option && is_default_password(&key, &value))
                        || (!option && is_default_password("", w))
                    {
                        keys.push(key);
                    }
                }
            }
        }
    }
    if !keys.is_empty() {
        push(
            "ES026",
            format!(
                "{} holds the default password changeit: anyone who can reach the nodes is admin",
                keys.join(", ")
            ),
        );
    }
}

//! A server container's settings, wherever they are written: `env` (literal or from a
//! ConfigMap or Secret key), `envFrom` ConfigMaps, and its command-line options.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::lint::model::{at, same_namespace, seq, text, Item};

const PREFIXES: &[&str] = &["KURRENTDB_", "EVENTSTORE_"];

/// A key of a ConfigMap (`data`) or Secret (`stringData`, else decoded `data`) in the input.
pub fn config_value(
    items: &[Item],
    namespace: Option<&str>,
    kind: &str,
    name: &str,
    key: &str,
) -> Option<String> {
    let object = items.iter().find(|i| {
        i.kind() == kind && i.object.name == name && same_namespace(i.namespace(), namespace)
    })?;
    if kind == "Secret" {
        if let Some(v) = text(object.at(&["stringData", key])) {
            return Some(v);
        }
        use base64::Engine;
        let encoded = text(object.at(&["data", key]))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    text(object.at(&["data", key]))
}

/// `--some-option=value`, `--some-option value` and a bare `--flag` (true) in a container's
/// command and args, as settings (`SOME_OPTION`). The server reads its command line last, so
/// these win over the environment.
pub fn options(container: &Value) -> Vec<(String, Option<String>)> {
    let words: Vec<String> = seq(container.get("command"))
        .iter()
        .chain(seq(container.get("args")))
        .filter_map(|w| text(Some(w)))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some(option) = words[i].strip_prefix("--").filter(|o| !o.is_empty()) {
            let (key, value) = match option.split_once('=') {
                Some((k, v)) => (k, v.to_string()),
                None => match words.get(i + 1).filter(|w| !w.starts_with('-')) {
                    Some(next) => {
                        i += 1;
                        (option, next.clone())
                    }
                    None => (option, "true".to_string()),
                },
            };
            out.push((key.to_ascii_uppercase().replace('-', "_"), Some(value)));
        }
        i += 1;
    }
    out
}

/// A container's server settings, from `envFrom` ConfigMaps in the input, then `env` (which
/// wins, as in Kubernetes; `configMapKeyRef`/`secretKeyRef` resolved when the input has the
/// object); and whether any uses the `KURRENTDB_` prefix. Command-line options are added
/// once the container is known to be a server (an application's `--insecure` says nothing).
pub fn settings(
    container: &Value,
    namespace: Option<&str>,
    items: &[Item],
) -> (BTreeMap<String, Option<String>>, bool) {
    let mut vars: Vec<(String, Option<String>)> = Vec::new();
    for source in seq(container.get("envFrom")) {
        let prefix = text(source.get("prefix")).unwrap_or_default();
        if let Some(name) = text(at(source, &["configMapRef", "name"])) {
            let map = items.iter().find(|i| {
                i.kind() == "ConfigMap"
                    && i.object.name == name
                    && same_namespace(i.namespace(), namespace)
            });
            if let Some(data) = map
                .and_then(|m| m.at(&["data"]))
                .and_then(Value::as_mapping)
            {
                for (k, v) in data {
                    if let Some(k) = text(Some(k)) {
                        vars.push((format!("{prefix}{k}"), text(Some(v))));
                    }
                }
            }
        }
    }
    for e in seq(container.get("env")) {
        if let Some(name) = text(e.get("name")) {
            let value = if let Some(from) = e.get("valueFrom") {
                [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")]
                    .iter()
                    .find_map(|(key, kind)| {
                        let r = from.get(key)?;
                        let name = text(r.get("name"))?;
                        let key = text(r.get("key"))?;
                        config_value(items, namespace, kind, &name, &key)
                    })
            } else {
                Some(text(e.get("value")).unwrap_or_default())
            };
            vars.push((name, value));
        }
    }
    let mut out = BTreeMap::new();
    let mut kurrent = false;
    for (name, value) in vars {
        if let Some((prefix, key)) = PREFIXES
            .iter()
            .find_map(|p| name.strip_prefix(p).map(|k| (*p, k)))
        {
            kurrent |= prefix == "KURRENTDB_";
            out.insert(key.to_string(), value);
        }
    }
    (out, kurrent)
}

//! What `esk lint` reads: a YAML or JSON stream split into Kubernetes objects (lists
//! flattened, byte-order marks skipped), and the refusal of a kustomization, which is not
//! what gets applied.

use serde_yaml::Value;

use crate::error::UsageError;

/// One parsed document and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub value: Value,
    pub file: String,
}

/// The text without byte-order marks: the one a Windows editor puts at the start (kubectl
/// reads past it), and those at the start of a line where such files were concatenated
/// (`cat *.yaml`).
fn without_bom(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\n\u{feff}", "\n")
}

/// A JSON file (one object or several in a row, as kubectl reads them), as documents.
pub fn parse_json(text: &str, file: &str) -> Result<Vec<Doc>, UsageError> {
    let text = without_bom(text);
    let text = text.as_str();
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    for (i, value) in stream.enumerate() {
        let value = value.map_err(|e| UsageError::new(format!("{file}: not valid JSON: {e}")))?;
        let value = serde_yaml::to_value(value)
            .map_err(|e| UsageError::new(format!("{file}: not valid JSON: {e}")))?;
        push_objects(value, file, i + 1, &mut out)?;
    }
    Ok(out)
}

/// Splits a YAML stream into documents; a `List` contributes its items. Empty documents are
/// skipped; anything else must be an object with apiVersion and kind.
pub fn parse(text: &str, file: &str) -> Result<Vec<Doc>, UsageError> {
    use serde::Deserialize;
    let text = without_bom(text);
    let text = text.as_str();
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match Value::deserialize(doc) {
            Ok(v) => v,
            // JSON is YAML, but not tab-indented JSON (`kubectl get -o json` piped in, a JSON
            // stream): read it as kubectl does.
            Err(_) if text.trim_start().starts_with('{') => {
                if let Ok(docs) = parse_json(text, file) {
                    return Ok(docs);
                }
                return Err(UsageError::new(format!("{file}: not valid YAML or JSON")));
            }
            Err(e) => return Err(UsageError::new(format!("{file}: not valid YAML: {e}"))),
        };
        push_objects(value, file, i + 1, &mut out)?;
    }
    Ok(out)
}

fn push_objects(value: Value, file: &str, n: usize, out: &mut Vec<Doc>) -> Result<(), UsageError> {
    if value.is_null() {
        return Ok(());
    }
    if value.get("kind").and_then(Value::as_str) == Some("Kustomization")
        || is_bare_kustomization(&value)
    {
        return Err(kustomization(file));
    }
    let is_object = value.get("kind").and_then(Value::as_str).is_some()
        && value.get("apiVersion").and_then(Value::as_str).is_some();
    if !is_object {
        return Err(UsageError::new(format!(
            "{file}: document {n} is not a Kubernetes object (it needs apiVersion and kind)"
        )));
    }
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_sequence);
    if is_list {
        if let Some(Value::Sequence(items)) = value.get("items") {
            for item in items.clone() {
                push_objects(item, file, n, out)?;
            }
        }
        return Ok(());
    }
    out.push(Doc {
        value,
        file: file.to_string(),
    });
    Ok(())
}

/// A kustomization written without apiVersion and kind (kustomize accepts that): no kind,
/// and only kustomization fields, at least one that only a kustomization has.
fn is_bare_kustomization(value: &Value) -> bool {
    const FIELDS: &[&str] = &[
        "resources",
        "bases",
        "components",
        "patches",
        "patchesStrategicMerge",
        "patchesJson6902",
        "namePrefix",
        "nameSuffix",
        "namespace",
        "commonLabels",
        "commonAnnotations",
        "labels",
        "images",
        "replicas",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
        "crds",
        "vars",
        "replacements",
        "openapi",
        "transformers",
        "generators",
        "validators",
        "buildMetadata",
        "sortOptions",
        "helmCharts",
        "helmGlobals",
    ];
    let Some(map) = value.as_mapping() else {
        return false;
    };
    value.get("kind").is_none()
        && !map.is_empty()
        && map
            .keys()
            .all(|k| k.as_str().is_some_and(|k| FIELDS.contains(&k)))
        && map.keys().any(|k| {
            k.as_str().is_some_and(|k| {
                ["resources", "bases", "components", "patchesStrategicMerge"].contains(&k)
            })
        })
}

/// A kustomization is not what gets applied: its build is.
pub fn kustomization(file: &str) -> UsageError {
    let dir = std::path::Path::new(file)
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty() && file != "-")
        .unwrap_or_else(|| "DIR".into());
    UsageError::new(format!(
        "{file} is a kustomization, not the manifests it builds: run `kubectl kustomize {dir} | esk lint -`"
    ))
}

//! Update rules: which changes a real API server refuses (`field is immutable` and friends).

use super::kinds::KindInfo;
use super::status::FieldError;
use super::validate::PV_SOURCES;
use serde_json::{Map, Value};

const STS_FORBIDDEN: &str = "updates to statefulset spec for fields other than 'replicas', \
'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', \
'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";
const PVC_FORBIDDEN: &str = "spec is immutable after creation except resources.requests and \
volumeAttributesClassName for bound claims";

/// Everything that makes `new` an illegal update of `old` (both full objects).
pub fn update_errors(info: &KindInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (o, n) = (&old["spec"], &new["spec"]);
    match info.kind {
        "Deployment" => same(&mut errs, "spec.selector", &o["selector"], &n["selector"]),
        "StatefulSet" => {
            let mutable = [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            if without(o, &mutable) != without(n, &mutable) {
                errs.push(FieldError::forbidden("spec", STS_FORBIDDEN));
            }
        }
        "Job" => {
            same(&mut errs, "spec.selector", &o["selector"], &n["selector"]);
            same(&mut errs, "spec.template", &o["template"], &n["template"]);
            same(
                &mut errs,
                "spec.completions",
                &o["completions"],
                &n["completions"],
            );
        }
        "PersistentVolume" => pv_errors(o, n, &mut errs),
        "PersistentVolumeClaim" => pvc_errors(o, n, &mut errs),
        "Service" => service_errors(o, n, &mut errs),
        "ConfigMap" | "Secret" => data_errors(info, old, new, &mut errs),
        "StorageClass" => {
            for key in [
                "parameters",
                "provisioner",
                "reclaimPolicy",
                "volumeBindingMode",
            ] {
                if old[key] != new[key] {
                    errs.push(FieldError::forbidden(
                        key,
                        format!("updates to {key} are forbidden."),
                    ));
                }
            }
        }
        _ => {}
    }
    errs
}

fn same(errs: &mut Vec<FieldError>, field: &str, old: &Value, new: &Value) {
    if old != new {
        errs.push(FieldError::invalid(field, new, "field is immutable"));
    }
}

/// `spec` without the given keys (absent and null alike).
fn without(spec: &Value, keys: &[&str]) -> Map<String, Value> {
    spec.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| !keys.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn pv_errors(o: &Value, n: &Value, errs: &mut Vec<FieldError>) {
    if PV_SOURCES.iter().any(|s| o[*s] != n[*s]) {
        errs.push(FieldError::forbidden(
            "spec.persistentvolumesource",
            "spec.persistentvolumesource is immutable after creation",
        ));
    }
    if !o["nodeAffinity"].is_null() && o["nodeAffinity"] != n["nodeAffinity"] {
        errs.push(FieldError::invalid(
            "spec.nodeAffinity",
            &n["nodeAffinity"],
            "field is immutable",
        ));
    }
    if o["volumeMode"] != n["volumeMode"] {
        errs.push(FieldError::invalid(
            "spec.volumeMode",
            &n["volumeMode"],
            "field is immutable",
        ));
    }
}

fn pvc_errors(o: &Value, n: &Value, errs: &mut Vec<FieldError>) {
    // The binder may fill volumeName and storageClassName in once; everything but the
    // requested size is frozen after that.
    let mut relaxed = without(o, &["resources", "volumeAttributesClassName"]);
    let new = without(n, &["resources", "volumeAttributesClassName"]);
    for key in ["volumeName", "storageClassName"] {
        if o[key].is_null() || (key == "volumeName" && o[key] == "") {
            match new.get(key) {
                Some(v) => relaxed.insert(key.to_string(), v.clone()),
                None => relaxed.remove(key),
            };
        }
    }
    if relaxed != new
        || without(&o["resources"], &["requests"]) != without(&n["resources"], &["requests"])
    {
        errs.push(FieldError::forbidden("spec", PVC_FORBIDDEN));
    }
    let size = |v: &Value| {
        v["resources"]["requests"]["storage"]
            .as_str()
            .and_then(parse_quantity)
    };
    if let (Some(before), Some(after)) = (size(o), size(n)) {
        if after < before {
            errs.push(FieldError::forbidden(
                "spec.resources.requests.storage",
                "field can not be less than status.capacity",
            ));
        }
    }
}

fn service_errors(o: &Value, n: &Value, errs: &mut Vec<FieldError>) {
    let (old_ip, new_ip) = (o["clusterIP"].as_str(), n["clusterIP"].as_str());
    if let (Some(before), Some(after)) = (old_ip, new_ip) {
        if before != after && !before.is_empty() {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                &Value::from(vec![after]),
                "may not change once set",
            ));
        }
    }
}

fn data_errors(info: &KindInfo, old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    if old["immutable"] != Value::Bool(true) {
        if info.kind == "Secret" && old["type"] != new["type"] {
            errs.push(FieldError::invalid(
                "type",
                &new["type"],
                "field is immutable",
            ));
        }
        return;
    }
    let msg = "field is immutable when `immutable` is set";
    if new["immutable"] != Value::Bool(true) {
        errs.push(FieldError::forbidden("immutable", msg));
    }
    for key in ["data", "binaryData"] {
        if old[key] != new[key] {
            errs.push(FieldError::forbidden(key, msg));
        }
    }
}

/// A resource quantity (`10Gi`, `500M`, `1.5`) as a number of units; `None` if malformed.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => {
            let exp: i32 = suffix.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(exp)
        }
    };
    Some(number * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("10Gi"), Some(10.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("500M"), Some(5e8));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("x"), None);
    }
}

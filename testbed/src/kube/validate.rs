//! Create/update validation as the API server does it: object names, labels, and the
//! per-kind rules that catch broken manifests (selectors, containers, volume sources).

use super::kinds::KindInfo;
use super::selector::LabelSelector;
use super::status::FieldError;
use serde_json::Value;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
(e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  \
or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters \
or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. \
'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or \
'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
'MyValue',  or 'my_value',  or '12345', regex used for validation is \
'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
        && b.iter().all(|c| ok(c) || *c == b'-')
}

/// `None` when `name` is a DNS-1123 subdomain, else the API server's explanation.
pub fn dns1123_subdomain(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = !name.is_empty()
        && name
            .split('.')
            .all(|part| is_label(part) || (part.len() > 63 && is_label(&part[..63])));
    (!ok).then(|| SUBDOMAIN_MSG.to_string())
}

pub fn dns1123_label(name: &str) -> Option<String> {
    if name.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!is_label(name)).then(|| LABEL_MSG.to_string())
}

pub fn dns1035_label(name: &str) -> Option<String> {
    if name.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    let starts_alpha = name.as_bytes().first().is_some_and(u8::is_ascii_lowercase);
    (!(is_label(name) && starts_alpha)).then(|| DNS1035_MSG.to_string())
}

fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `None` when `key` is a valid label or annotation key (`[prefix/]name`).
pub fn label_key_errors(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if let Some(e) = dns1123_subdomain(p) {
            return Some(format!("prefix part {e}"));
        }
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    (!is_qualified_part(name)).then(|| QUALIFIED_MSG.to_string())
}

pub fn label_value_errors(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!value.is_empty() && !is_qualified_part(value)).then(|| LABEL_VALUE_MSG.to_string())
}

/// The name rule a kind's objects must satisfy.
fn name_rule(info: &KindInfo) -> fn(&str) -> Option<String> {
    match info.kind {
        "Namespace" => dns1123_label,
        "Service" => dns1035_label,
        _ => dns1123_subdomain,
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, p| v.get(p))?.as_str()
}

/// Everything wrong with `obj` as a new or updated `info` object.
pub fn validate_object(info: &KindInfo, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(info, obj, &mut errs);
    match info.kind {
        "Deployment" | "StatefulSet" => validate_workload(info, obj, &mut errs),
        "Job" => validate_pod_template(&obj["spec"]["template"], "spec.template", &[], &mut errs),
        "Service" => validate_service(obj, &mut errs),
        "PersistentVolume" => validate_pv(obj, &mut errs),
        "PersistentVolumeClaim" => validate_pvc(obj, &mut errs),
        "ConfigMap" | "Secret" => validate_data_keys(obj, &mut errs),
        "PodDisruptionBudget" => validate_pdb(obj, &mut errs),
        "StorageClass" if str_at(obj, &["provisioner"]).unwrap_or("").is_empty() => {
            errs.push(FieldError::required("provisioner", ""));
        }
        _ => {}
    }
    errs
}

fn validate_metadata(info: &KindInfo, obj: &Value, errs: &mut Vec<FieldError>) {
    let meta = &obj["metadata"];
    match meta.get("name").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(name) => {
            if let Some(e) = name_rule(info)(name) {
                errs.push(FieldError::invalid("metadata.name", &Value::from(name), e));
            }
        }
    }
    validate_labels(meta.get("labels"), "metadata.labels", errs);
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        for key in annotations.keys() {
            if let Some(e) = label_key_errors(key) {
                errs.push(FieldError::invalid(
                    "metadata.annotations",
                    &Value::from(key.as_str()),
                    e,
                ));
            }
        }
    }
}

fn validate_labels(labels: Option<&Value>, field: &str, errs: &mut Vec<FieldError>) {
    let Some(labels) = labels.and_then(Value::as_object) else {
        return;
    };
    for (key, value) in labels {
        if let Some(e) = label_key_errors(key) {
            errs.push(FieldError::invalid(field, &Value::from(key.as_str()), e));
        }
        match value.as_str() {
            Some(v) => {
                if let Some(e) = label_value_errors(v) {
                    errs.push(FieldError::invalid(field, value, e));
                }
            }
            None => errs.push(FieldError::invalid(
                field,
                value,
                "label values must be strings",
            )),
        }
    }
}

fn validate_workload(info: &KindInfo, obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    if let Some(replicas) = spec.get("replicas").and_then(Value::as_i64) {
        if replicas < 0 {
            errs.push(FieldError::invalid(
                "spec.replicas",
                &spec["replicas"],
                "must be greater than or equal to 0",
            ));
        }
    }
    let template = &spec["template"];
    match LabelSelector::from_spec(&spec["selector"]) {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(Err(e)) => errs.push(FieldError::invalid("spec.selector", &spec["selector"], e)),
        Some(Ok(selector)) if selector.is_empty() => errs.push(FieldError::invalid(
            "spec.selector",
            &spec["selector"],
            format!("empty selector is invalid for {}", info.kind.to_lowercase()),
        )),
        Some(Ok(selector)) => {
            let labels = template["metadata"]["labels"].as_object();
            if !selector.matches(labels) {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    &template["metadata"]["labels"],
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    if info.kind == "StatefulSet" {
        for (i, claim) in spec["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("spec.volumeClaimTemplates[{i}]");
            match str_at(claim, &["metadata", "name"]) {
                Some(n) if dns1123_subdomain(n).is_none() => {}
                _ => errs.push(FieldError::invalid(
                    &format!("{field}.metadata.name"),
                    &claim["metadata"]["name"],
                    SUBDOMAIN_MSG,
                )),
            }
            validate_pvc_spec(&claim["spec"], &format!("{field}.spec"), errs);
        }
    }
    // A StatefulSet's claim templates are volumes of its pods too. (The real server leaves a
    // StatefulSet's pod template unchecked until it creates pods; mounts of missing volumes
    // are refused here all the same, as those pods could never start.)
    let claims: Vec<&str> = spec["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    validate_pod_template(template, "spec.template", &claims, errs);
}

/// `extra_volumes`: volume names the pods get besides `spec.volumes`.
fn validate_pod_template(
    template: &Value,
    field: &str,
    extra_volumes: &[&str],
    errs: &mut Vec<FieldError>,
) {
    validate_labels(
        template["metadata"].get("labels"),
        &format!("{field}.metadata.labels"),
        errs,
    );
    let spec = &template["spec"];
    let containers = spec["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if containers.is_empty() {
        errs.push(FieldError::required(
            &format!("{field}.spec.containers"),
            "",
        ));
    }
    let volumes: Vec<&str> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .chain(extra_volumes.iter().copied())
        .collect();
    for (i, c) in containers.iter().enumerate() {
        let cf = format!("{field}.spec.containers[{i}]");
        match c["name"].as_str() {
            None | Some("") => errs.push(FieldError::required(&format!("{cf}.name"), "")),
            Some(n) => {
                if let Some(e) = dns1123_label(n) {
                    errs.push(FieldError::invalid(&format!("{cf}.name"), &c["name"], e));
                }
            }
        }
        if c["image"].as_str().unwrap_or("").trim().is_empty() {
            errs.push(FieldError::required(&format!("{cf}.image"), ""));
        }
        for (j, m) in c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = m["name"].as_str().unwrap_or("");
            if !volumes.contains(&name) {
                errs.push(FieldError::not_found(
                    &format!("{cf}.volumeMounts[{j}].name"),
                    name,
                ));
            }
        }
    }
}

fn validate_service(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&kind) {
        errs.push(FieldError::invalid(
            "spec.type",
            &spec["type"],
            "supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ));
    }
    let ports = spec["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if ports.is_empty() && kind != "ExternalName" && spec["clusterIP"].as_str() != Some("None") {
        errs.push(FieldError::required("spec.ports", ""));
    }
    for (i, p) in ports.iter().enumerate() {
        match p["port"].as_i64() {
            Some(1..=65535) => {}
            Some(_) => errs.push(FieldError::invalid(
                &format!("spec.ports[{i}].port"),
                &p["port"],
                "must be between 1 and 65535, inclusive",
            )),
            None => errs.push(FieldError::required(&format!("spec.ports[{i}].port"), "")),
        }
        if ports.len() > 1 && p["name"].as_str().unwrap_or("").is_empty() {
            errs.push(FieldError::required(&format!("spec.ports[{i}].name"), ""));
        }
    }
}

/// The PersistentVolume volume-source fields (exactly one must be set).
pub const PV_SOURCES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

fn validate_pv(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    let sources: Vec<&&str> = PV_SOURCES.iter().filter(|s| !spec[**s].is_null()).collect();
    match sources.as_slice() {
        [] => errs.push(FieldError::required("spec", "must specify a volume type")),
        [one] => {
            if **one == "csi" {
                for key in ["driver", "volumeHandle"] {
                    if spec["csi"][key].as_str().unwrap_or("").is_empty() {
                        errs.push(FieldError::required(&format!("spec.csi.{key}"), ""));
                    }
                }
            }
        }
        [_, second, ..] => errs.push(FieldError::forbidden(
            &format!("spec.{second}"),
            "may not specify more than 1 volume type",
        )),
    }
    if spec["capacity"]["storage"].is_null() {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    if spec["accessModes"].as_array().is_none_or(Vec::is_empty) {
        errs.push(FieldError::required("spec.accessModes", ""));
    }
    if !spec["local"].is_null() && spec["nodeAffinity"].is_null() {
        errs.push(FieldError::required(
            "spec.nodeAffinity",
            "Local volume requires node affinity",
        ));
    }
}

fn validate_pvc(obj: &Value, errs: &mut Vec<FieldError>) {
    validate_pvc_spec(&obj["spec"], "spec", errs);
}

fn validate_pvc_spec(spec: &Value, field: &str, errs: &mut Vec<FieldError>) {
    if spec["accessModes"].as_array().is_none_or(Vec::is_empty) {
        errs.push(FieldError::required(
            &format!("{field}.accessModes"),
            "at least 1 access mode is required",
        ));
    }
    if spec["resources"]["requests"]["storage"].is_null() {
        errs.push(FieldError::required(
            &format!("{field}.resources[storage]"),
            "",
        ));
    }
}

fn validate_data_keys(obj: &Value, errs: &mut Vec<FieldError>) {
    for section in ["data", "binaryData", "stringData"] {
        for key in obj[section]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let ok = !key.is_empty()
                && key.len() <= 253
                && key
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
            if !ok {
                errs.push(FieldError::invalid(
                    section,
                    &Value::from(key.as_str()),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
                     (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for \
                     validation is '[-._a-zA-Z0-9]+')",
                ));
            }
        }
    }
}

fn validate_pdb(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    if !spec["minAvailable"].is_null() && !spec["maxUnavailable"].is_null() {
        errs.push(FieldError::invalid(
            "spec",
            spec,
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_subdomain("es-1.example").is_none());
        assert!(dns1123_subdomain("Es_1").is_some());
        assert!(dns1123_subdomain("-a").is_some());
        assert!(dns1123_label("a.b").is_some());
        assert!(dns1035_label("1abc").is_some());
        assert!(dns1035_label("abc-1").is_none());
    }

    #[test]
    fn labels() {
        assert!(label_key_errors("app.kubernetes.io/name").is_none());
        assert!(label_key_errors("Bad Key").is_some());
        assert!(label_key_errors("a/b/c").is_some());
        assert!(label_value_errors("").is_none());
        assert!(label_value_errors("v1.2_x").is_none());
        assert!(label_value_errors("-x").is_some());
    }
}

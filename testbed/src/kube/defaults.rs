//! Defaulting, as the API server and its admission plugins do before validation, plus the
//! fields a server or controller owns that an apply must not take away (a Service's cluster
//! IP, a claim's bound volume): an apply that leaves them out keeps the stored values.

use super::kinds::KindInfo;
use super::status::ApiError;
use super::store::Store;
use base64::Engine;
use serde_json::{json, Value};

/// Fills defaults into `obj` (the client's desired object, already normalized).
/// `from_apply` says absent fields mean "not mine", not "remove".
pub fn apply(
    store: &mut Store,
    info: &KindInfo,
    obj: &mut Value,
    old: Option<&Value>,
    from_apply: bool,
) -> Result<(), ApiError> {
    let old_spec = old.map(|o| &o["spec"]);
    match info.kind {
        "Namespace" if obj["spec"]["finalizers"].is_null() => {
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
        }
        "Secret" => secret(info, obj)?,
        "Service" => service(store, obj, old_spec),
        "PersistentVolume" => {
            default_str(obj, "volumeMode", "Filesystem");
            default_str(obj, "persistentVolumeReclaimPolicy", "Retain");
            if from_apply {
                keep_claim_ref(obj, old_spec);
            }
        }
        "PersistentVolumeClaim" => {
            if from_apply {
                for field in ["volumeName", "storageClassName"] {
                    keep(obj, old_spec, field);
                }
            }
            if obj["spec"]["storageClassName"].is_null() && old.is_none() {
                if let Some(class) = default_storage_class(store) {
                    obj["spec"]["storageClassName"] = class.into();
                }
            }
            default_str(obj, "volumeMode", "Filesystem");
        }
        "Deployment" | "StatefulSet" if obj["spec"]["replicas"].is_null() => {
            obj["spec"]["replicas"] = 1.into();
        }
        _ => {}
    }
    Ok(())
}

fn default_str(obj: &mut Value, field: &str, value: &str) {
    if obj["spec"][field].is_null() {
        obj["spec"][field] = value.into();
    }
}

/// Copies `spec.<field>` from the stored object when the new one leaves it out.
fn keep(obj: &mut Value, old_spec: Option<&Value>, field: &str) {
    if let Some(previous) = old_spec.map(|s| &s[field]).filter(|v| !v.is_null()) {
        if obj["spec"][field].is_null() {
            obj["spec"][field] = previous.clone();
        }
    }
}

/// The binder owns `claimRef` (or its uid): keep them when an apply leaves them out.
fn keep_claim_ref(obj: &mut Value, old_spec: Option<&Value>) {
    let Some(previous) = old_spec.map(|s| &s["claimRef"]).filter(|v| v.is_object()) else {
        return;
    };
    let current = &mut obj["spec"]["claimRef"];
    if current.is_null() {
        *current = previous.clone();
        return;
    }
    let same_claim =
        current["namespace"] == previous["namespace"] && current["name"] == previous["name"];
    if same_claim {
        for field in ["uid", "resourceVersion", "kind", "apiVersion"] {
            if current[field].is_null() && !previous[field].is_null() {
                current[field] = previous[field].clone();
            }
        }
    }
}

fn default_storage_class(store: &Store) -> Option<String> {
    let info = super::kinds::by_kind("StorageClass")?;
    store
        .list(info, None)
        .find(|sc| {
            sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        })
        .and_then(|sc| sc["metadata"]["name"].as_str().map(String::from))
}

/// `stringData` folds into `data`; `data` must be base64; `type` defaults to Opaque.
fn secret(info: &KindInfo, obj: &mut Value) -> Result<(), ApiError> {
    let engine = base64::engine::general_purpose::STANDARD;
    for (key, value) in obj["data"].as_object().into_iter().flatten() {
        let text = value.as_str().unwrap_or("");
        if let Err(e) = engine.decode(text) {
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: illegal base64 data in data[{key:?}]: {e}",
                info.kind, info.version, info.kind
            )));
        }
    }
    if let Some(string_data) = obj
        .as_object_mut()
        .and_then(|m| m.remove("stringData"))
        .and_then(|v| v.as_object().cloned())
    {
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (key, value) in string_data {
            let encoded = engine.encode(value.as_str().unwrap_or("").as_bytes());
            obj["data"][key.as_str()] = encoded.into();
        }
    }
    if obj["type"].is_null() {
        obj["type"] = "Opaque".into();
    }
    Ok(())
}

fn service(store: &mut Store, obj: &mut Value, old_spec: Option<&Value>) {
    let spec = &mut obj["spec"];
    if spec["type"].is_null() {
        spec["type"] = "ClusterIP".into();
    }
    let kind = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if kind == "ExternalName" {
        return;
    }
    if spec["sessionAffinity"].is_null() {
        spec["sessionAffinity"] = "None".into();
    }
    if spec["internalTrafficPolicy"].is_null() {
        spec["internalTrafficPolicy"] = "Cluster".into();
    }
    let old_ip = old_spec
        .and_then(|s| s["clusterIP"].as_str())
        .filter(|ip| !ip.is_empty())
        .map(String::from);
    if spec["clusterIP"].as_str().unwrap_or("").is_empty() {
        spec["clusterIP"] = match old_ip {
            Some(ip) => ip.into(),
            None => {
                let n = store.next_serial();
                format!("10.96.{}.{}", (n / 250) % 256, n % 250 + 1).into()
            }
        };
    }
    if spec["clusterIPs"].is_null() {
        spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
    }
    if spec["ipFamilies"].is_null() {
        spec["ipFamilies"] = json!(["IPv4"]);
    }
    if spec["ipFamilyPolicy"].is_null() {
        spec["ipFamilyPolicy"] = "SingleStack".into();
    }
    let node_ports = kind == "NodePort" || kind == "LoadBalancer";
    if node_ports && spec["externalTrafficPolicy"].is_null() {
        spec["externalTrafficPolicy"] = "Cluster".into();
    }
    if kind == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].is_null() {
        spec["allocateLoadBalancerNodePorts"] = true.into();
    }
    let old_ports = old_spec
        .and_then(|s| s["ports"].as_array().cloned())
        .unwrap_or_default();
    let Some(ports) = spec["ports"].as_array_mut() else {
        return;
    };
    for port in ports.iter_mut() {
        if port["protocol"].is_null() {
            port["protocol"] = "TCP".into();
        }
        if port["targetPort"].is_null() {
            port["targetPort"] = port["port"].clone();
        }
        if node_ports && port["nodePort"].is_null() {
            let previous = old_ports
                .iter()
                .find(|p| p["port"] == port["port"] && p["protocol"] == port["protocol"])
                .map(|p| p["nodePort"].clone())
                .filter(|v| !v.is_null());
            port["nodePort"] = match previous {
                Some(v) => v,
                None => (30000 + store.next_serial() % 2768).into(),
            };
        }
    }
}

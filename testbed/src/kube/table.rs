//! `meta.k8s.io/v1` `Table` responses, which `kubectl get` asks for when it prints for humans:
//! the same columns as a real server's printers for the served kinds (NAME and AGE for the
//! rest), each row carrying the object's metadata.

use super::kinds::KindInfo;
use super::time::{human_duration, parse_rfc3339};
use serde_json::{json, Value};

/// Whether the client prefers a Table (kubectl's `get` without `-o json|yaml|name`).
pub fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("as=Table"))
}

type Cell = fn(&Value) -> Value;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn or_none(text: String) -> Value {
    if text.is_empty() {
        "<none>".into()
    } else {
        text.into()
    }
}

fn count(v: &Value) -> Value {
    v.as_object().map_or(0, |m| m.len()).into()
}

fn access_modes(v: &Value) -> Value {
    let short: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect();
    short.join(",").into()
}

fn ratio(ready: &Value, wanted: &Value) -> Value {
    format!(
        "{}/{}",
        ready.as_i64().unwrap_or(0),
        wanted.as_i64().unwrap_or(0)
    )
    .into()
}

fn ports(o: &Value) -> Value {
    let listed: Vec<String> = o["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match p["nodePort"].as_i64() {
            Some(node) => format!("{}:{node}/{}", s(&p["port"]), s(&p["protocol"])),
            None => format!("{}/{}", s(&p["port"]), s(&p["protocol"])),
        })
        .collect();
    or_none(listed.join(","))
}

fn external_ip(o: &Value) -> Value {
    let ips: Vec<String> = o["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| s(&i["ip"]))
        .collect();
    match (ips.is_empty(), o["spec"]["type"].as_str()) {
        (false, _) => ips.join(",").into(),
        (true, Some("LoadBalancer")) => "<pending>".into(),
        _ => "<none>".into(),
    }
}

fn storage_class_name(o: &Value) -> Value {
    let name = s(&o["metadata"]["name"]);
    if o["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true" {
        format!("{name} (default)").into()
    } else {
        name.into()
    }
}

fn node_status(o: &Value) -> Value {
    let ready = o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    match ready.map(|c| c["status"] == "True") {
        Some(true) => "Ready".into(),
        _ => "NotReady".into(),
    }
}

/// The kind's columns after NAME and before AGE (which comes last unless listed; priority 1 =
/// `-o wide` only).
fn columns(kind: &str) -> Vec<(&'static str, u8, Cell)> {
    match kind {
        "Namespace" => vec![("Status", 0, |o| o["status"]["phase"].clone())],
        "ConfigMap" => vec![("Data", 0, |o| {
            (count(&o["data"]).as_u64().unwrap_or(0)
                + count(&o["binaryData"]).as_u64().unwrap_or(0))
            .into()
        })],
        "Secret" => vec![
            ("Type", 0, |o| o["type"].clone()),
            ("Data", 0, |o| count(&o["data"])),
        ],
        "Service" => vec![
            ("Type", 0, |o| o["spec"]["type"].clone()),
            ("Cluster-IP", 0, |o| o["spec"]["clusterIP"].clone()),
            ("External-IP", 0, external_ip),
            ("Port(s)", 0, ports),
        ],
        "PersistentVolume" => vec![
            ("Capacity", 0, |o| o["spec"]["capacity"]["storage"].clone()),
            ("Access Modes", 0, |o| {
                access_modes(&o["spec"]["accessModes"])
            }),
            ("Reclaim Policy", 0, |o| {
                o["spec"]["persistentVolumeReclaimPolicy"].clone()
            }),
            ("Status", 0, |o| o["status"]["phase"].clone()),
            ("Claim", 0, |o| {
                let c = &o["spec"]["claimRef"];
                if c.is_object() {
                    format!("{}/{}", s(&c["namespace"]), s(&c["name"])).into()
                } else {
                    "".into()
                }
            }),
            ("StorageClass", 0, |o| {
                s(&o["spec"]["storageClassName"]).into()
            }),
            ("VolumeAttributesClass", 0, |o| {
                or_none(s(&o["spec"]["volumeAttributesClassName"]))
            }),
            ("Reason", 0, |o| s(&o["status"]["reason"]).into()),
        ],
        "PersistentVolumeClaim" => vec![
            ("Status", 0, |o| o["status"]["phase"].clone()),
            ("Volume", 0, |o| s(&o["spec"]["volumeName"]).into()),
            ("Capacity", 0, |o| {
                s(&o["status"]["capacity"]["storage"]).into()
            }),
            ("Access Modes", 0, |o| {
                access_modes(&o["status"]["accessModes"])
            }),
            ("StorageClass", 0, |o| {
                s(&o["spec"]["storageClassName"]).into()
            }),
            ("VolumeAttributesClass", 0, |o| {
                or_none(s(&o["spec"]["volumeAttributesClassName"]))
            }),
        ],
        "Node" => vec![
            ("Status", 0, node_status),
            ("Roles", 0, |_| "<none>".into()),
            ("Age", 0, |_| Value::Null),
            ("Version", 0, |o| {
                or_none(s(&o["status"]["nodeInfo"]["kubeletVersion"]))
            }),
        ],
        "Pod" => vec![("Status", 0, |o| o["status"]["phase"].clone())],
        "Deployment" => vec![
            ("Ready", 0, |o| {
                ratio(&o["status"]["readyReplicas"], &o["spec"]["replicas"])
            }),
            ("Up-to-date", 0, |o| {
                o["status"]["updatedReplicas"].as_i64().unwrap_or(0).into()
            }),
            ("Available", 0, |o| {
                o["status"]["availableReplicas"]
                    .as_i64()
                    .unwrap_or(0)
                    .into()
            }),
        ],
        "StatefulSet" => vec![("Ready", 0, |o| {
            ratio(&o["status"]["readyReplicas"], &o["spec"]["replicas"])
        })],
        "Job" => vec![
            ("Status", 0, |o| {
                let complete = o["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Complete");
                if complete { "Complete" } else { "Running" }.into()
            }),
            ("Completions", 0, |o| {
                ratio(
                    &o["status"]["succeeded"],
                    &json!(o["spec"]["completions"].as_i64().unwrap_or(1)),
                )
            }),
        ],
        "PodDisruptionBudget" => vec![
            ("Min Available", 0, |o| {
                or_none(s(&o["spec"]["minAvailable"]))
            }),
            ("Max Unavailable", 0, |o| {
                or_none(s(&o["spec"]["maxUnavailable"]))
            }),
        ],
        "NetworkPolicy" => vec![("Pod-Selector", 0, |o| {
            let labels: Vec<String> = o["spec"]["podSelector"]["matchLabels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", s(v)))
                .collect();
            or_none(labels.join(","))
        })],
        "Lease" => vec![("Holder", 0, |o| s(&o["spec"]["holderIdentity"]).into())],
        "StorageClass" => vec![
            ("Provisioner", 0, |o| o["provisioner"].clone()),
            ("ReclaimPolicy", 0, |o| {
                o["reclaimPolicy"].as_str().unwrap_or("Delete").into()
            }),
            ("VolumeBindingMode", 0, |o| {
                o["volumeBindingMode"]
                    .as_str()
                    .unwrap_or("Immediate")
                    .into()
            }),
            ("AllowVolumeExpansion", 0, |o| {
                o["allowVolumeExpansion"].as_bool().unwrap_or(false).into()
            }),
        ],
        "VolumeAttachment" => vec![
            ("Attacher", 0, |o| o["spec"]["attacher"].clone()),
            ("PV", 0, |o| {
                s(&o["spec"]["source"]["persistentVolumeName"]).into()
            }),
            ("Node", 0, |o| o["spec"]["nodeName"].clone()),
            ("Attached", 0, |o| {
                o["status"]["attached"].as_bool().unwrap_or(false).into()
            }),
        ],
        _ => Vec::new(),
    }
}

/// A Table of `objects` (rows in the given order).
pub fn table(info: &KindInfo, objects: &[&Value], resource_version: &str, now: i64) -> Value {
    let extra = columns(info.kind);
    let mut definitions = vec![
        json!({"name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace."}),
    ];
    let age_listed = extra.iter().any(|(name, _, _)| *name == "Age");
    for (name, priority, _) in &extra {
        definitions.push(json!({"name": name, "type": "string", "format": "", "priority": priority, "description": ""}));
    }
    if !age_listed {
        definitions.push(json!({"name": "Age", "type": "string", "format": "", "priority": 0,
            "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let name = if info.kind == "StorageClass" { storage_class_name(o) } else { o["metadata"]["name"].clone() };
            let created = o["metadata"]["creationTimestamp"].as_str().and_then(parse_rfc3339);
            let age: Value = created.map_or("<unknown>".to_string(), |t| human_duration(now - t)).into();
            let mut cells = vec![name];
            cells.extend(extra.iter().map(|(column, _, cell)| {
                if *column == "Age" { age.clone() } else { cell(o) }
            }));
            if !age_listed {
                cells.push(age);
            }
            json!({
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows
    })
}

//! Known fields per kind, for `fieldValidation=Strict`: unknown fields at the top level, in
//! metadata, in specs, pod templates, containers and volumes are reported the way the API
//! server does, and so are values of the wrong JSON type where the type matters here. A
//! schema is a JSON tree: an object lists the allowed keys of an object, `[schema]` is a list
//! of such, `"s"` a string, `"as"` a list of strings, `"ms"` a map of strings, and `null`
//! accepts anything.

use super::kinds::KindInfo;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

fn object_meta() -> Value {
    json!({
        "name": "s", "generateName": "s", "namespace": "s", "selfLink": null, "uid": null,
        "resourceVersion": null, "generation": null, "creationTimestamp": null,
        "deletionTimestamp": null, "deletionGracePeriodSeconds": null, "labels": "ms",
        "annotations": "ms", "ownerReferences": null, "finalizers": "as", "managedFields": null
    })
}

fn label_selector() -> Value {
    json!({"matchLabels": "ms", "matchExpressions": [{"key": "s", "operator": "s", "values": "as"}]})
}

fn probe() -> Value {
    json!({
        "exec": null, "failureThreshold": null, "grpc": null, "httpGet": null,
        "initialDelaySeconds": null, "periodSeconds": null, "successThreshold": null,
        "tcpSocket": null, "terminationGracePeriodSeconds": null, "timeoutSeconds": null
    })
}

fn container() -> Value {
    json!({
        "args": "as", "command": "as",
        "env": [{"name": "s", "value": "s", "valueFrom": null}],
        "envFrom": null, "image": "s", "imagePullPolicy": "s", "lifecycle": null,
        "livenessProbe": probe(), "name": "s",
        "ports": [{"containerPort": null, "hostIP": null, "hostPort": null, "name": null, "protocol": null}],
        "readinessProbe": probe(), "resizePolicy": null,
        "resources": {"claims": null, "limits": null, "requests": null},
        "restartPolicy": null, "securityContext": null, "startupProbe": probe(), "stdin": null,
        "stdinOnce": null, "terminationMessagePath": null, "terminationMessagePolicy": null,
        "tty": null, "volumeDevices": null,
        "volumeMounts": [{
            "mountPath": "s", "mountPropagation": "s", "name": "s", "readOnly": null,
            "recursiveReadOnly": null, "subPath": null, "subPathExpr": null
        }],
        "workingDir": "s"
    })
}

fn volume() -> Value {
    let mut v = Map::new();
    v.insert("name".into(), Value::from("s"));
    for key in [
        "awsElasticBlockStore",
        "azureDisk",
        "azureFile",
        "cephfs",
        "cinder",
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "fc",
        "flexVolume",
        "flocker",
        "gcePersistentDisk",
        "gitRepo",
        "glusterfs",
        "hostPath",
        "image",
        "iscsi",
        "nfs",
        "persistentVolumeClaim",
        "photonPersistentDisk",
        "portworxVolume",
        "projected",
        "quobyte",
        "rbd",
        "scaleIO",
        "secret",
        "storageos",
        "vsphereVolume",
    ] {
        v.insert(key.into(), Value::Null);
    }
    Value::Object(v)
}

fn pod_spec() -> Value {
    json!({
        "activeDeadlineSeconds": null, "affinity": null, "automountServiceAccountToken": null,
        "containers": [container()], "dnsConfig": null, "dnsPolicy": null,
        "enableServiceLinks": null, "ephemeralContainers": null, "hostAliases": null,
        "hostIPC": null, "hostNetwork": null, "hostPID": null, "hostUsers": null, "hostname": "s",
        "imagePullSecrets": null, "initContainers": [container()], "nodeName": null,
        "nodeSelector": "ms", "os": null, "overhead": null, "preemptionPolicy": null,
        "priority": null, "priorityClassName": null, "readinessGates": null,
        "resourceClaims": null, "resources": null, "restartPolicy": null,
        "runtimeClassName": null, "schedulerName": null, "schedulingGates": null,
        "securityContext": null, "serviceAccount": "s", "serviceAccountName": "s",
        "setHostnameAsFQDN": null, "shareProcessNamespace": null, "subdomain": "s",
        "terminationGracePeriodSeconds": null, "tolerations": null,
        "topologySpreadConstraints": null, "volumes": [volume()]
    })
}

fn pod_template() -> Value {
    json!({"metadata": object_meta(), "spec": pod_spec()})
}

fn pvc_spec() -> Value {
    json!({
        "accessModes": null, "dataSource": null, "dataSourceRef": null,
        "resources": {"limits": null, "requests": null}, "selector": label_selector(),
        "storageClassName": "s", "volumeAttributesClassName": null, "volumeMode": "s",
        "volumeName": "s"
    })
}

fn pv_spec() -> Value {
    let mut spec = json!({
        "accessModes": null, "capacity": null,
        "claimRef": {
            "apiVersion": null, "fieldPath": null, "kind": null, "name": null,
            "namespace": null, "resourceVersion": null, "uid": null
        },
        "mountOptions": null, "nodeAffinity": null, "persistentVolumeReclaimPolicy": null,
        "storageClassName": "s", "volumeAttributesClassName": null, "volumeMode": "s",
        "csi": {
            "controllerExpandSecretRef": null, "controllerPublishSecretRef": null,
            "driver": "s", "fsType": "s", "nodeExpandSecretRef": null,
            "nodePublishSecretRef": null, "nodeStageSecretRef": null, "readOnly": null,
            "volumeAttributes": "ms", "volumeHandle": "s"
        }
    });
    for source in super::validate::PV_SOURCES.iter().filter(|s| **s != "csi") {
        spec[*source] = Value::Null;
    }
    spec
}

/// The spec (and other kind-specific top-level fields) of each kind.
fn kind_fields(kind: &str) -> Value {
    match kind {
        "Namespace" => json!({"spec": {"finalizers": null}}),
        "ConfigMap" => json!({"data": "ms", "binaryData": "ms", "immutable": null}),
        "Secret" => json!({"data": "ms", "stringData": "ms", "type": "s", "immutable": null}),
        "Service" => json!({"spec": {
            "allocateLoadBalancerNodePorts": null, "clusterIP": "s", "clusterIPs": null,
            "externalIPs": null, "externalName": null, "externalTrafficPolicy": null,
            "healthCheckNodePort": null, "internalTrafficPolicy": null, "ipFamilies": null,
            "ipFamilyPolicy": null, "loadBalancerClass": null, "loadBalancerIP": null,
            "loadBalancerSourceRanges": null,
            "ports": [{
                "appProtocol": null, "name": null, "nodePort": null, "port": null,
                "protocol": null, "targetPort": null
            }],
            "publishNotReadyAddresses": null, "selector": "ms", "sessionAffinity": null,
            "sessionAffinityConfig": null, "trafficDistribution": null, "type": "s"
        }}),
        "PersistentVolume" => json!({"spec": pv_spec()}),
        "PersistentVolumeClaim" => json!({"spec": pvc_spec()}),
        "VolumeSnapshot" => json!({"spec": {
            "source": {"persistentVolumeClaimName": "s", "volumeSnapshotContentName": "s"},
            "volumeSnapshotClassName": "s"
        }}),
        "VolumeSnapshotClass" => json!({"driver": "s", "deletionPolicy": "s", "parameters": "ms"}),
        "VolumeSnapshotContent" => json!({"spec": null}),
        // The Prometheus Operator's CRD (v0.7x), the fields of a pod metrics endpoint.
        "PodMonitor" => json!({"spec": {
            "jobLabel": "s", "podTargetLabels": "as", "selector": label_selector(),
            "namespaceSelector": {"any": null, "matchNames": "as"}, "sampleLimit": null,
            "podMetricsEndpoints": [{
                "port": "s", "portNumber": null, "targetPort": null, "path": "s", "scheme": "s",
                "params": null, "interval": "s", "scrapeTimeout": "s", "honorLabels": null,
                "honorTimestamps": null, "relabelings": null, "metricRelabelings": null,
                "followRedirects": null, "enableHttp2": null, "filterRunning": null,
                "proxyUrl": "s", "bearerTokenSecret": null, "authorization": null,
                "oauth2": null,
                "basicAuth": {"username": {"name": "s", "key": "s", "optional": null},
                              "password": {"name": "s", "key": "s", "optional": null}},
                "tlsConfig": {
                    "ca": {"configMap": {"name": "s", "key": "s", "optional": null},
                           "secret": {"name": "s", "key": "s", "optional": null}},
                    "cert": null, "keySecret": null, "serverName": "s",
                    "insecureSkipVerify": null
                }
            }]
        }}),
        "Node" => json!({"spec": {
            "configSource": null, "externalID": null, "podCIDR": null, "podCIDRs": null,
            "providerID": null, "taints": null, "unschedulable": null
        }}),
        "Pod" => json!({"spec": pod_spec()}),
        "Deployment" => json!({"spec": {
            "minReadySeconds": null, "paused": null, "progressDeadlineSeconds": null,
            "replicas": null, "revisionHistoryLimit": null, "selector": label_selector(),
            "strategy": {"type": null, "rollingUpdate": {"maxSurge": null, "maxUnavailable": null}},
            "template": pod_template()
        }}),
        "StatefulSet" => json!({"spec": {
            "minReadySeconds": null, "ordinals": null,
            "persistentVolumeClaimRetentionPolicy": null, "podManagementPolicy": null,
            "replicas": null, "revisionHistoryLimit": null, "selector": label_selector(),
            "serviceName": "s", "template": pod_template(), "updateStrategy": null,
            "volumeClaimTemplates": [{
                "apiVersion": null, "kind": null, "metadata": object_meta(), "spec": pvc_spec(),
                "status": null
            }]
        }}),
        "Job" => json!({"spec": {
            "activeDeadlineSeconds": null, "backoffLimit": null, "backoffLimitPerIndex": null,
            "completionMode": null, "completions": null, "managedBy": null,
            "manualSelector": null, "maxFailedIndexes": null, "parallelism": null,
            "podFailurePolicy": null, "podReplacementPolicy": null,
            "selector": label_selector(), "successPolicy": null, "suspend": null,
            "template": pod_template(), "ttlSecondsAfterFinished": null
        }}),
        "PodDisruptionBudget" => json!({"spec": {
            "maxUnavailable": null, "minAvailable": null, "selector": label_selector(),
            "unhealthyPodEvictionPolicy": null
        }}),
        "NetworkPolicy" => json!({"spec": {
            "egress": null, "ingress": null, "podSelector": label_selector(), "policyTypes": null
        }}),
        "Lease" => json!({"spec": {
            "acquireTime": null, "holderIdentity": null, "leaseDurationSeconds": null,
            "leaseTransitions": null, "preferredHolder": null, "renewTime": null,
            "strategy": null
        }}),
        "StorageClass" => json!({
            "allowVolumeExpansion": null, "allowedTopologies": null, "mountOptions": null,
            "parameters": "ms", "provisioner": "s", "reclaimPolicy": "s",
            "volumeBindingMode": null
        }),
        "VolumeAttachment" => json!({"spec": {
            "attacher": "s", "nodeName": "s",
            "source": {"persistentVolumeName": "s", "inlineVolumeSpec": null}
        }}),
        _ => json!({}),
    }
}

fn build(kind: &str) -> Value {
    let mut schema = json!({"apiVersion": null, "kind": null, "metadata": object_meta()});
    if let (Some(all), Value::Object(extra)) = (schema.as_object_mut(), kind_fields(kind)) {
        all.extend(extra);
        all.entry("status").or_insert(Value::Null);
    }
    schema
}

fn schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        super::kinds::KINDS
            .iter()
            .map(|k| (k.kind.to_string(), build(k.kind)))
            .collect()
    })
}

/// What is wrong with an object's fields, as found by [`check`].
#[derive(Debug, Default, PartialEq)]
pub struct FieldProblems {
    /// Dotted paths of fields the kind does not have, e.g.
    /// `spec.template.spec.containers[0].imagee`.
    pub unknown: Vec<String>,
    /// Values of the wrong JSON type: (path, expected Go type, JSON type found).
    pub wrong_type: Vec<(String, &'static str, &'static str)>,
}

/// Walks `object` against the kind's schema.
pub fn check(info: &KindInfo, object: &Value) -> FieldProblems {
    let mut out = FieldProblems::default();
    if let Some(schema) = schemas().get(info.kind) {
        walk(schema, object, "", &mut out);
    }
    out
}

/// Removes unknown fields (what the server does for `fieldValidation=Ignore|Warn`).
pub fn prune(info: &KindInfo, object: &mut Value) {
    if let Some(schema) = schemas().get(info.kind) {
        prune_walk(schema, object);
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(schema: &Value, data: &Value, path: &str, out: &mut FieldProblems) {
    let wrong = |out: &mut FieldProblems, expected: &'static str, found: &Value| {
        out.wrong_type
            .push((path.to_string(), expected, type_name(found)));
    };
    match (schema, data) {
        (_, Value::Null) | (Value::Null, _) => {}
        (Value::String(m), Value::String(_)) if m == "s" => {}
        (Value::String(m), Value::Array(items)) if m == "as" => {
            for (i, item) in items.iter().enumerate() {
                walk(&Value::from("s"), item, &format!("{path}[{i}]"), out);
            }
        }
        (Value::String(m), Value::Object(map)) if m == "ms" => {
            for (key, value) in map {
                walk(&Value::from("s"), value, &join(path, key), out);
            }
        }
        (Value::String(m), other) => match m.as_str() {
            "as" => wrong(out, "[]string", other),
            "ms" => wrong(out, "map[string]string", other),
            _ => wrong(out, "string", other),
        },
        (Value::Array(element), Value::Array(items)) => {
            if let Some(element) = element.first() {
                for (i, item) in items.iter().enumerate() {
                    walk(element, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        (Value::Array(_), other) => wrong(out, "array", other),
        (Value::Object(allowed), Value::Object(fields)) => {
            for (key, value) in fields {
                match allowed.get(key) {
                    Some(sub) => walk(sub, value, &join(path, key), out),
                    None => out.unknown.push(join(path, key)),
                }
            }
        }
        (Value::Object(_), other) => wrong(out, "object", other),
        _ => {}
    }
}

fn prune_walk(schema: &Value, data: &mut Value) {
    match (schema, data) {
        (Value::Array(element), Value::Array(items)) => {
            if let Some(element) = element.first() {
                items.iter_mut().for_each(|i| prune_walk(element, i));
            }
        }
        (Value::Object(allowed), Value::Object(fields)) => {
            fields.retain(|k, _| allowed.contains_key(k));
            for (key, value) in fields.iter_mut() {
                if let Some(sub) = allowed.get(key) {
                    prune_walk(sub, value);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::kinds::by_kind;

    #[test]
    fn finds_unknown_fields_at_depth() {
        let info = by_kind("Deployment").expect("known");
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "bogus": 1,
            "metadata": {"name": "a", "labelz": {}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}
        });
        assert_eq!(
            check(info, &obj).unknown,
            vec![
                "bogus",
                "metadata.labelz",
                "spec.template.spec.containers[0].imagee"
            ]
        );
        let mut pruned = obj.clone();
        prune(info, &mut pruned);
        assert!(check(info, &pruned).unknown.is_empty());
    }

    #[test]
    fn finds_wrong_types() {
        let info = by_kind("ConfigMap").expect("known");
        let obj =
            json!({"metadata": {"name": "a", "labels": {"n": 3}}, "data": {"k": true, "ok": "x"}});
        assert_eq!(
            check(info, &obj).wrong_type,
            vec![
                ("data.k".to_string(), "string", "bool"),
                ("metadata.labels.n".to_string(), "string", "number")
            ]
        );
        let info = by_kind("Deployment").expect("known");
        let obj =
            json!({"spec": {"template": {"spec": {"containers": {"name": "c"}}}}, "metadata": "x"});
        assert_eq!(
            check(info, &obj).wrong_type,
            vec![
                ("metadata".to_string(), "object", "string"),
                (
                    "spec.template.spec.containers".to_string(),
                    "array",
                    "object"
                )
            ]
        );
    }
}

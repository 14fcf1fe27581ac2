//! What the controllers of a real cluster would do, instantly: workloads report every replica
//! ready, Jobs complete, LoadBalancers get an address, claims bind to volumes (pre-bound,
//! by claimRef, or dynamically provisioned from a StorageClass), volumes whose claim is
//! gone are Released (Retain) or deleted (Delete), snapshots are taken (`snapshots`), and
//! workloads have their pods (`pods`).

use super::kinds::KindInfo;
use super::pods::str_of;
use super::store::{Key, Store};
use super::time::now;
use serde_json::{json, Value};

/// Sets the `status` a controller would report for the desired object.
pub fn derive_status(store: &mut Store, info: &KindInfo, obj: &mut Value, old: Option<&Value>) {
    let since = old
        .and_then(|o| o["metadata"]["creationTimestamp"].as_str())
        .map(String::from)
        .unwrap_or_else(now);
    let status = match info.kind {
        "Namespace" => json!({"phase": "Active"}),
        "Deployment" => deployment_status(obj, &since),
        "StatefulSet" => statefulset_status(obj),
        "Job" => {
            let ok = super::curl_jobs::run(store, obj);
            job_status(obj, &since, ok)
        }
        "Service" if obj["spec"]["type"] == "LoadBalancer" => {
            let kept = old
                .map(|o| o["status"]["loadBalancer"]["ingress"].clone())
                .filter(|v| v.is_array());
            let ingress = kept.unwrap_or_else(|| {
                json!([{"ip": format!("203.0.113.{}", store.next_serial() % 250 + 1), "ipMode": "VIP"}])
            });
            json!({"loadBalancer": {"ingress": ingress}})
        }
        "PersistentVolume" if obj["status"].is_null() => json!({"phase": "Pending"}),
        "PersistentVolumeClaim" if obj["status"].is_null() => json!({"phase": "Pending"}),
        _ => return,
    };
    obj["status"] = status;
}

fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn deployment_status(obj: &Value, since: &str) -> Value {
    let n = replicas(obj);
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({
            "type": kind, "status": "True", "reason": reason, "message": message,
            "lastUpdateTime": since, "lastTransitionTime": since
        })
    };
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let mut status = json!({
        "observedGeneration": 1,
        "conditions": [
            condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition(
                "Progressing",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{name}-{}\" has successfully progressed.", template_hash(obj)),
            ),
        ]
    });
    if n > 0 {
        for field in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            status[field] = n.into();
        }
    }
    status
}

fn statefulset_status(obj: &Value) -> Value {
    let n = replicas(obj);
    let revision = format!(
        "{}-{}",
        obj["metadata"]["name"].as_str().unwrap_or(""),
        template_hash(obj)
    );
    let mut status = json!({
        "observedGeneration": 1, "replicas": n, "collisionCount": 0,
        "currentRevision": revision, "updateRevision": revision
    });
    if n > 0 {
        for field in [
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
            "availableReplicas",
        ] {
            status[field] = n.into();
        }
    }
    status
}

fn job_status(obj: &Value, since: &str, ok: bool) -> Value {
    if obj["spec"]["suspend"] == true {
        return json!({"conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended",
            "lastProbeTime": since, "lastTransitionTime": since}]});
    }
    if !ok {
        // Every attempt failed the same way: the backoff limit is reached.
        let failed = obj["spec"]["backoffLimit"].as_i64().unwrap_or(6) + 1;
        return json!({
            "startTime": since, "failed": failed, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                 "lastProbeTime": since, "lastTransitionTime": since},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "lastProbeTime": since, "lastTransitionTime": since},
            ]
        });
    }
    let completions = obj["spec"]["completions"].as_i64().unwrap_or(1);
    let condition = |kind: &str, reason: &str| {
        json!({"type": kind, "status": "True", "reason": reason,
            "lastProbeTime": since, "lastTransitionTime": since})
    };
    json!({
        "startTime": since, "completionTime": since, "succeeded": completions,
        "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
        "conditions": [
            condition("SuccessCriteriaMet", "CompletionsReached"),
            condition("Complete", "CompletionsReached"),
        ]
    })
}

/// A short stable hash of the pod template, like a ReplicaSet's pod-template-hash.
pub(super) fn template_hash(obj: &Value) -> String {
    let text = obj["spec"]["template"].to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

/// Brings claims and volumes to a consistent state after any change.
pub fn reconcile(store: &mut Store) {
    bind_claims(store);
    super::resizer::resize_volumes(store);
    update_claims(store);
    update_volumes(store);
    // A snapshot made ready just now lets the claims restored from it bind in the same pass.
    if super::snapshots::reconcile(store) {
        bind_claims(store);
        update_claims(store);
        update_volumes(store);
    }
    super::attach::reconcile(store);
    super::pods::reconcile(store);
    // A claim freed just now (its last pod gone) goes, and its volume is released.
    if super::graceful::finish(store) {
        update_claims(store);
        update_volumes(store);
    }
}

/// Whether the volume may bind to the claim: its claimRef is empty or names this claim.
fn volume_accepts(pv: &Value, pvc: &Value) -> bool {
    let claim_ref = &pv["spec"]["claimRef"];
    if !claim_ref.is_object() {
        return true;
    }
    str_of(claim_ref, &["namespace"]) == str_of(pvc, &["metadata", "namespace"])
        && str_of(claim_ref, &["name"]) == str_of(pvc, &["metadata", "name"])
        && (claim_ref["uid"].is_null() || claim_ref["uid"] == pvc["metadata"]["uid"])
}

pub(super) fn pv_key(name: &str) -> Key {
    ("PersistentVolume".into(), String::new(), name.into())
}

/// Gives claims without `volumeName` a volume: one whose claimRef names them, or a new one
/// from their StorageClass's provisioner.
fn bind_claims(store: &mut Store) {
    for key in store.keys_of("PersistentVolumeClaim") {
        let Some(pvc) = store.by_key(&key).cloned() else {
            continue;
        };
        if !str_of(&pvc, &["spec", "volumeName"]).is_empty() {
            continue;
        }
        let class = str_of(&pvc, &["spec", "storageClassName"]).to_string();
        // Delayed binding: nothing until the scheduler names the Node of a pod using it.
        let selected = pvc["metadata"]["annotations"][super::scheduler::SELECTED_NODE]
            .as_str()
            .map(str::to_string);
        if selected.is_none() && super::scheduler::waits_for_consumer(store, &pvc) {
            continue;
        }
        let reserved = store.keys_of("PersistentVolume").into_iter().find(|k| {
            store.by_key(k).is_some_and(|pv| {
                pv["spec"]["claimRef"].is_object()
                    && volume_accepts(pv, &pvc)
                    && str_of(pv, &["spec", "storageClassName"]) == class
            })
        });
        let volume = match reserved {
            Some((_, _, name)) => Some(name),
            None if super::snapshots::source_ready(store, &pvc) => {
                provision(store, &pvc, &class, selected.as_deref())
            }
            None => None,
        };
        if let Some(volume) = volume {
            store.controller_update(&key, |pvc| pvc["spec"]["volumeName"] = volume.into());
        }
    }
}

/// Binds what the scheduler just allowed to bind (claims given a selected Node).
pub(super) fn bind_now(store: &mut Store) {
    bind_claims(store);
    update_claims(store);
    update_volumes(store);
}

/// Creates a volume for the claim when its class has a real provisioner; for a claim whose
/// pod's Node was selected, in that Node's zone (the volume's node affinity says which).
fn provision(store: &mut Store, pvc: &Value, class: &str, node: Option<&str>) -> Option<String> {
    if class.is_empty() {
        return None;
    }
    let sc = store
        .by_key(&("StorageClass".into(), String::new(), class.into()))?
        .clone();
    let provisioner = str_of(&sc, &["provisioner"]);
    if provisioner.is_empty() || provisioner == "kubernetes.io/no-provisioner" {
        return None;
    }
    let uid = str_of(pvc, &["metadata", "uid"]);
    let name = format!("pvc-{uid}");
    let pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "uid": store.new_uid(),
            "creationTimestamp": now(),
            "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
            "finalizers": ["kubernetes.io/pv-protection"]
        },
        "spec": {
            "accessModes": pvc["spec"]["accessModes"],
            "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": pvc["metadata"]["namespace"], "name": pvc["metadata"]["name"],
                "uid": uid
            },
            "csi": {"driver": provisioner, "volumeHandle": name, "fsType": "ext4"},
            "persistentVolumeReclaimPolicy": sc["reclaimPolicy"].as_str().unwrap_or("Delete"),
            "storageClassName": class,
            "volumeMode": "Filesystem"
        },
        "status": {"phase": "Bound"}
    });
    let zone = node
        .and_then(|n| store.by_key(&("Node".into(), String::new(), n.into())))
        .and_then(|n| super::scheduler::node_label(n, super::scheduler::ZONE_LABEL));
    let mut pv = pv;
    if let Some(zone) = zone {
        pv["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": super::scheduler::ZONE_LABEL, "operator": "In", "values": [zone]}
        ]}]}});
    }
    store.insert_raw(pv_key(&name), pv);
    Some(name)
}

fn update_claims(store: &mut Store) {
    for key in store.keys_of("PersistentVolumeClaim") {
        let Some(pvc) = store.by_key(&key).cloned() else {
            continue;
        };
        let volume_name = str_of(&pvc, &["spec", "volumeName"]);
        // The binder binds a claim only to a volume of its class ("storageClassName does not
        // match", pkg/controller/volume/persistentvolume/pv_controller.go,
        // checkVolumeSatisfyClaim); a bound claim is not checked again.
        let same_class = |pv: &Value| {
            pvc["status"]["phase"] == "Bound"
                || str_of(pv, &["spec", "storageClassName"])
                    == str_of(&pvc, &["spec", "storageClassName"])
        };
        let bound_to = store
            .by_key(&pv_key(volume_name))
            .filter(|pv| !volume_name.is_empty() && volume_accepts(pv, &pvc) && same_class(pv))
            .cloned();
        let status = match bound_to {
            Some(pv) => json!({
                "phase": "Bound",
                "accessModes": pv["spec"]["accessModes"],
                "capacity": pv["spec"]["capacity"]
            }),
            None if pvc["status"]["phase"] == "Bound" || pvc["status"]["phase"] == "Lost" => {
                json!({"phase": "Lost"})
            }
            None => json!({"phase": "Pending"}),
        };
        store.controller_update(&key, |pvc| pvc["status"] = status);
    }
}

fn update_volumes(store: &mut Store) {
    let claims: Vec<Value> = store
        .keys_of("PersistentVolumeClaim")
        .iter()
        .filter_map(|k| store.by_key(k).cloned())
        .filter(|pvc| pvc["status"]["phase"] == "Bound")
        .collect();
    for key in store.keys_of("PersistentVolume") {
        let Some(pv) = store.by_key(&key).cloned() else {
            continue;
        };
        let name = key.2.as_str();
        let claim = claims
            .iter()
            .find(|pvc| str_of(pvc, &["spec", "volumeName"]) == name);
        let phase = pv["status"]["phase"].as_str().unwrap_or("");
        match claim {
            Some(pvc) => {
                let claim_ref = json!({
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "namespace": pvc["metadata"]["namespace"], "name": pvc["metadata"]["name"],
                    "uid": pvc["metadata"]["uid"]
                });
                store.controller_update(&key, |pv| {
                    let current = &mut pv["spec"]["claimRef"];
                    if current.is_object() {
                        for field in ["apiVersion", "kind", "uid"] {
                            if current[field].is_null() {
                                current[field] = claim_ref[field].clone();
                            }
                        }
                    } else {
                        *current = claim_ref;
                    }
                    pv["status"] = json!({"phase": "Bound"});
                });
            }
            // A volume whose claimRef lost its uid is reserved for a claim of that name that
            // does not exist yet: Available again (the PV controller's syncVolume).
            None if (phase == "Bound" || phase == "Released")
                && !pv["spec"]["claimRef"]["uid"].is_null() =>
            {
                if pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete" {
                    store.remove_raw(&key);
                } else {
                    store.controller_update(&key, |pv| pv["status"] = json!({"phase": "Released"}));
                }
            }
            None => {
                store.controller_update(&key, |pv| pv["status"] = json!({"phase": "Available"}))
            }
        }
    }
}

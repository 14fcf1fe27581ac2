//! Deletions that wait, as on a real cluster.
//!
//! A Pod deleted gracefully is only marked (`deletionTimestamp`, Terminating) and goes once
//! its kubelet confirms; the bed's kubelets answer at once, except on a Node that is not
//! Ready (a zone that is down), whose pods stay Terminating until a delete with
//! `gracePeriodSeconds: 0` (kubectl `--force --grace-period=0`) removes them. A pod never
//! scheduled, or already Succeeded/Failed, goes at once (k8s.io/kubernetes
//! pkg/registry/core/pod/strategy.go, CheckGracefulDelete); so does a pod whose Node object
//! is gone (the pod garbage collector, pkg/controller/podgc). This includes the ReplicaSet
//! and StatefulSet controllers' own deletes (scaled to 0, template changed).
//!
//! A PersistentVolumeClaim deleted while a Pod uses it keeps its `kubernetes.io/pvc-protection`
//! finalizer (deletionTimestamp set, still Bound) until no Pod does
//! (pkg/controller/volume/pvcprotection/pvc_protection_controller.go: a pod uses the claim
//! when it is scheduled, names the claim in a volume and is not shut down; a Terminating pod
//! still uses it, a force-deleted one is gone).

use super::pods::str_of;
use super::store::{Key, Store};
use serde_json::{json, Value};

/// The finalizer the StorageObjectInUseProtection admission plugin puts on every claim.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";

/// Whether the pod's kubelet can confirm a graceful delete now: the pod is on no Node, its
/// Node is gone, or its Node is Ready.
fn kubelet_confirms(store: &Store, pod: &Value) -> bool {
    if matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) {
        return true;
    }
    let node = str_of(pod, &["spec", "nodeName"]);
    if node.is_empty() {
        return true;
    }
    store
        .by_key(&("Node".into(), String::new(), node.into()))
        .is_none_or(super::scheduler::node_ready)
}

/// Deletes a pod as a graceful delete does: gone now, or Terminating until its kubelet answers.
/// Returns the pod as it is after the call.
pub(super) fn delete_pod(store: &mut Store, key: &Key, grace_period: Option<i64>) -> Option<Value> {
    let pod = store.by_key(key)?.clone();
    if grace_period == Some(0) || kubelet_confirms(store, &pod) {
        store.remove_raw(key);
        let mut gone = pod;
        gone["metadata"]["deletionGracePeriodSeconds"] = 0.into();
        return Some(gone);
    }
    if pod["metadata"]["deletionTimestamp"].is_null() {
        let grace = grace_period
            .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30);
        store.controller_update(key, |p| {
            p["metadata"]["deletionTimestamp"] = super::time::now().into();
            p["metadata"]["deletionGracePeriodSeconds"] = grace.into();
        });
    }
    store.by_key(key).cloned()
}

pub(super) fn terminating(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null()
}

/// Whether a pod in the claim's namespace uses it (see the module doc).
fn claim_in_use(store: &Store, namespace: &str, claim: &str) -> bool {
    store.keys_of("Pod").iter().any(|k| {
        k.1 == namespace
            && store.by_key(k).is_some_and(|pod| {
                !str_of(pod, &["spec", "nodeName"]).is_empty()
                    && !matches!(
                        pod["status"]["phase"].as_str(),
                        Some("Succeeded" | "Failed")
                    )
                    && pod["spec"]["volumes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
            })
    })
}

/// Deletes a claim: gone now when no pod uses it and it has no other finalizer, else marked
/// Terminating. Returns the claim as it is after the call.
pub(super) fn delete_claim(store: &mut Store, key: &Key) -> Option<Value> {
    let claim = store.by_key(key)?.clone();
    if !terminating(&claim) {
        store.controller_update(key, |c| {
            protect_claim(c);
            c["metadata"]["deletionTimestamp"] = super::time::now().into();
            c["metadata"]["deletionGracePeriodSeconds"] = 0.into();
        });
    }
    finish(store);
    Some(store.by_key(key).cloned().unwrap_or(claim))
}

/// Finishes what may finish: Terminating pods whose kubelet now answers, claims no pod uses
/// any more (their protection finalizer dropped, and gone once no finalizer is left).
/// Returns whether a claim went.
pub(super) fn finish(store: &mut Store) -> bool {
    let mut claim_gone = false;
    for key in store.keys_of("Pod") {
        let Some(pod) = store.by_key(&key) else {
            continue;
        };
        if terminating(pod) && kubelet_confirms(store, pod) {
            store.remove_raw(&key);
        }
    }
    for key in store.keys_of("PersistentVolumeClaim") {
        let Some(claim) = store.by_key(&key) else {
            continue;
        };
        if !terminating(claim) || claim_in_use(store, &key.1, &key.2) {
            continue;
        }
        store.controller_update(&key, |c| {
            if let Some(list) = c["metadata"]["finalizers"].as_array_mut() {
                list.retain(|f| f != PVC_PROTECTION);
            }
        });
        let left = store
            .by_key(&key)
            .and_then(|c| c["metadata"]["finalizers"].as_array())
            .is_some_and(|f| !f.is_empty());
        if !left {
            store.remove_raw(&key);
            claim_gone = true;
        }
    }
    claim_gone
}

/// Adds the protection finalizer the admission plugin would have put on the claim when it was
/// made (the bed adds it when the claim is deleted, so applies never see it).
fn protect_claim(obj: &mut Value) {
    let finalizers = &mut obj["metadata"]["finalizers"];
    if !finalizers.is_array() {
        *finalizers = json!([]);
    }
    if let Some(list) = finalizers.as_array_mut() {
        if !list.iter().any(|f| f == PVC_PROTECTION) {
            list.push(PVC_PROTECTION.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_key() -> Key {
        ("Pod".into(), "default".into(), "es-1-0".into())
    }

    fn claim_key() -> Key {
        (
            "PersistentVolumeClaim".into(),
            "default".into(),
            "data".into(),
        )
    }

    /// A pod on Node `n-c` (Ready or not) mounting claim `data`, bound to `pv-1`.
    fn seed(store: &mut Store, node_ready: bool) {
        let status = if node_ready { "True" } else { "Unknown" };
        store.seed(json!({"kind": "Node", "metadata": {"name": "n-c"},
            "status": {"conditions": [{"type": "Ready", "status": status}]}}));
        store.seed(
            json!({"kind": "PersistentVolume", "metadata": {"name": "pv-1"},
            "spec": {"csi": {"driver": "pd.csi.storage.gke.io", "volumeHandle": "h"},
                "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain"}}),
        );
        store.seed(json!({"kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "default"},
            "spec": {"volumeName": "pv-1", "accessModes": ["ReadWriteOnce"]}}));
        store.seed(
            json!({"kind": "Pod", "metadata": {"name": "es-1-0", "namespace": "default"},
            "spec": {"nodeName": "n-c", "containers": [{"name": "es", "image": "x"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]},
            "status": {"phase": "Running"}}),
        );
    }

    #[test]
    fn a_pod_on_an_unreachable_node_stays_terminating_until_forced() {
        let mut store = Store::new();
        seed(&mut store, false);
        let after = delete_pod(&mut store, &pod_key(), None).expect("pod");
        assert!(terminating(&after), "{after}");
        assert_eq!(after["metadata"]["deletionGracePeriodSeconds"], 30);
        finish(&mut store);
        assert!(
            store.by_key(&pod_key()).is_some(),
            "its kubelet never confirmed"
        );
        // Deleted gracefully again: still there; forced: gone.
        delete_pod(&mut store, &pod_key(), Some(30));
        assert!(store.by_key(&pod_key()).is_some());
        delete_pod(&mut store, &pod_key(), Some(0));
        assert!(store.by_key(&pod_key()).is_none());
    }

    #[test]
    fn a_pod_on_a_ready_node_goes_at_once() {
        let mut store = Store::new();
        seed(&mut store, true);
        delete_pod(&mut store, &pod_key(), None);
        assert!(store.by_key(&pod_key()).is_none());
    }

    #[test]
    fn a_claim_in_use_stays_bound_and_protected_until_its_last_pod_goes() {
        let mut store = Store::new();
        seed(&mut store, false);
        super::super::controllers::reconcile(&mut store);
        // Terminating pods still use the claim.
        delete_pod(&mut store, &pod_key(), None);
        let claim = delete_claim(&mut store, &claim_key()).expect("claim");
        assert!(terminating(&claim), "{claim}");
        assert_eq!(claim["metadata"]["finalizers"], json!([PVC_PROTECTION]));
        let kept = store.by_key(&claim_key()).expect("kept").clone();
        assert_eq!(kept["status"]["phase"], "Bound", "{kept}");
        // The pod forced away: the claim goes with its finalizer.
        delete_pod(&mut store, &pod_key(), Some(0));
        assert!(finish(&mut store));
        assert!(store.by_key(&claim_key()).is_none());
    }

    #[test]
    fn an_unused_claim_or_one_used_by_a_finished_pod_goes_at_once() {
        let mut store = Store::new();
        seed(&mut store, false);
        store.controller_update(&pod_key(), |p| p["status"]["phase"] = "Succeeded".into());
        delete_claim(&mut store, &claim_key());
        assert!(store.by_key(&claim_key()).is_none());
    }
}

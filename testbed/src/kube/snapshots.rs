//! The external-snapshotter's controller, instantly: a VolumeSnapshot of a bound claim gets a
//! VolumeSnapshotContent and is ready; one of a missing or unbound claim reports the error a
//! real controller reports and stays not ready; contents whose snapshot is gone follow their
//! deletionPolicy. Served only once a test installs the CRDs (`install_volume_snapshots`).

use super::pods::str_of;
use super::store::{Key, Store};
use super::time::now;
use serde_json::{json, Value};

pub(super) const DEFAULT_CLASS: &str = "snapshot.storage.kubernetes.io/is-default-class";

/// Returns whether a snapshot became ready.
pub fn reconcile(store: &mut Store) -> bool {
    let ready = make_contents(store);
    drop_orphaned_contents(store);
    ready
}

/// The class a snapshot names, or the default one.
fn class_of(store: &Store, snapshot: &Value) -> Option<Value> {
    let wanted = str_of(snapshot, &["spec", "volumeSnapshotClassName"]);
    store
        .keys_of("VolumeSnapshotClass")
        .iter()
        .filter_map(|k| store.by_key(k))
        .find(|c| {
            if wanted.is_empty() {
                str_of(c, &["metadata", "annotations", DEFAULT_CLASS]) == "true"
            } else {
                str_of(c, &["metadata", "name"]) == wanted
            }
        })
        .cloned()
}

fn make_contents(store: &mut Store) -> bool {
    let mut ready = false;
    for key in store.keys_of("VolumeSnapshot") {
        let Some(snapshot) = store.by_key(&key).cloned() else {
            continue;
        };
        if snapshot["status"]["readyToUse"] == true {
            continue;
        }
        let claim_name = str_of(&snapshot, &["spec", "source", "persistentVolumeClaimName"]);
        let claim_key: Key = (
            "PersistentVolumeClaim".into(),
            key.1.clone(),
            claim_name.into(),
        );
        let claim = store.by_key(&claim_key).cloned();
        let volume = claim.as_ref().and_then(|c| {
            let pv = str_of(c, &["spec", "volumeName"]);
            store
                .by_key(&("PersistentVolume".into(), String::new(), pv.into()))
                .cloned()
        });
        let class = class_of(store, &snapshot);
        let found = match (claim, volume, class) {
            (Some(claim), Some(volume), Some(class)) => Ok((claim, volume, class)),
            (None, _, _) => Err(format!(
                "failed to get input parameters to create snapshot {}: \"persistentvolumeclaims \\\"{claim_name}\\\" not found\"",
                key.2
            )),
            (Some(_), None, _) => Err(format!(
                "the PVC {claim_name} is not yet bound to a PV, will not attempt to take a snapshot"
            )),
            (_, _, None) => Err("cannot find default snapshot class".to_string()),
        };
        let (claim, volume, class) = match found {
            Ok(found) => found,
            Err(message) => {
                store.controller_update(&key, |s| {
                    s["status"] =
                        json!({"readyToUse": false, "error": {"message": message, "time": now()}});
                });
                continue;
            }
        };
        let uid = str_of(&snapshot, &["metadata", "uid"]).to_string();
        let content_name = format!("snapcontent-{uid}");
        let size = claim["status"]["capacity"]["storage"].clone();
        let content = json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name, "uid": store.new_uid(), "creationTimestamp": now()},
            "spec": {
                "deletionPolicy": class["deletionPolicy"],
                "driver": class["driver"],
                "source": {"volumeHandle": volume["spec"]["csi"]["volumeHandle"]},
                "volumeSnapshotClassName": class["metadata"]["name"],
                "volumeSnapshotRef": {
                    "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                    "name": key.2, "namespace": key.1, "uid": uid,
                },
            },
            "status": {"readyToUse": true, "snapshotHandle": format!("snap-{uid}")},
        });
        store.insert_raw(
            (
                "VolumeSnapshotContent".into(),
                String::new(),
                content_name.clone(),
            ),
            content,
        );
        store.controller_update(&key, |s| {
            s["status"] = json!({
                "boundVolumeSnapshotContentName": content_name,
                "creationTime": now(),
                "readyToUse": true,
                "restoreSize": size,
            });
        });
        ready = true;
    }
    ready
}

fn drop_orphaned_contents(store: &mut Store) {
    for key in store.keys_of("VolumeSnapshotContent") {
        let Some(content) = store.by_key(&key).cloned() else {
            continue;
        };
        let r = &content["spec"]["volumeSnapshotRef"];
        let snapshot = (
            "VolumeSnapshot".into(),
            str_of(r, &["namespace"]).to_string(),
            str_of(r, &["name"]).to_string(),
        );
        let alive = store
            .by_key(&snapshot)
            .is_some_and(|s| s["metadata"]["uid"] == r["uid"]);
        if !alive && content["spec"]["deletionPolicy"] == "Delete" {
            store.remove_raw(&key);
        }
    }
}

/// Whether a claim may be provisioned: one restored from a VolumeSnapshot waits until that
/// snapshot (in its namespace) is ready, as the external-provisioner does.
pub fn source_ready(store: &Store, claim: &Value) -> bool {
    let source = &claim["spec"]["dataSource"];
    if source["kind"] != "VolumeSnapshot" {
        return true;
    }
    let key: Key = (
        "VolumeSnapshot".into(),
        str_of(claim, &["metadata", "namespace"]).to_string(),
        str_of(source, &["name"]).to_string(),
    );
    store
        .by_key(&key)
        .is_some_and(|s| s["status"]["readyToUse"] == true)
}

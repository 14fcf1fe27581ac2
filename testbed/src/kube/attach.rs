//! What the attach/detach controller and the CSI external-attacher do, when switched on with
//! [`Tracker::set_linger`]: a volume mounted by a running workload has a VolumeAttachment
//! (`storage.k8s.io/v1`); once nothing mounts it, the attachment is deleted but lingers for
//! a while (the detach), as a real one outlives its pod by seconds to minutes. Evaluated on
//! every request and after every write, so no thread is needed.

use super::store::{Key, Store};
use super::time::now;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const KIND: &str = "VolumeAttachment";
/// The node an attachment names when the cluster has no Node objects.
const DEFAULT_NODE: &str = "node-1";
const ZONE_LABELS: &[&str] = &[
    "topology.kubernetes.io/zone",
    "topology.gke.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
];

/// The attachments made here and the linger setting (off by default).
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    linger: Option<Duration>,
    /// Name of each attachment made here → when it goes, once it is detaching.
    managed: BTreeMap<String, Option<Instant>>,
}

impl Tracker {
    pub fn set_linger(&mut self, linger: Option<Duration>) {
        self.linger = linger;
    }
}

/// One attachment that should exist.
struct Wanted {
    volume: String,
    driver: String,
    node: String,
}

fn key(name: &str) -> Key {
    (KIND.into(), String::new(), name.into())
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn items<'a>(v: &'a Value, path: &[&str]) -> impl Iterator<Item = &'a Value> {
    path.iter()
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Brings the attachments in line with the workloads; does nothing while switched off.
pub fn reconcile(store: &mut Store) {
    let mut tracker = std::mem::take(&mut store.attachments);
    if let Some(linger) = tracker.linger {
        sync(store, &mut tracker, linger, Instant::now());
    }
    store.attachments = tracker;
}

fn sync(store: &mut Store, tracker: &mut Tracker, linger: Duration, now: Instant) {
    let wanted = wanted(store);
    tracker
        .managed
        .retain(|name, _| store.by_key(&key(name)).is_some());
    for (name, gone_at) in tracker.managed.iter_mut() {
        if gone_at.is_none() && !wanted.contains_key(name) {
            *gone_at = Some(now + linger);
            let since = self::now();
            store.controller_update(&key(name), |va| {
                va["metadata"]["deletionTimestamp"] = since.into();
            });
        }
    }
    let due: Vec<String> = tracker
        .managed
        .iter()
        .filter(|(_, gone_at)| gone_at.is_some_and(|t| t <= now))
        .map(|(name, _)| name.clone())
        .collect();
    for name in due {
        store.remove_raw(&key(&name));
        tracker.managed.remove(&name);
    }
    for (name, want) in wanted {
        // One still detaching is replaced only once it is gone, as a real attach waits.
        if store.by_key(&key(&name)).is_some() {
            continue;
        }
        let attachment = json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": KIND,
            "metadata": {
                "name": name,
                "uid": store.new_uid(),
                "creationTimestamp": self::now(),
                "finalizers": [finalizer(&want.driver)]
            },
            "spec": {
                "attacher": want.driver,
                "nodeName": want.node,
                "source": {"persistentVolumeName": want.volume}
            },
            "status": {"attached": true}
        });
        store.insert_raw(key(&name), attachment);
        tracker.managed.insert(name, None);
    }
}

/// `external-attacher/<driver>` with every character but [a-zA-Z0-9-] made `-`, as the CSI
/// external-attacher names its finalizer.
fn finalizer(driver: &str) -> String {
    let mut name: String = driver
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.ends_with('-') {
        name.push('X');
    }
    format!("external-attacher/{name}")
}

/// Attachments that running workloads need, by name: `csi-` and the SHA-256 of volume,
/// driver and node, as Kubernetes names them.
fn wanted(store: &Store) -> BTreeMap<String, Wanted> {
    let mut out = BTreeMap::new();
    for kind in ["Deployment", "StatefulSet"] {
        for workload_key in store.keys_of(kind) {
            let Some(workload) = store.by_key(&workload_key) else {
                continue;
            };
            let namespace = workload_key.1.as_str();
            for claim in mounted_claims(workload) {
                if let Some(want) = attachment_for(store, namespace, &claim) {
                    let id = format!("{}{}{}", want.volume, want.driver, want.node);
                    out.insert(format!("csi-{}", crate::sha256::hex(id.as_bytes())), want);
                }
            }
        }
    }
    out
}

/// The claims a workload's pods mount while it has replicas: pod template volumes and, for
/// a StatefulSet, one claim per volumeClaimTemplate and ordinal.
fn mounted_claims(workload: &Value) -> Vec<String> {
    let replicas = workload["spec"]["replicas"].as_i64().unwrap_or(1);
    if replicas <= 0 {
        return Vec::new();
    }
    let volumes = items(workload, &["spec", "template", "spec", "volumes"]);
    let mut claims: Vec<String> = volumes
        .map(|v| text(v, &["persistentVolumeClaim", "claimName"]).to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if workload["kind"] == "StatefulSet" {
        let name = text(workload, &["metadata", "name"]);
        for template in items(workload, &["spec", "volumeClaimTemplates"]) {
            let template = text(template, &["metadata", "name"]);
            claims.extend((0..replicas).map(|i| format!("{template}-{name}-{i}")));
        }
    }
    claims
}

/// The attachment for a claim bound to a CSI volume, on the node its pod would run on.
fn attachment_for(store: &Store, namespace: &str, claim: &str) -> Option<Wanted> {
    let claim_key = (
        "PersistentVolumeClaim".into(),
        namespace.into(),
        claim.into(),
    );
    let pvc = store.by_key(&claim_key)?;
    let volume = text(pvc, &["spec", "volumeName"]);
    let pv = store.by_key(&("PersistentVolume".into(), String::new(), volume.into()))?;
    let driver = text(pv, &["spec", "csi", "driver"]);
    if volume.is_empty() || driver.is_empty() {
        return None;
    }
    Some(Wanted {
        volume: volume.to_string(),
        driver: driver.to_string(),
        node: node_for(store, namespace, claim, pv),
    })
}

/// The node of a scheduled pod that mounts the claim; else the first Node in the volume's
/// zone; else the first Node; else [`DEFAULT_NODE`].
fn node_for(store: &Store, namespace: &str, claim: &str, pv: &Value) -> String {
    let mounts_claim = |pod: &Value| {
        items(pod, &["spec", "volumes"])
            .any(|v| text(v, &["persistentVolumeClaim", "claimName"]) == claim)
    };
    let scheduled = store
        .keys_of("Pod")
        .into_iter()
        .filter(|k| k.1 == namespace)
        .filter_map(|k| store.by_key(&k))
        .filter(|pod| mounts_claim(pod))
        .map(|pod| text(pod, &["spec", "nodeName"]))
        .find(|node| !node.is_empty());
    if let Some(node) = scheduled {
        return node.to_string();
    }
    let zones: Vec<&str> = items(
        pv,
        &["spec", "nodeAffinity", "required", "nodeSelectorTerms"],
    )
    .flat_map(|term| items(term, &["matchExpressions"]))
    .filter(|e| ZONE_LABELS.contains(&text(e, &["key"])))
    .flat_map(|e| items(e, &["values"]))
    .filter_map(Value::as_str)
    .collect();
    let nodes: Vec<&Value> = store
        .keys_of("Node")
        .into_iter()
        .filter_map(|k| store.by_key(&k))
        .collect();
    let in_zone = nodes.iter().find(|node| {
        ZONE_LABELS
            .iter()
            .any(|label| zones.contains(&text(node, &["metadata", "labels", label])))
    });
    in_zone
        .or(nodes.first())
        .map(|node| text(node, &["metadata", "name"]).to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_NODE.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_mounted_volume(store: &mut Store, replicas: i64) {
        store.seed(json!({"kind": "Node", "metadata": {"name": "n-b",
            "labels": {"topology.kubernetes.io/zone": "z-b"}}}));
        store.seed(json!({"kind": "Node", "metadata": {"name": "n-a",
            "labels": {"topology.kubernetes.io/zone": "z-a"}}}));
        store.seed(
            json!({"kind": "PersistentVolume", "metadata": {"name": "pv-1"},
            "spec": {"csi": {"driver": "pd.csi.storage.gke.io", "volumeHandle": "h"},
                "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.gke.io/zone", "operator": "In", "values": ["z-b"]}]}]}}}}),
        );
        store.seed(json!({"kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "default"},
            "spec": {"volumeName": "pv-1", "accessModes": ["ReadWriteOnce"]}}));
        store.seed(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "es-1", "namespace": "default"},
            "spec": {"replicas": replicas, "template": {"spec": {"volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}}}));
    }

    fn attachments(store: &Store) -> Vec<Value> {
        store
            .keys_of(KIND)
            .iter()
            .filter_map(|k| store.by_key(k).cloned())
            .collect()
    }

    #[test]
    fn off_by_default() {
        let mut store = Store::new();
        seed_mounted_volume(&mut store, 1);
        reconcile(&mut store);
        assert!(attachments(&store).is_empty());
    }

    #[test]
    fn a_mounted_volume_is_attached_in_its_zone_and_lingers_once_unmounted() {
        let mut store = Store::new();
        store.attachments.set_linger(Some(Duration::from_secs(30)));
        seed_mounted_volume(&mut store, 1);
        let found = attachments(&store);
        assert_eq!(found.len(), 1);
        let va = &found[0];
        let id = "pv-1pd.csi.storage.gke.ion-b";
        let name = format!("csi-{}", crate::sha256::hex(id.as_bytes()));
        assert_eq!(va["metadata"]["name"], json!(name));
        assert_eq!(
            va["spec"],
            json!({"attacher": "pd.csi.storage.gke.io", "nodeName": "n-b",
                "source": {"persistentVolumeName": "pv-1"}})
        );
        assert_eq!(va["status"], json!({"attached": true}));
        assert_eq!(
            va["metadata"]["finalizers"],
            json!(["external-attacher/pd-csi-storage-gke-io"])
        );

        let deployment = ("Deployment".into(), "default".into(), "es-1".into());
        store.controller_update(&deployment, |d| d["spec"]["replicas"] = 0.into());
        let start = Instant::now();
        let mut tracker = std::mem::take(&mut store.attachments);
        sync(&mut store, &mut tracker, Duration::from_secs(30), start);
        let detaching = attachments(&store);
        assert_eq!(detaching.len(), 1);
        assert!(detaching[0]["metadata"]["deletionTimestamp"].is_string());
        sync(
            &mut store,
            &mut tracker,
            Duration::from_secs(30),
            start + Duration::from_secs(29),
        );
        assert_eq!(attachments(&store).len(), 1);
        sync(
            &mut store,
            &mut tracker,
            Duration::from_secs(30),
            start + Duration::from_secs(30),
        );
        assert!(attachments(&store).is_empty());
    }
}

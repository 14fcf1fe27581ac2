//! The vendor's restore step, as Kubernetes objects. EventStoreDB / KurrentDB documents a
//! restore as: the node is stopped, its files are put in place, and `chaser.chk` is copied
//! over `truncate.chk`, so the server truncates on its first start whatever the backup holds
//! past what was verified. On a disk made from a snapshot the files are in place; esk runs the
//! copy once per node, in a short Job mounting that node's claim, before any node workload
//! exists. A marker ConfigMap records which disks are done, so a re-run never repeats it.
//! Every restored member gets the step: voting nodes (`esk.io/node` 1, 2, …) and read-only
//! replicas (`r1`, `r2`, …) alike, as the vendor's procedure applies to every node restored.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::manifest::{Manifest, MANAGED_BY, NODE_LABEL};
use crate::spec::Spec;

/// Marks the restore Jobs and the marker of cluster <value>.
pub const RESTORE_LABEL: &str = "esk.io/restore-of";
/// The one image esk's helper Jobs run (as the kind directory Jobs do).
const JOB_IMAGE: &str = "busybox:1.36.1";

pub fn marker_name(spec: &Spec) -> String {
    format!("esk-restore.{}", spec.name)
}

/// Where a restore stands: the backup it is from and the disks (volume handles) whose
/// restore step has run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub backup: String,
    pub done: BTreeSet<String>,
}

impl Progress {
    pub fn from_configmap(cm: &Value) -> Option<Progress> {
        let data = &cm["data"];
        Some(Progress {
            backup: data["backup"].as_str()?.to_string(),
            done: data["done"]
                .as_str()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    pub fn manifest(&self, spec: &Spec) -> Manifest {
        let done: Vec<&str> = self.done.iter().map(String::as_str).collect();
        // The cluster's own labels: `esk delete` removes it with the cluster, so a later
        // restore into the same name starts afresh (or is refused while disks remain).
        let mut labels = crate::names::labels(spec, "restore", None);
        labels.insert(RESTORE_LABEL.into(), spec.name.to_string());
        let value = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": marker_name(spec),
                "namespace": spec.namespace.as_str(),
                "labels": labels,
            },
            "data": {"backup": self.backup, "done": done.join(",")},
        });
        Manifest::built("restore", "ConfigMap", &marker_name(spec), value)
    }
}

/// One member's claim and the handle of the disk behind it, from the manifests to apply.
/// `node` is the member number (`crate::replica`: a read-only replica j is `REPLICA_BASE + j`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeClaim {
    pub node: u8,
    pub claim: String,
    pub handle: String,
}

/// The storage objects (PersistentVolumes and their claims) and each node's claim.
pub fn storage(manifests: &[Manifest]) -> (Vec<Manifest>, Vec<NodeClaim>) {
    let kind = |m: &Manifest, k: &str| m.object.kind == k;
    let objects: Vec<Manifest> = manifests
        .iter()
        .filter(|m| kind(m, "PersistentVolume") || kind(m, "PersistentVolumeClaim"))
        .cloned()
        .collect();
    let json = |m: &Manifest| serde_json::to_value(&m.value).unwrap_or_default();
    let volumes: Vec<Value> = objects
        .iter()
        .filter(|m| kind(m, "PersistentVolume"))
        .map(json)
        .collect();
    let mut claims: Vec<NodeClaim> = objects
        .iter()
        .filter(|m| kind(m, "PersistentVolumeClaim"))
        .filter_map(|m| {
            let v = json(m);
            let node = member(&v)?;
            let volume = v["spec"]["volumeName"].as_str()?;
            let pv = volumes.iter().find(|p| p["metadata"]["name"] == volume)?;
            let handle = pv["spec"]["csi"]["volumeHandle"].as_str()?.to_string();
            Some(NodeClaim {
                node,
                claim: m.object.name.clone(),
                handle,
            })
        })
        .collect();
    // Claims esk does not render (--cloud dynamic: the adapter made them, from the
    // snapshot): the node workloads name them, and the claim stands for its disk.
    for m in manifests.iter().filter(|m| kind(m, "Deployment")) {
        let v = json(m);
        let Some(node) = member(&v) else {
            continue;
        };
        let volumes = v["spec"]["template"]["spec"]["volumes"].as_array();
        let claim = volumes
            .into_iter()
            .flatten()
            .filter(|vol| vol["name"] == "data")
            .find_map(|vol| vol["persistentVolumeClaim"]["claimName"].as_str());
        if let Some(claim) = claim.filter(|c| !claims.iter().any(|k| k.claim == *c)) {
            claims.push(NodeClaim {
                node,
                claim: claim.to_string(),
                handle: claim.to_string(),
            });
        }
    }
    claims.sort_by_key(|c| c.node);
    (objects, claims)
}

/// The member an object belongs to, from its `esk.io/node` label (`3`, `r2`).
fn member(v: &Value) -> Option<u8> {
    crate::domain::parse_member(v["metadata"]["labels"][NODE_LABEL].as_str()?)
}

/// The Job that runs the restore step on one node's disk: `cp` as an argument vector, no
/// shell, as the server's own user, nothing writable but the claim.
pub fn job(spec: &Spec, claim: &NodeClaim, uid: u64) -> Manifest {
    let name = format!(
        "{}-restore-{}",
        spec.name,
        crate::domain::member_label(claim.node)
    );
    let labels = json!({MANAGED_BY: "esk", RESTORE_LABEL: spec.name.as_str()});
    let pod = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "securityContext": {
            "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "runAsNonRoot": true,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [{
            "name": "truncate-checkpoint",
            "image": JOB_IMAGE,
            "command": ["cp", "/data/db/chaser.chk", "/data/db/truncate.chk"],
            "securityContext": {
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim.claim}}],
    });
    Manifest::job("restore", spec.namespace.as_str(), &name, &labels, pod)
}

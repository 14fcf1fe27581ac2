//! No disk of esk's own: each node's disk is a PersistentVolumeClaim provisioned by a
//! StorageClass. The claims are the disks, so they carry disk labels rather than the cluster's
//! object labels: `delete --keep-disks` leaves them, `delete --yes` removes them.

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::kubectl::Kubectl;
use super::process::args;
use super::{backup_of, snapshot_labels, DiskAdapter};
use crate::domain::{Backup, Disk, DiskSource, Owner};
use crate::manifest::{Manifest, ObjectRef, MANAGED_BY, NAMESPACE_LABEL, NODE_LABEL};
use crate::spec::Spec;

/// Marks a claim as a disk of cluster <value>.
pub const DISK_OF_LABEL: &str = "esk.io/disk-of";
/// VolumeSnapshots, as kubectl names them (the kind is a CRD, not one esk always applies).
const SNAPSHOTS: &str = "volumesnapshots.snapshot.storage.k8s.io";
/// How long a backup waits for the snapshot controller.
const SNAPSHOT_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

pub struct Dynamic {
    kubectl: Option<Kubectl>,
    spec: Spec,
    /// The VolumeSnapshot every claim made from now on is restored from.
    restore: super::RestoreSource,
}

impl Dynamic {
    pub fn offline(spec: &Spec) -> Dynamic {
        Dynamic {
            kubectl: None,
            spec: spec.clone(),
            restore: Default::default(),
        }
    }

    pub fn new(spec: &Spec, kubectl: &Kubectl) -> Dynamic {
        Dynamic {
            kubectl: Some(kubectl.clone()),
            spec: spec.clone(),
            restore: Default::default(),
        }
    }

    fn kubectl(&self) -> Result<&Kubectl> {
        self.kubectl
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("internal error: dynamic adapter used without kubectl"))
    }

    fn storage_class(&self) -> String {
        self.spec
            .profile
            .str("disk.storageClass")
            .unwrap_or_default()
    }

    /// What the plan says of the claims' StorageClass: a warning when it deletes volumes with
    /// their claims; on a Kubernetes cluster over several zones, how the volumes follow the
    /// pods' zone spread (`WaitForFirstConsumer`), or a warning that they may not (`Immediate`).
    pub fn class_notes(&self) -> Result<Vec<String>> {
        let classes = self
            .kubectl()?
            .get_json(&args(["storageclasses.storage.k8s.io"]))?;
        let wanted = self.storage_class();
        let class = classes["items"].as_array().into_iter().flatten().find(|c| {
            if wanted.is_empty() {
                c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"]
                    == "true"
            } else {
                c["metadata"]["name"] == wanted.as_str()
            }
        });
        let mut notes = Vec::new();
        notes.extend(match class {
            None if wanted.is_empty() => Some(
                "warning: the cluster has no default StorageClass; pass --set disk.storageClass=NAME"
                    .to_string(),
            ),
            None => Some(format!("warning: StorageClass {wanted} not found")),
            Some(c) if c["reclaimPolicy"].as_str().unwrap_or("Delete") == "Delete" => Some(format!(
                "warning: StorageClass {} has reclaimPolicy Delete: the data goes when a claim is \
                 deleted (esk keeps the claims on `delete --keep-disks`); prefer a Retain class",
                c["metadata"]["name"].as_str().unwrap_or("?")
            )),
            Some(_) => None,
        });
        let zones = &self.spec.location.kube_zones;
        if let (Some(c), true) = (class, zones.len() > 1) {
            let name = c["metadata"]["name"].as_str().unwrap_or("?");
            notes.push(if c["volumeBindingMode"] == "WaitForFirstConsumer" {
                format!(
                    "zones: the Kubernetes nodes are in {} zones ({}): the pods spread over \
                     them, and StorageClass {name} (WaitForFirstConsumer) makes each claim's \
                     volume in its pod's zone",
                    zones.len(),
                    zones.join(", ")
                )
            } else {
                // An Immediate class provisions when the claim is made, before any pod: the
                // provisioner picks the zone, and the pod must then go where its volume is,
                // whatever the spread asks.
                format!(
                    "warning: StorageClass {name} binds Immediate: each claim's volume gets a \
                     zone before its pod is scheduled, so the pods' spread over {} can leave \
                     a pod Pending (volume node affinity conflict) or several in one zone; pass \
                     --set disk.storageClass=NAME of a class with volumeBindingMode: \
                     WaitForFirstConsumer",
                    zones.join(", ")
                )
            });
        }
        Ok(notes)
    }

    /// Backups of claims need the snapshot.storage.k8s.io API (the external-snapshotter CRDs
    /// and controller, and a CSI driver with snapshots); without it, one clear line.
    fn snapshots(&self, get: &[String]) -> Result<Value> {
        let mut a = vec![SNAPSHOTS.to_string()];
        a.extend(get.iter().cloned());
        match self.kubectl()?.get_json(&a) {
            Err(e) if format!("{e:#}").contains("doesn't have a resource type") => {
                Err(crate::error::Refused::new(
                    "--cloud dynamic backups need the snapshot.storage.k8s.io/v1 VolumeSnapshot \
                     API, which this cluster does not serve: install the external-snapshotter \
                     CRDs and controller and a VolumeSnapshotClass for the claims' CSI driver",
                )
                .into())
            }
            other => other,
        }
    }

    fn to_backup(&self, v: &Value) -> Option<Backup> {
        let labels = &v["metadata"]["labels"];
        let status = match (&v["status"]["readyToUse"], &v["status"]["error"]["message"]) {
            (Value::Bool(true), _) => "ready",
            (_, Value::String(_)) => "error",
            _ => "pending",
        };
        backup_of(
            &self.spec,
            v["metadata"]["name"].as_str()?.to_string(),
            status.into(),
            |k| labels[k].as_str().map(str::to_string),
        )
    }

    /// Waits until the snapshot controller says the snapshot can be restored from.
    fn wait_ready(&self, name: &str) -> Result<Backup> {
        let started = std::time::Instant::now();
        loop {
            let v = self.snapshots(&[name.to_string()])?;
            let backup = self
                .to_backup(&v)
                .with_context(|| format!("VolumeSnapshot {name} lost esk's labels"))?;
            if backup.status == "ready" {
                return Ok(backup);
            }
            if started.elapsed() > SNAPSHOT_WAIT {
                let why = v["status"]["error"]["message"]
                    .as_str()
                    .unwrap_or("no error reported");
                anyhow::bail!(
                    "VolumeSnapshot {name} is not ready to use after {}s ({why}); `esk backup \
                     list` shows when it is",
                    SNAPSHOT_WAIT.as_secs()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    fn source(&self, name: &str) -> DiskSource {
        DiskSource {
            kind: "dynamic".into(),
            driver: String::new(),
            handle: name.into(),
            path: String::new(),
            topology_key: String::new(),
            topology_value: String::new(),
        }
    }

    fn claim(&self, i: u8, name: &str) -> Result<Manifest> {
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": format!("{}Gi", self.spec.profile.u64("disk.sizeGb")?)}},
        });
        let class = self.storage_class();
        if !class.is_empty() {
            spec["storageClassName"] = Value::String(class);
        }
        if let Some(snapshot) = self.restore.get() {
            spec["dataSource"] = json!({
                "apiGroup": "snapshot.storage.k8s.io",
                "kind": "VolumeSnapshot",
                "name": snapshot,
            });
        }
        let value = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": name,
                "namespace": self.spec.namespace.as_str(),
                "labels": {
                    MANAGED_BY: "esk",
                    DISK_OF_LABEL: self.spec.name.as_str(),
                    NAMESPACE_LABEL: self.spec.namespace.as_str(),
                    NODE_LABEL: crate::spec::member_label(i),
                },
            },
            "spec": spec,
        });
        Ok(Manifest {
            source: "dynamic disks".into(),
            object: ObjectRef {
                kind: "PersistentVolumeClaim".into(),
                name: name.into(),
            },
            value: serde_yaml::to_value(value)?,
        })
    }
}

impl DiskAdapter for Dynamic {
    fn list(&self, wanted: &[String]) -> Result<Vec<Disk>> {
        let claims = self
            .kubectl()?
            .get_json(&args(["persistentvolumeclaims"]))?;
        let mut out = Vec::new();
        for c in claims["items"].as_array().into_iter().flatten() {
            let name = c["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let labels = &c["metadata"]["labels"];
            let mine = labels[MANAGED_BY] == "esk"
                && labels[DISK_OF_LABEL] == self.spec.name.as_str()
                && labels[NAMESPACE_LABEL] == self.spec.namespace.as_str();
            let owner = if mine {
                Owner::This
            } else if labels[MANAGED_BY] == "esk" && labels[DISK_OF_LABEL].is_string() {
                Owner::Other(format!(
                    "{}/{}",
                    self.spec.namespace,
                    labels[DISK_OF_LABEL].as_str().unwrap_or("?")
                ))
            } else if wanted.contains(&name) {
                Owner::Foreign
            } else {
                continue;
            };
            out.push(Disk {
                id: c["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                node: labels[NODE_LABEL]
                    .as_str()
                    .and_then(crate::spec::parse_member),
                source: self.source(&name),
                replaced: None,
                owner,
                name,
            });
        }
        Ok(out)
    }

    fn planned_source(&self, name: &str, _node: u8) -> DiskSource {
        self.source(name)
    }

    fn create(&self, disks: &[(u8, String)]) -> Result<Vec<Disk>> {
        let claims = disks
            .iter()
            .map(|(i, n)| self.claim(*i, n))
            .collect::<Result<Vec<_>>>()?;
        self.kubectl()?.apply(&claims)?;
        Ok(disks
            .iter()
            .map(|(i, n)| Disk {
                name: n.clone(),
                id: String::new(),
                node: Some(*i),
                replaced: None,
                owner: Owner::This,
                source: self.source(n),
            })
            .collect())
    }

    fn adopt(&self, _disks: &[(u8, Disk)]) -> Result<()> {
        anyhow::bail!(crate::error::UsageError::new(
            "--adopt-disks is for cloud disks; with --cloud dynamic the claims are the disks"
        ))
    }

    fn list_backups(&self) -> Result<Vec<Backup>> {
        // Narrows the list only; ownership is decided from every label, here.
        let selector = format!("{}={}", super::CLUSTER_KEY, self.spec.name);
        let list = self.snapshots(&args(["-l", &selector]))?;
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| self.to_backup(v))
            .collect())
    }

    /// A VolumeSnapshot of the node's claim, in the cluster's namespace, of the default
    /// VolumeSnapshotClass unless the profile names one (`disk.snapshotClass`).
    fn snapshot(&self, disk: &Disk, node: u8, name: &str) -> Result<Backup> {
        let labels: serde_json::Map<String, Value> = snapshot_labels(&self.spec, node, name)
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        let mut spec = json!({"source": {"persistentVolumeClaimName": disk.name}});
        let class = self
            .spec
            .profile
            .str("disk.snapshotClass")
            .unwrap_or_default();
        if !class.is_empty() {
            spec["volumeSnapshotClassName"] = Value::String(class);
        }
        let value = json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": self.spec.namespace.as_str(), "labels": labels},
            "spec": spec,
        });
        let manifest = Manifest {
            source: "backup".into(),
            object: ObjectRef {
                kind: "VolumeSnapshot".into(),
                name: name.into(),
            },
            value: serde_yaml::to_value(value)?,
        };
        self.kubectl()?.apply(&[manifest])?;
        self.wait_ready(name)
    }

    fn delete_backups(&self, backups: &[Backup]) -> Result<()> {
        let refs: Vec<ObjectRef> = backups
            .iter()
            .map(|b| ObjectRef {
                kind: SNAPSHOTS.into(),
                name: b.id.clone(),
            })
            .collect();
        self.kubectl()?.delete(&refs)
    }

    fn restore_from(&self, backup: &Backup) -> Result<()> {
        self.restore.set(backup)
    }

    fn delete(&self, disks: &[Disk], _detach: std::time::Duration) -> Result<()> {
        super::assert_owned(disks)?;
        let refs: Vec<ObjectRef> = disks
            .iter()
            .map(|d| ObjectRef {
                kind: "PersistentVolumeClaim".into(),
                name: d.name.clone(),
            })
            .collect();
        self.kubectl()?.delete(&refs)
    }
}

//! No disk of esk's own: each node's disk is a PersistentVolumeClaim provisioned by a
//! StorageClass. The claims are the disks, so they carry disk labels rather than the cluster's
//! object labels: `delete --keep-disks` leaves them, `delete --yes` removes them.

use anyhow::Result;
use serde_json::{json, Value};

use super::kubectl::Kubectl;
use super::process::args;
use super::DiskAdapter;
use crate::manifest::{Manifest, ObjectRef, MANAGED_BY, NAMESPACE_LABEL, NODE_LABEL};
use crate::plan::{Disk, Owner};
use crate::render::DiskSource;
use crate::spec::Spec;

/// Marks a claim as a disk of cluster <value>.
pub const DISK_OF_LABEL: &str = "esk.io/disk-of";

pub struct Dynamic {
    kubectl: Option<Kubectl>,
    spec: Spec,
}

impl Dynamic {
    pub fn offline(spec: &Spec) -> Dynamic {
        Dynamic {
            kubectl: None,
            spec: spec.clone(),
        }
    }

    pub fn new(spec: &Spec, kubectl: &Kubectl) -> Dynamic {
        Dynamic {
            kubectl: Some(kubectl.clone()),
            spec: spec.clone(),
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

    /// A warning when the StorageClass deletes volumes with their claims.
    pub fn reclaim_warning(&self) -> Result<Option<String>> {
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
        Ok(match class {
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
        })
    }

    /// Backups of claims need the snapshot.storage.k8s.io API (the external-snapshotter CRDs
    /// and controller, and a CSI driver with snapshots); without it, one clear line.
    fn snapshot_api_refusal(&self) -> crate::error::Refused {
        let served = self
            .kubectl()
            .and_then(|k| k.get_json(&args(["volumesnapshotclasses.snapshot.storage.k8s.io"])));
        match served {
            Ok(_) => crate::error::Refused::new(
                "backups of --cloud dynamic claims (VolumeSnapshots) are not supported by this \
                 esk yet; snapshot the claims with your storage provider's tools",
            ),
            Err(_) => crate::error::Refused::new(
                "--cloud dynamic backups need the snapshot.storage.k8s.io/v1 VolumeSnapshot API, \
                 which this cluster does not serve: install the external-snapshotter CRDs and \
                 controller and a VolumeSnapshotClass for the claims' CSI driver",
            ),
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

    fn list_backups(&self) -> Result<Vec<crate::backup::Backup>> {
        Err(self.snapshot_api_refusal().into())
    }

    fn snapshot(&self, _: &Disk, _: u8, _: &str) -> Result<crate::backup::Backup> {
        Err(self.snapshot_api_refusal().into())
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

//! Where a node keeps its database: the volume mounted at (or above) its data directory, and
//! what kind of volume that is (a claim, ephemeral, an in-tree cloud disk, a shared file
//! system).

use serde_yaml::Value;

use super::{Node, Workload};
use crate::lint::model::{at, seq, text};

/// Where a node keeps its database.
#[derive(Clone, Debug, PartialEq)]
pub enum Data<'a> {
    /// A claim named in the pod's volumes.
    Claim(String),
    /// A StatefulSet's volumeClaimTemplate (one claim per pod).
    ClaimTemplate(&'a Value),
    /// Lost with the pod or tied to one machine.
    Ephemeral(&'static str),
    /// An in-tree cloud disk volume.
    InTree(&'static str),
    /// A shared file system (NFS, Azure Files, CephFS, GlusterFS) mounted in the pod.
    Shared(&'static str),
    /// Something else (a CSI inline volume, a projected volume, ...): not judged.
    Other,
}

/// In-tree cloud disk volume sources: served only through CSI migration (ES022).
pub const IN_TREE: &[&str] = &[
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "azureDisk",
    "cinder",
];

/// The CSI driver current Kubernetes migrates each in-tree volume to, and its volumeHandle.
pub fn csi_of(in_tree: &str) -> (&'static str, &'static str) {
    match in_tree {
        "gcePersistentDisk" => ("pd.csi.storage.gke.io", "projects/P/zones/Z/disks/D"),
        "awsElasticBlockStore" => ("ebs.csi.aws.com", "vol-..."),
        "azureDisk" => ("disk.csi.azure.com", "the disk's resource id"),
        _ => ("cinder.csi.openstack.org", "the volume id"),
    }
}

/// Volume sources (in a pod or a PersistentVolume) that several machines mount at once.
pub const SHARED_FS: &[&str] = &["nfs", "azureFile", "cephfs", "glusterfs"];

/// CSI drivers of shared file systems.
pub const SHARED_CSI: &[&str] = &[
    "nfs.csi.k8s.io",
    "file.csi.azure.com",
    "efs.csi.aws.com",
    "cephfs.csi.ceph.com",
    "filestore.csi.storage.gke.io",
];

/// The shared file system a volume source (pod volume or PV spec) is on, if any.
pub fn shared_fs(source: &Value) -> Option<&'static str> {
    if let Some(kind) = SHARED_FS.iter().find(|k| source.get(**k).is_some()) {
        return Some(kind);
    }
    let driver = text(at(source, &["csi", "driver"]))?;
    SHARED_CSI.iter().find(|d| **d == driver).copied()
}

// Beside `Data` rather than with the rest of `Node`: it is what reads the volumes.
impl<'a> Node<'a> {
    /// The directory the database lives in.
    fn db_path(&self) -> String {
        self.setting("DB").map(str::to_string).unwrap_or_else(|| {
            if self.kurrent {
                "/var/lib/kurrentdb".into()
            } else {
                "/var/lib/eventstore".into()
            }
        })
    }

    /// What holds the database: the volume mounted at (or above) its directory.
    pub fn data(&self) -> Data<'a> {
        let db = self.db_path();
        let covers = |mount: &str| {
            let mount = mount.trim_end_matches('/');
            db == mount || mount.is_empty() || db.starts_with(&format!("{mount}/"))
        };
        let mount = seq(self.container.get("volumeMounts"))
            .iter()
            .filter_map(|m| Some((text(m.get("name"))?, text(m.get("mountPath"))?)))
            .filter(|(_, path)| covers(path))
            .max_by_key(|(_, path)| path.trim_end_matches('/').len());
        let Some((volume, _)) = mount else {
            return Data::Ephemeral("the container's own filesystem");
        };
        let pod_volume = seq(self.pod.get("volumes"))
            .iter()
            .find(|v| text(v.get("name")).as_deref() == Some(volume.as_str()));
        if let Some(v) = pod_volume {
            if let Some(claim) = text(at(v, &["persistentVolumeClaim", "claimName"])) {
                return Data::Claim(claim);
            }
            for (key, what) in [
                ("emptyDir", "emptyDir"),
                ("hostPath", "hostPath"),
                ("ephemeral", "a generic ephemeral volume"),
            ] {
                if v.get(key).is_some() {
                    return Data::Ephemeral(what);
                }
            }
            if let Some(kind) = IN_TREE.iter().find(|k| v.get(**k).is_some()) {
                return Data::InTree(kind);
            }
            if let Some(kind) = shared_fs(v) {
                return Data::Shared(kind);
            }
            return Data::Other;
        }
        let template = seq(at(self.item.value, &["spec", "volumeClaimTemplates"]))
            .iter()
            .find(|t| text(at(t, &["metadata", "name"])).as_deref() == Some(volume.as_str()));
        match template {
            Some(t) if self.workload == Workload::StatefulSet => Data::ClaimTemplate(t),
            _ => Data::Ephemeral("the container's own filesystem (its volume is not defined)"),
        }
    }
}

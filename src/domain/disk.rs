//! A disk as the clouds show it: its name and id, the node it serves, who owns it, and how it
//! appears in a PersistentVolume.

use serde::Serialize;

/// Who a disk belongs to, read from its labels or tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Created by esk for this cluster (same name, namespace and Kubernetes cluster).
    This,
    /// Taken over with --adopt-disks: used like `This`, never deleted by esk.
    Adopted,
    /// Labelled by esk for another cluster, shown as `namespace/name`.
    Other(String),
    /// No esk labels: somebody else's disk, never touched without --adopt-disks.
    Foreign,
}

impl Owner {
    /// Whether the cluster may mount the disk.
    pub fn is_ours(&self) -> bool {
        matches!(self, Owner::This | Owner::Adopted)
    }
}

/// A disk as observed through a disk adapter.
#[derive(Clone, Debug, PartialEq)]
pub struct Disk {
    pub name: String,
    /// The cloud's id (GCE numeric id, EBS vol-…), for reports.
    pub id: String,
    pub node: Option<u8>,
    pub owner: Owner,
    pub source: DiskSource,
    /// The node this disk served before `esk node replace` gave the node a new one (its
    /// `esk-replaced` label or tag); such a disk serves no node and is kept until pruned.
    pub replaced: Option<u8>,
}

/// How node i's disk appears in its PersistentVolume. Chosen by the disk adapter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskSource {
    /// "csi" or "local".
    pub kind: String,
    pub driver: String,
    /// The CSI volume handle, or "" where it is not known yet (a dry run of a new AWS volume).
    pub handle: String,
    pub path: String,
    pub topology_key: String,
    pub topology_value: String,
}

//! Adapters: the only code that runs programs. A disk adapter owns one kind of persistent
//! disk (GCE PD, EBS, a local directory, a dynamically provisioned PVC); kubectl owns the
//! cluster objects.

pub mod gcloud;
pub mod kubectl;
pub mod process;

use anyhow::Result;

use crate::plan::{Disk, Owner};
use crate::render::DiskSource;
use crate::spec::Spec;

/// The labels (GCE) or tags (AWS) that tie a disk to its cluster and node.
pub const CLUSTER_KEY: &str = "esk-cluster";
pub const NAMESPACE_KEY: &str = "esk-namespace";
pub const NODE_KEY: &str = "esk-node";
pub const MANAGED_KEY: &str = "managed-by";

pub trait DiskAdapter: Sync {
    /// Disks labelled for this cluster, plus any disk named in `names` (to detect collisions).
    fn list(&self, names: &[String]) -> Result<Vec<Disk>>;
    /// How a disk that does not exist yet will appear in its PV (the handle may be unknown).
    fn planned_source(&self, name: &str, node: u8) -> DiskSource;
    /// Creates the disks, labelled for the cluster; returns them as observed.
    fn create(&self, disks: &[(u8, String)]) -> Result<Vec<Disk>>;
    /// Labels existing foreign disks for the cluster, never touching their data.
    fn adopt(&self, disks: &[(u8, Disk)]) -> Result<()>;
    /// Deletes disks. Callers pass only disks whose owner is `Owner::This`.
    fn delete(&self, disks: &[Disk]) -> Result<()>;
}

/// Reads ownership from a disk's labels or tags.
pub fn owner_of(spec: &Spec, get: impl Fn(&str) -> Option<String>) -> (Owner, Option<u8>) {
    let node = get(NODE_KEY).and_then(|n| n.parse().ok());
    match (get(MANAGED_KEY), get(CLUSTER_KEY), get(NAMESPACE_KEY)) {
        (Some(m), Some(c), Some(ns)) if m == "esk" => {
            if c == spec.name.as_str() && ns == spec.namespace.as_str() {
                (Owner::This, node)
            } else {
                (Owner::Other(format!("{ns}/{c}")), node)
            }
        }
        _ => (Owner::Foreign, None),
    }
}

/// The label set written on a disk for node `i`.
pub fn disk_labels(spec: &Spec, i: u8) -> Vec<(&'static str, String)> {
    vec![
        (MANAGED_KEY, "esk".to_string()),
        (CLUSTER_KEY, spec.name.to_string()),
        (NAMESPACE_KEY, spec.namespace.to_string()),
        (NODE_KEY, i.to_string()),
    ]
}

/// Refuses, as a last line of defence, to delete any disk esk does not own.
pub fn assert_owned(disks: &[Disk]) -> Result<()> {
    if let Some(d) = disks.iter().find(|d| d.owner != Owner::This) {
        anyhow::bail!(
            "internal error: refusing to delete disk {} that this cluster does not own",
            d.name
        );
    }
    Ok(())
}

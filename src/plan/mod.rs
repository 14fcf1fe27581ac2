//! The pure heart of esk: given what the user asked for and what exists, decide what to do.
//! Idempotency, keep-disks, adoption and resize rules live here and nowhere else; the
//! executor only carries a `Plan` out, and `--dry-run` prints it.

mod display;
mod growth;
pub mod json;
mod outcome;
pub mod replace;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::domain::{Disk, DiskSource, LiveClaim, LiveTemplate};
use crate::manifest::ObjectRef;
use crate::record::Record;
use crate::render::NodeDisk;

pub use growth::{plan_growth, Growth, Migration};
pub use outcome::Outcome;
pub use rules::{
    plan_create, plan_delete, plan_resize, spec_warnings, wanted_disk_names, AdoptPattern,
};

/// Everything esk looked at before planning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub disks: Vec<Disk>,
    /// Objects carrying this cluster's labels, with their node label if any.
    pub objects: Vec<(ObjectRef, Option<u8>)>,
    pub record: Option<Record>,
    pub namespace_exists: bool,
    /// The cluster's Secrets (CA, node certificates, passwords), decoded.
    pub secrets: crate::secrets::SecretData,
    /// Node workload name → the hashes esk stamped on it (`roll::stamp`).
    pub live: BTreeMap<String, LiveTemplate>,
    /// Claim name → its size, capacity and class, as the API server holds them (the node
    /// claims esk applies; with `--cloud dynamic` every claim of the namespace).
    pub claims: BTreeMap<String, LiveClaim>,
    /// PersistentVolumes of the cluster with no class (`""`): an earlier esk's, not migrated.
    pub classless_volumes: std::collections::BTreeSet<String>,
    /// PersistentVolume name → its live capacity (what the cloud disk holds: the resizer
    /// raises it once it has grown the disk).
    pub volume_capacities: BTreeMap<String, String>,
    /// StorageClasses that allow volume expansion (looked up with `--cloud dynamic` only:
    /// esk's own class always does).
    pub expandable_classes: std::collections::BTreeSet<String>,
}

impl Observed {
    /// Node count of the cluster as it stands: the record, else the node workloads found.
    pub fn current_size(&self) -> Option<u8> {
        if let Some(r) = &self.record {
            return Some(r.nodes);
        }
        let nodes = self
            .objects
            .iter()
            .filter(|(o, n)| {
                // Read-only replicas are not counted in the cluster size.
                n.is_some_and(|i| crate::spec::replica_of(i).is_none())
                    && (o.kind == "Deployment" || o.kind == "StatefulSet")
            })
            .count();
        (nodes > 0).then_some(nodes as u8)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum DiskStep {
    Create {
        node: u8,
        name: String,
        source: DiskSource,
    },
    Keep {
        node: u8,
        disk: Disk,
    },
    Adopt {
        node: u8,
        disk: Disk,
    },
    /// A disk of this cluster that no node uses now (after a shrink); kept.
    KeepSurplus {
        disk: Disk,
    },
    Delete {
        disk: Disk,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Delete,
    Resize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub action: Action,
    pub title: String,
    pub disks: Vec<DiskStep>,
    /// Deleted before anything is applied (resize deletes the node workloads to recreate them).
    pub delete: Vec<ObjectRef>,
    pub create_namespace: bool,
    pub apply: Vec<ObjectRef>,
    /// Node workloads already running whose pods the change restarts, and how.
    pub restart: Restart,
    /// Claims that grow in place (online: the CSI resizer grows the disk, the kubelet the
    /// filesystem; no pod restarts).
    pub grow: Vec<Growth>,
    /// Claims an earlier esk made without a class, re-made with esk's one node at a time
    /// before anything grows (each node restarts once).
    pub migrate: Vec<Migration>,
    /// Node → its live claim, so the render keeps the claim's class and the volume's capacity.
    pub claims: BTreeMap<u8, LiveClaim>,
    /// Node → its PersistentVolume's live capacity, which the render keeps (see `growth`).
    pub volumes: BTreeMap<u8, String>,
    /// The Prometheus Operator's PodMonitor, where its API is served (see `crate::metrics`).
    pub pod_monitor: Option<crate::metrics::PodMonitorStep>,
    pub warnings: Vec<String>,
}

/// The node workloads a change restarts (their pod template differs from the live one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restart {
    pub nodes: Vec<String>,
    /// One node at a time, followers first and the leader last (else all together).
    pub rolling: bool,
    /// A certificate rotation in phases: the phase this run starts from.
    pub rotation: Option<String>,
}

impl Plan {
    /// Disks that will carry the nodes, in node order, with how each appears in its PV.
    pub fn node_disks(&self) -> Vec<NodeDisk> {
        let mut nodes: Vec<NodeDisk> = self
            .disks
            .iter()
            .filter_map(|step| match step {
                DiskStep::Create { node, source, .. } => Some(NodeDisk {
                    index: *node,
                    source: source.clone(),
                    claim: self.claims.get(node).cloned(),
                    volume_capacity: None,
                }),
                DiskStep::Keep { node, disk } | DiskStep::Adopt { node, disk } => Some(NodeDisk {
                    index: *node,
                    source: disk.source.clone(),
                    claim: self.claims.get(node).cloned(),
                    volume_capacity: self.volumes.get(node).cloned(),
                }),
                _ => None,
            })
            .collect();
        nodes.sort_by_key(|n| n.index);
        nodes
    }

    /// The node disks as they are once every growth is done (each growing volume holding its
    /// new size): what lint checks, since mid-growth a claim asks for more than its volume.
    pub fn node_disks_grown(&self) -> Vec<NodeDisk> {
        let mut nodes = self.node_disks();
        for n in &mut nodes {
            let grown = self.grow.iter().find(|g| g.node == n.index);
            if let Some(g) = grown {
                if let Some(claim) = n.claim.as_mut() {
                    claim.capacity = Some(g.to.clone());
                }
                n.volume_capacity = Some(g.to.clone());
            }
        }
        nodes
    }

    /// Each node's zone when its disks are in more than one zone (else empty).
    pub fn node_zones(&self) -> BTreeMap<u8, String> {
        let zones: BTreeMap<u8, String> = self
            .node_disks()
            .into_iter()
            .filter(|n| n.source.kind == "csi" && !n.source.topology_value.is_empty())
            .map(|n| (n.index, n.source.topology_value))
            .collect();
        let mut distinct: Vec<&String> = zones.values().collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() > 1 {
            zones
        } else {
            BTreeMap::new()
        }
    }

    pub fn disks_to_delete(&self) -> Vec<&Disk> {
        self.disks
            .iter()
            .filter_map(|s| match s {
                DiskStep::Delete { disk } => Some(disk),
                _ => None,
            })
            .collect()
    }

    pub fn is_noop(&self) -> bool {
        self.delete.is_empty()
            && !self.create_namespace
            && self.grow.is_empty()
            && self.migrate.is_empty()
            && self
                .disks
                .iter()
                .all(|s| matches!(s, DiskStep::Keep { .. } | DiskStep::KeepSurplus { .. }))
    }
}

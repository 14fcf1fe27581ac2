//! The pure heart of esk: given what the user asked for and what exists, decide what to do.
//! Idempotency, keep-disks, adoption and resize rules live here and nowhere else; the
//! executor only carries a `Plan` out, and `--dry-run` prints it.

mod display;
pub mod json;
mod outcome;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::domain::{Disk, DiskSource, LiveTemplate};
use crate::manifest::ObjectRef;
use crate::record::Record;
use crate::render::NodeDisk;

pub use outcome::Outcome;
pub use rules::{
    plan_create, plan_delete, plan_resize, refuse_resized_claims, spec_warnings, wanted_disk_names,
    AdoptPattern,
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
    /// Claim name → the storage it requests, as the API server holds it.
    pub claims: BTreeMap<String, String>,
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
                }),
                DiskStep::Keep { node, disk } | DiskStep::Adopt { node, disk } => Some(NodeDisk {
                    index: *node,
                    source: disk.source.clone(),
                }),
                _ => None,
            })
            .collect();
        nodes.sort_by_key(|n| n.index);
        nodes
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
            && self
                .disks
                .iter()
                .all(|s| matches!(s, DiskStep::Keep { .. } | DiskStep::KeepSurplus { .. }))
    }
}

//! The `--dry-run` output: what a plan would do, one line per disk and object.

use std::fmt;

use super::{DiskStep, Plan};
use crate::metrics::PodMonitorStep;

/// `node 3`, or `read-only replica 2` for a replica's disk.
fn member(i: u8) -> String {
    match crate::spec::replica_of(i) {
        Some(j) => format!("read-only replica {j}"),
        None => format!("node {i}"),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Plan: {}", self.title)?;
        // A cluster spread over zones names each node's zone; one in a single zone prints as
        // it always did.
        let zones = self.node_zones();
        let member = |i: u8| match zones.get(&i) {
            Some(z) => format!("{}, zone {z}", member(i)),
            None => member(i),
        };
        for w in &self.warnings {
            writeln!(f, "  ! {w}")?;
        }
        if !self.disks.is_empty() {
            writeln!(f, "Disks:")?;
        }
        for step in &self.disks {
            match step {
                DiskStep::Create { node, name, .. } => {
                    writeln!(f, "  + create  {name} ({})", member(*node))?
                }
                DiskStep::Keep { node, disk } => {
                    writeln!(f, "  = keep    {} ({}, exists)", disk.name, member(*node))?
                }
                DiskStep::Adopt { node, disk } => writeln!(
                    f,
                    "  ~ adopt   {} ({}: label it, keep its data)",
                    disk.name,
                    member(*node)
                )?,
                DiskStep::KeepSurplus { disk } => {
                    writeln!(f, "  = keep    {} (unused)", disk.name)?
                }
                DiskStep::Delete { disk } => writeln!(f, "  - delete  {}", disk.name)?,
            }
        }
        if !self.migrate.is_empty() {
            writeln!(
                f,
                "Migrate {} claim(s) made by an earlier esk to StorageClass {} (one node at a \
                 time, followers first, the leader last; each node restarts once; the disk and \
                 its volume stay):",
                self.migrate.len(),
                self.migrate[0].class
            )?;
        }
        for m in &self.migrate {
            writeln!(
                f,
                "  ~ migrate {} ({}): stop the node, re-make the claim on volume {}, start it",
                m.claim,
                member(m.node),
                m.pv
            )?;
        }
        if !self.grow.is_empty() {
            writeln!(
                f,
                "Grow {} disk(s) online (the CSI driver grows the disk, the kubelet the \
                 filesystem; no restart):",
                self.grow.len()
            )?;
        }
        for g in &self.grow {
            writeln!(
                f,
                "  ~ grow    {} ({}): {} -> {}",
                g.claim,
                member(g.node),
                g.from,
                g.to
            )?;
        }
        if !self.delete.is_empty() || !self.apply.is_empty() || self.create_namespace {
            writeln!(f, "Objects:")?;
        }
        for o in &self.delete {
            writeln!(f, "  - delete  {o}")?;
        }
        if self.create_namespace {
            writeln!(f, "  + create  Namespace")?;
        }
        for o in &self.apply {
            writeln!(f, "  ~ apply   {o}")?;
        }
        match &self.pod_monitor {
            Some(PodMonitorStep::Apply { name }) => writeln!(
                f,
                "Metrics:\n  ~ apply   PodMonitor/{name} (Prometheus scrapes every node's /metrics)"
            )?,
            Some(PodMonitorStep::Delete { name }) => writeln!(
                f,
                "Metrics:\n  - delete  PodMonitor/{name} (turned off, or the server has no /metrics)"
            )?,
            None => {}
        }
        let r = &self.restart;
        if let Some(phase) = &r.rotation {
            writeln!(
                f,
                "Certificate rotation: from phase {phase}, each phase a roll (trust the old and \
                 new CA, switch node certificates, drop the old CA)"
            )?;
        }
        if !r.nodes.is_empty() {
            let how = if r.rolling {
                "one at a time, followers first, the leader last (asked to resign first), \
                 each back in the cluster before the next"
            } else {
                "all at once (--all-at-once)"
            };
            writeln!(f, "Restart {} node(s), {how}:", r.nodes.len())?;
            for n in &r.nodes {
                writeln!(f, "  ~ restart {n}")?;
            }
        }
        Ok(())
    }
}

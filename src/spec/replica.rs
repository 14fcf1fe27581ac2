//! Read-only replicas (`--read-only-replicas K`): how they are numbered beside the voting
//! nodes, how that number is written on labels and tags, and which counts a spec accepts.

use super::{NodeCount, Spec, Workload};
use crate::domain::{replica_of, REPLICA_BASE};
use crate::error::UsageError;

impl Spec {
    /// Member indices of the read-only replicas (see `REPLICA_BASE`).
    pub fn replica_indices(&self) -> impl Iterator<Item = u8> {
        (1..=self.replicas).map(|j| REPLICA_BASE + j)
    }

    /// Every member that has a disk: the voting nodes 1..=N, then the replicas.
    pub fn members(&self) -> impl Iterator<Item = u8> {
        self.nodes.indices().chain(self.replica_indices())
    }

    /// Whether member `i` belongs to the cluster as specified (a node or replica within range).
    pub fn is_member(&self, i: u8) -> bool {
        match replica_of(i) {
            Some(j) => j <= self.replicas,
            None => i <= self.nodes.get(),
        }
    }

    /// Sets the replica count, refusing what cannot run it: 5.x has no read-only replicas,
    /// and the StatefulSet workload has no replica set (one Deployment per replica only).
    pub fn set_replicas(&mut self, k: u8) -> Result<(), UsageError> {
        if k > 0 && self.generation() < 20 {
            return Err(UsageError::new(format!(
                "--read-only-replicas needs EventStoreDB 20.10 or newer; profile {} has none",
                self.profile.name
            )));
        }
        if k > 0 && self.nodes.get() == 1 {
            // A single node finds no gossip seeds through DNS (the servers look the name up
            // only when CLUSTER_SIZE > 1), so a replica would never find its leader.
            return Err(UsageError::new(
                "read-only replicas need a cluster of 3 or more nodes; a single node does not \
                 discover them (pass --read-only-replicas 0 to run without)",
            ));
        }
        if k > 0 && self.workload == Workload::StatefulSet {
            return Err(UsageError::new(
                "--read-only-replicas runs each replica as its own Deployment; use the default \
                 --workload deployment",
            ));
        }
        self.replicas = k;
        Ok(())
    }
}

/// Parses `--read-only-replicas K`: 0..=99.
pub fn replica_count(raw: &str) -> Result<u8, UsageError> {
    match raw.trim().parse::<i64>() {
        Ok(k) if (0..=i64::from(NodeCount::MAX)).contains(&k) => Ok(k as u8),
        _ => Err(UsageError::new(format!(
            "--read-only-replicas must be a whole number between 0 and {}, got \"{}\"",
            NodeCount::MAX,
            raw.escape_debug()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{member_label, parse_member};

    #[test]
    fn member_labels_round_trip_and_never_read_as_nodes() {
        for i in [1u8, 7, 99, REPLICA_BASE + 1, REPLICA_BASE + 99] {
            assert_eq!(parse_member(&member_label(i)), Some(i));
        }
        assert_eq!(member_label(REPLICA_BASE + 2), "r2");
        assert!(
            "r2".parse::<u8>().is_err(),
            "an old esk must not read r2 as a node"
        );
        for bad in ["", "r", "0", "r0", "100", "r100", "+1", "r-1", "x1", "1r"] {
            assert_eq!(parse_member(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replica_counts_are_bounded() {
        assert_eq!(replica_count("0").unwrap(), 0);
        assert_eq!(replica_count("99").unwrap(), 99);
        for bad in ["-1", "100", "x", "", "1.5"] {
            assert!(replica_count(bad).is_err(), "{bad:?} accepted");
        }
    }
}

//! Placement over zones: which zone each node's disk (and so its pod) is in, and whether one
//! zone's outage leaves a quorum. A disk never moves: a node whose disk exists stays where the
//! disk is; a new node goes to the chosen zone with the fewest nodes of its kind.

use std::collections::BTreeMap;

use super::{replica_of, Disk};

/// The zones a cluster's disks may be in, and the zone of each node (voting nodes and
/// replicas). One zone, or none (kind, dynamic), is today's single-zone cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Every zone the cluster's disks are or will be in, in the order new nodes fill them.
    pub zones: Vec<String>,
    /// Node index to zone.
    pub nodes: BTreeMap<u8, String>,
}

impl Placement {
    /// Whether the cluster is spread over more than one zone.
    pub fn is_spread(&self) -> bool {
        let mut zones: Vec<&String> = self.nodes.values().collect();
        zones.sort();
        zones.dedup();
        zones.len() > 1 || self.zones.len() > 1
    }

    /// How many voting nodes each zone holds, every chosen zone listed (0 for an empty one).
    pub fn voting_per_zone(&self) -> BTreeMap<String, u64> {
        let mut count: BTreeMap<String, u64> = self.zones.iter().map(|z| (z.clone(), 0)).collect();
        for (i, z) in &self.nodes {
            if replica_of(*i).is_none() {
                *count.entry(z.clone()).or_default() += 1;
            }
        }
        count
    }
}

/// The quorum of `size` voting nodes.
pub fn quorum(size: u64) -> u64 {
    size / 2 + 1
}

/// Whether losing a zone that holds `in_zone` of `size` voting nodes leaves a quorum.
pub fn survives_zone_loss(size: u64, in_zone: u64) -> bool {
    size.saturating_sub(in_zone) >= quorum(size)
}

/// The zones (by count) whose loss would stop a cluster of `size` voting nodes spread as
/// `per_zone`; empty when the cluster is in one zone (a deliberate single-zone cluster) or
/// survives the loss of any one zone.
pub fn zones_losing_quorum(per_zone: &BTreeMap<String, u64>, size: u64) -> Vec<(String, u64)> {
    if per_zone.values().filter(|c| **c > 0).count() < 2 {
        return Vec::new();
    }
    per_zone
        .iter()
        .filter(|(_, c)| !survives_zone_loss(size, **c))
        .map(|(z, c)| (z.clone(), *c))
        .collect()
}

/// "node 3", "replica 2".
fn member_name(i: u8) -> String {
    match replica_of(i) {
        Some(j) => format!("replica {j}"),
        None => format!("node {i}"),
    }
}

/// Each member's zone: where its disk is when it exists (ours, read from the cloud), else
/// where the record put it, else the zone of `zones` with the fewest members of its kind
/// (voting or replica), the first such zone on a tie, so that node i of a new cluster lands in
/// zone ((i-1) mod k). Returns the placement and a note for each node kept outside `zones`.
pub fn assign(
    zones: &[String],
    members: &[u8],
    disks: &[Disk],
    recorded: &BTreeMap<u8, String>,
) -> (Placement, Vec<String>) {
    let mut nodes: BTreeMap<u8, String> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut all: Vec<String> = zones.to_vec();
    for &i in members {
        let existing = disks
            .iter()
            .find(|d| d.node == Some(i) && d.owner.is_ours())
            .map(|d| d.source.topology_value.clone())
            .filter(|z| !z.is_empty())
            .or_else(|| recorded.get(&i).cloned());
        if let Some(zone) = existing {
            if !zones.is_empty() && !zones.contains(&zone) {
                notes.push(format!(
                    "note: {} stays in zone {zone}, where its disk is (a disk never moves)",
                    member_name(i)
                ));
            }
            if !all.contains(&zone) {
                all.push(zone.clone());
            }
            nodes.insert(i, zone);
        }
    }
    for &i in members {
        if nodes.contains_key(&i) || zones.is_empty() {
            continue;
        }
        let replica = replica_of(i).is_some();
        let count = |z: &String| {
            nodes
                .iter()
                .filter(|(j, nz)| *nz == z && replica_of(**j).is_some() == replica)
                .count()
        };
        let zone = zones
            .iter()
            .min_by_key(|z| count(z))
            .cloned()
            .unwrap_or_default();
        nodes.insert(i, zone);
    }
    (Placement { zones: all, nodes }, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DiskSource, Owner};

    fn zones(z: &[&str]) -> Vec<String> {
        z.iter().map(|s| s.to_string()).collect()
    }

    fn disk(i: u8, zone: &str) -> Disk {
        Disk {
            name: format!("es-disk-{i}"),
            id: String::new(),
            node: Some(i),
            replaced: None,
            owner: Owner::This,
            source: DiskSource {
                kind: "csi".into(),
                driver: String::new(),
                handle: String::new(),
                path: String::new(),
                topology_key: String::new(),
                topology_value: zone.into(),
            },
        }
    }

    #[test]
    fn new_nodes_go_round_robin_and_resize_fills_the_emptiest_zones() {
        let abc = zones(&["a", "b", "c"]);
        let (p, notes) = assign(&abc, &[1, 2, 3, 4, 5], &[], &BTreeMap::new());
        let got: Vec<&str> = p.nodes.values().map(String::as_str).collect();
        assert_eq!(got, ["a", "b", "c", "a", "b"]);
        assert!(notes.is_empty());
        // Disks 1-3 made before in a, a, b: 4 and 5 go where there are fewest.
        let disks = [disk(1, "a"), disk(2, "a"), disk(3, "b")];
        let (p, _) = assign(&abc, &[1, 2, 3, 4, 5], &disks, &BTreeMap::new());
        assert_eq!(p.nodes[&4], "c");
        assert_eq!(p.nodes[&5], "b");
        // A disk outside --zones stays put, with a note.
        let (p, notes) = assign(
            &zones(&["b", "c"]),
            &[1, 2],
            &[disk(1, "a")],
            &BTreeMap::new(),
        );
        assert_eq!(p.nodes[&1], "a");
        assert_eq!(p.zones, ["b", "c", "a"]);
        assert!(notes[0].contains("node 1 stays in zone a"), "{notes:?}");
        // No zones to choose from (kind): only what exists is placed.
        let (p, _) = assign(&[], &[1, 2], &[], &BTreeMap::new());
        assert!(p.nodes.is_empty());
    }

    #[test]
    fn a_zone_holding_a_quorum_is_named() {
        let per = |v: &[(&str, u64)]| -> BTreeMap<String, u64> {
            v.iter().map(|(z, c)| (z.to_string(), *c)).collect()
        };
        assert!(zones_losing_quorum(&per(&[("a", 2), ("b", 2), ("c", 1)]), 5).is_empty());
        assert_eq!(
            zones_losing_quorum(&per(&[("a", 3), ("b", 2)]), 5),
            [("a".to_string(), 3)]
        );
        assert!(zones_losing_quorum(&per(&[("a", 3)]), 3).is_empty());
        assert!(survives_zone_loss(3, 1));
        assert!(!survives_zone_loss(4, 2));
    }
}

//! The `zones` line of `status`: how the voting nodes spread over zones (each node's zone is
//! its disk's, which never moves), whether losing any one zone keeps a quorum, and which
//! zones are down (none of their Kubernetes nodes Ready), so a degraded cluster names them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::value::NodeHealth;
use crate::domain::{quorum, zones_losing_quorum};

/// Node labels that name a zone, the current one first.
const ZONE_LABELS: [&str; 3] = [
    "topology.kubernetes.io/zone",
    "topology.gke.io/zone",
    "topology.ebs.csi.aws.com/zone",
];

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSpread {
    /// Zone → the voting nodes in it (`es-1`, …).
    pub nodes: BTreeMap<String, Vec<String>>,
    /// Losing any one zone leaves a quorum of the voting nodes.
    pub survives_zone_loss: bool,
    /// Zones whose Kubernetes nodes are all NotReady (a zone outage).
    pub down: Vec<String>,
}

impl ZoneSpread {
    /// `zones: us-central1-a 1 · us-central1-b 1 · us-central1-c 1; losing any one zone
    /// keeps a quorum (2 of 3)`, then the zones that are down.
    pub fn line(&self, size: u64) -> String {
        let per: Vec<String> = self
            .nodes
            .iter()
            .map(|(z, n)| format!("{z} {}", n.len()))
            .collect();
        let counts = self.counts();
        let lose = zones_losing_quorum(&counts, size);
        let verdict = if lose.is_empty() {
            format!(
                "losing any one zone keeps a quorum ({} of {size})",
                quorum(size)
            )
        } else {
            let names: Vec<String> = lose
                .iter()
                .map(|(z, c)| format!("{z} ({c} of {size})"))
                .collect();
            format!(
                "losing {} loses the quorum ({} needed)",
                names.join(" or "),
                quorum(size)
            )
        };
        let mut line = format!("zones: {}; {verdict}", per.join(" · "));
        for z in &self.down {
            line.push_str(&format!("; zone {z} is down"));
        }
        line
    }

    fn counts(&self) -> BTreeMap<String, u64> {
        self.nodes
            .iter()
            .map(|(z, n)| (z.clone(), n.len() as u64))
            .collect()
    }
}

/// The spread of the voting nodes `rows` over zones (each node's disk's zone), with the
/// Kubernetes `nodes` to tell which zones are down; None for a cluster in one zone.
pub fn spread(rows: &[NodeHealth], nodes: &[Value], size: u64) -> Option<ZoneSpread> {
    let mut by_zone: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.read_only_replica) {
        let zone = r.disk.as_ref().and_then(|d| d.zone.clone())?;
        by_zone.entry(zone).or_default().push(r.name.clone());
    }
    if by_zone.len() < 2 {
        return None;
    }
    let zone_of = |n: &Value| {
        ZONE_LABELS
            .iter()
            .find_map(|k| n["metadata"]["labels"][*k].as_str())
            .map(str::to_string)
    };
    let ready = |n: &Value| {
        !n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] != "True")
    };
    let down: Vec<String> = by_zone
        .keys()
        .filter(|z| {
            let in_zone: Vec<&Value> = nodes
                .iter()
                .filter(|n| zone_of(n).as_deref() == Some(z.as_str()))
                .collect();
            !in_zone.is_empty() && !in_zone.iter().any(|n| ready(n))
        })
        .cloned()
        .collect();
    let counts: BTreeMap<String, u64> = by_zone
        .iter()
        .map(|(z, n)| (z.clone(), n.len() as u64))
        .collect();
    Some(ZoneSpread {
        survives_zone_loss: zones_losing_quorum(&counts, size).is_empty(),
        nodes: by_zone,
        down,
    })
}

/// Why the cluster is degraded, for each zone that is down: `zone us-central1-c is down (its
/// Kubernetes nodes are NotReady): es-3`.
pub fn reasons(spread: &ZoneSpread) -> Vec<String> {
    spread
        .down
        .iter()
        .map(|z| {
            let names = spread.nodes.get(z).cloned().unwrap_or_default();
            format!(
                "zone {z} is down (its Kubernetes nodes are NotReady): {}",
                names.join(", ")
            )
        })
        .collect()
}

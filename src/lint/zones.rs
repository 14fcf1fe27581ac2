//! ES027: a cluster spread over zones whose nodes still put a quorum in one of them, so that
//! zone's outage stops the database. A node's zone is where it is pinned: its volume's node
//! affinity (a PersistentVolume can only be mounted in its disk's zone) and its pod's node
//! selector or required node affinity on a zone label. Nodes pinned nowhere (or to several
//! zones) are not counted. A cluster pinned to a single zone is a choice the manifests make on
//! purpose (and what a single-zone Kubernetes cluster allows), so it is not flagged; the rule
//! is about spreading that does not protect the quorum, e.g. 5 nodes over 2 zones.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::inventory::Inventory;
use super::model::{at, seq, text};
use super::node::{Data, Node};
use super::Finding;

/// Node labels that name a zone, current and older.
const ZONE_KEYS: &[&str] = &[
    "topology.kubernetes.io/zone",
    "topology.gke.io/zone",
    "topology.ebs.csi.aws.com/zone",
    "failure-domain.beta.kubernetes.io/zone",
];

/// The zones a required node affinity allows, if it names any: the union over its terms
/// (terms are ORed) of each term's `In` values on a zone key.
fn affinity_zones(required: Option<&Value>) -> Option<BTreeSet<String>> {
    let mut zones = BTreeSet::new();
    for term in seq(required.and_then(|r| r.get("nodeSelectorTerms"))) {
        let in_term: Vec<String> = seq(term.get("matchExpressions"))
            .iter()
            .filter(|e| {
                text(e.get("operator")).as_deref() == Some("In")
                    && text(e.get("key")).is_some_and(|k| ZONE_KEYS.contains(&k.as_str()))
            })
            .flat_map(|e| seq(e.get("values")).iter().filter_map(|v| text(Some(v))))
            .collect();
        if in_term.is_empty() {
            return None; // a term that allows any zone
        }
        zones.extend(in_term);
    }
    (!zones.is_empty()).then_some(zones)
}

/// The one zone a node is pinned to, if its volume and pod constraints leave exactly one.
fn pinned_zone(inv: &Inventory, node: &Node) -> Option<String> {
    let mut allowed: Option<BTreeSet<String>> = None;
    let mut narrow = |zones: BTreeSet<String>| {
        allowed = Some(match allowed.take() {
            None => zones,
            Some(a) => a.intersection(&zones).cloned().collect(),
        });
    };
    if let Data::Claim(name) = node.data() {
        let volume = inv.claim(node, &name).and_then(|c| inv.bound_volume(c));
        if let Some(z) =
            volume.and_then(|v| affinity_zones(v.at(&["spec", "nodeAffinity", "required"])))
        {
            narrow(z);
        }
    }
    let selector = node.pod.get("nodeSelector");
    for key in ZONE_KEYS {
        if let Some(zone) = text(selector.and_then(|s| s.get(*key))) {
            narrow(BTreeSet::from([zone]));
        }
    }
    let required = at(
        node.pod,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ],
    );
    if let Some(z) = affinity_zones(required) {
        narrow(z);
    }
    let allowed = allowed?;
    (allowed.len() == 1)
        .then(|| allowed.into_iter().next())
        .flatten()
}

/// ES027 over one cluster's voting nodes, `size` of them in all (CLUSTER_SIZE).
pub fn quorum_in_one_zone(inv: &Inventory, voting: &[&Node], size: u64, out: &mut Vec<Finding>) {
    let mut by_zone: BTreeMap<String, (u64, &Node)> = BTreeMap::new();
    for node in voting {
        if let Some(zone) = pinned_zone(inv, node) {
            by_zone.entry(zone).or_insert((0, node)).0 += node.replicas.max(1);
        }
    }
    if by_zone.len() < 2 {
        return;
    }
    let quorum = crate::domain::quorum(size);
    for (zone, (count, first)) in &by_zone {
        // Losing the zone stops the cluster when the others cannot make a quorum (the same
        // arithmetic `status` and the placement use).
        if !crate::domain::survives_zone_loss(size, *count) {
            out.push(Finding::new(
                "ES027",
                &first.item.object,
                first.item.file,
                format!(
                    "{count} of the cluster's {size} voting nodes are pinned to zone {zone}: \
                     the nodes are spread over {} zones, yet losing {zone} leaves fewer than a \
                     quorum ({quorum}) and stops the cluster",
                    by_zone.len()
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(yaml: &str) -> Option<Vec<String>> {
        let v: Value = serde_yaml::from_str(yaml).expect("yaml");
        affinity_zones(Some(&v)).map(|z| z.into_iter().collect())
    }

    #[test]
    fn terms_are_ored_and_a_term_without_a_zone_allows_any() {
        let a_or_b = "nodeSelectorTerms:
- matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [a]}]
- matchExpressions: [{key: topology.gke.io/zone, operator: In, values: [b]}]";
        assert_eq!(zones(a_or_b), Some(vec!["a".into(), "b".into()]));
        let any = "nodeSelectorTerms:
- matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [a]}]
- matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux]}]";
        assert_eq!(zones(any), None);
        let not_in = "nodeSelectorTerms:
- matchExpressions: [{key: topology.kubernetes.io/zone, operator: NotIn, values: [a]}]";
        assert_eq!(zones(not_in), None);
    }
}

//! Rules over a whole cluster (its nodes together): size and quorum (ES007–ES009), discovery
//! through the headless Service (ES010, ES011; ES010 only where a readiness probe can keep
//! the nodes unpublished), disruption budgets (ES016, ES017),
//! spreading (ES018) and zones (ES027, in `zones`).

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::inventory::Inventory;
use super::model::{at, same_namespace, selects, seq, service_selects, text, Item, Labels};
use super::node::Node;
use super::Finding;

fn on(rule: &'static str, item: &Item, message: String) -> Finding {
    Finding::new(rule, &item.object, item.file, message)
}

pub fn check(inv: &Inventory, out: &mut Vec<Finding>) {
    for cluster in &inv.clusters {
        let nodes: Vec<&Node> = cluster.iter().map(|&i| &inv.nodes[i]).collect();
        let Some(first) = nodes.first() else {
            continue;
        };
        sizes(inv, cluster, &nodes, out);
        let size = inv.cluster_size(cluster);
        if size == 2 {
            out.push(on(
                "ES008",
                &first.item,
                "2 nodes need both for quorum: either one failing stops the cluster".into(),
            ));
        } else if size >= 4 && size % 2 == 0 {
            out.push(on(
                "ES009",
                &first.item,
                format!(
                    "{size} nodes need {} for quorum and survive {} failure(s), as {} would",
                    size / 2 + 1,
                    (size - 1) / 2,
                    size - 1
                ),
            ));
        }
        if size < 2 {
            continue; // a single node gossips with no one
        }
        // Spreading and the budget protect the quorum: the voting nodes among themselves, the
        // read-only replicas (if any) among themselves.
        let (replicas, voting): (Vec<&Node>, Vec<&Node>) =
            nodes.iter().partition(|n| n.read_only_replica());
        spreading(&voting, out);
        spreading(&replicas, out);
        super::zones::quorum_in_one_zone(inv, &voting, size, out);
        discovery(inv, &nodes, out);
        if !voting.is_empty() {
            budgets(inv, &voting, out);
        }
    }
}

/// ES007: every node's CLUSTER_SIZE equal, and equal to the servers the manifests run.
fn sizes(inv: &Inventory, cluster: &[usize], nodes: &[&Node], out: &mut Vec<Finding>) {
    let Some(sizes) = nodes
        .iter()
        .map(|n| n.cluster_size())
        .collect::<Option<Vec<u64>>>()
    else {
        return; // set from a Secret or a field reference: not known here
    };
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for s in &sizes {
        *counts.entry(*s).or_default() += 1;
    }
    let count = inv.node_count(cluster);
    if counts.len() > 1 {
        // The most common size is taken as meant (on a tie, the one matching the count).
        let usual = counts
            .iter()
            .max_by_key(|(size, n)| (**n, **size == count))
            .map_or(0, |(s, _)| *s);
        if let Some((node, size)) = nodes.iter().zip(&sizes).find(|(_, s)| **s != usual) {
            out.push(on(
                "ES007",
                &node.item,
                format!("CLUSTER_SIZE is {size} here but {usual} on the other nodes"),
            ));
        }
    } else if sizes[0] != count {
        out.push(on(
            "ES007",
            &nodes[0].item,
            format!(
                "CLUSTER_SIZE is {} but the manifests run {count} server(s) in this cluster",
                sizes[0]
            ),
        ));
    }
}

/// The label selectors a pod spreads itself away from.
fn spread_selectors(pod: &Value) -> Vec<&Value> {
    let anti = at(pod, &["affinity", "podAntiAffinity"]);
    let term = |key: &str| seq(anti.and_then(|a| a.get(key)));
    let required = term("requiredDuringSchedulingIgnoredDuringExecution")
        .iter()
        .filter_map(|t| t.get("labelSelector"));
    let preferred = term("preferredDuringSchedulingIgnoredDuringExecution")
        .iter()
        .filter_map(|t| at(t, &["podAffinityTerm", "labelSelector"]));
    let spread = seq(pod.get("topologySpreadConstraints"))
        .iter()
        .filter_map(|t| t.get("labelSelector"));
    required.chain(preferred).chain(spread).collect()
}

/// ES018: each node keeps away from the others (in a StatefulSet, from its siblings).
fn spreading(nodes: &[&Node], out: &mut Vec<Finding>) {
    for (i, node) in nodes.iter().enumerate() {
        let mut peers: Vec<&Labels> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| &n.labels)
            .collect();
        if node.replicas > 1 || peers.is_empty() {
            peers.push(&node.labels);
        }
        let spread = spread_selectors(node.pod)
            .iter()
            .any(|sel| peers.iter().any(|p| selects(Some(sel), p)));
        if !spread {
            out.push(on(
                "ES018",
                &node.item,
                "no pod anti-affinity over the other nodes: one machine can take several down"
                    .into(),
            ));
        }
    }
}

/// Whether `dns` names Service `svc`: `svc`, `svc.ns`, `svc.ns.svc` or `svc.ns.svc.<domain>`.
fn names_service(dns: &str, svc: &Item) -> bool {
    let dns = dns.trim().trim_end_matches('.').to_ascii_lowercase();
    let parts: Vec<&str> = dns.split('.').collect();
    parts[0] == svc.object.name
        && parts
            .get(1)
            .is_none_or(|ns| svc.namespace().is_none_or(|s| s == *ns))
        && parts.get(2).is_none_or(|s| *s == "svc")
}

/// Whether any container of the node's pod has a readiness (or startup) probe: only then can
/// a running pod be not Ready.
fn gates_readiness(node: &Node) -> bool {
    seq(node.pod.get("containers")).iter().any(|c| {
        ["readinessProbe", "startupProbe"]
            .iter()
            .any(|p| c.get(*p).is_some_and(|p| !p.is_null()))
    })
}

/// ES010 and ES011: the headless Services over the nodes publish them before they are
/// Ready, and each node's CLUSTER_DNS names one of them.
fn discovery(inv: &Inventory, nodes: &[&Node], out: &mut Vec<Finding>) {
    let headless = |node: &Node| -> Vec<&Item> {
        inv.of_kind("Service")
            .filter(|s| text(s.at(&["spec", "clusterIP"])).as_deref() == Some("None"))
            .filter(|s| same_namespace(s.namespace(), node.item.namespace()))
            .filter(|s| service_selects(s.at(&["spec", "selector"]), &node.labels))
            .collect()
    };
    // A read-only replica discovers the voting nodes: its CLUSTER_DNS names a headless Service
    // over them, not the one (if any) that gives the replica its own DNS name.
    let mut over_voting: Vec<&Item> = Vec::new();
    for node in nodes.iter().filter(|n| !n.read_only_replica()) {
        for svc in headless(node) {
            if !over_voting.iter().any(|s| s.object == svc.object) {
                over_voting.push(svc);
            }
        }
    }
    let mut seen = Vec::new();
    for node in nodes {
        let own = headless(node);
        for svc in &own {
            let publishes =
                svc.at(&["spec", "publishNotReadyAddresses"]) == Some(&Value::Bool(true));
            // Without a readiness probe a pod is Ready as soon as its containers run, so its
            // address is published anyway.
            if !publishes && gates_readiness(node) && !seen.contains(&svc.object) {
                seen.push(svc.object.clone());
                out.push(on(
                    "ES010",
                    svc,
                    "publishNotReadyAddresses is not true: the nodes cannot find each other \
                     before they are Ready, and they are Ready only after finding each other"
                        .into(),
                ));
            }
        }
        if !node.discovers_via_dns() {
            continue;
        }
        let Some(dns) = node.cluster_dns() else {
            continue;
        };
        let services = if node.read_only_replica() && !over_voting.is_empty() {
            over_voting.clone()
        } else {
            own
        };
        let message = if services.is_empty() {
            Some(format!(
                "CLUSTER_DNS is {dns}, but no headless Service (clusterIP: None) selects the node pods"
            ))
        } else if !services.iter().any(|s| names_service(&dns, s)) {
            let names: Vec<String> = services
                .iter()
                .map(|s| match s.namespace() {
                    Some(ns) => format!("{}.{ns}.svc.cluster.local", s.object.name),
                    None => s.object.name.clone(),
                })
                .collect();
            Some(format!(
                "CLUSTER_DNS is {dns}, not the headless Service's name ({})",
                names.join(" or ")
            ))
        } else {
            None
        };
        if let Some(m) = message {
            out.push(on("ES011", &node.item, m));
        }
    }
}

/// How many of `count` pods a PodDisruptionBudget lets go down at once (Kubernetes rounds
/// percentages up).
fn allowed_down(pdb: &Item, count: u64) -> Option<u64> {
    let of = |v: &Value| -> Option<u64> {
        let t = text(Some(v))?;
        match t.strip_suffix('%') {
            Some(p) => {
                let p: u64 = p.trim().parse().ok()?;
                Some((p * count).div_ceil(100))
            }
            None => t.trim().parse().ok(),
        }
    };
    if let Some(v) = pdb.at(&["spec", "maxUnavailable"]) {
        return of(v).map(|n| n.min(count));
    }
    let min = pdb.at(&["spec", "minAvailable"])?;
    of(min).map(|n| count.saturating_sub(n))
}

/// ES016 and ES017.
fn budgets(inv: &Inventory, nodes: &[&Node], out: &mut Vec<Finding>) {
    let covers = |pdb: &Item, node: &Node| {
        same_namespace(pdb.namespace(), node.item.namespace())
            && selects(pdb.at(&["spec", "selector"]), &node.labels)
    };
    let pdbs: Vec<&Item> = inv
        .of_kind("PodDisruptionBudget")
        .filter(|p| nodes.iter().any(|n| covers(p, n)))
        .collect();
    if pdbs.is_empty() {
        out.push(on(
            "ES016",
            &nodes[0].item,
            "no PodDisruptionBudget covers the nodes: a drain can stop several at once".into(),
        ));
    }
    for pdb in pdbs {
        let count: u64 = nodes
            .iter()
            .filter(|n| covers(pdb, n))
            .map(|n| n.replicas)
            .sum();
        if let Some(down) = allowed_down(pdb, count).filter(|d| *d > 1) {
            out.push(on(
                "ES017",
                pdb,
                format!("lets {down} of {count} nodes be evicted at once"),
            ));
        }
    }
}

//! The inventory the rules run over: every document, the EventStore nodes among them (see
//! `node`), and the nodes grouped into clusters.

use std::collections::BTreeMap;

use super::model::{same_namespace, service_selects, text, Item};
use super::node::{node, Node};
use super::Doc;

/// Every document, the nodes among them, and the nodes grouped into clusters.
pub struct Inventory<'a> {
    pub items: Vec<Item<'a>>,
    pub nodes: Vec<Node<'a>>,
    /// Indices into `nodes`, one list per cluster.
    pub clusters: Vec<Vec<usize>>,
}

impl<'a> Inventory<'a> {
    pub fn new(docs: &'a [Doc]) -> Inventory<'a> {
        let items: Vec<Item<'a>> = docs.iter().map(Item::new).collect();
        let nodes: Vec<Node<'a>> = items.iter().filter_map(|i| node(i, &items)).collect();
        let mut keys: Vec<(Option<String>, String)> =
            nodes.iter().map(|n| cluster_key(n, &items)).collect();
        join_gossip_seeds(&nodes, &items, &mut keys);
        let mut keyed: BTreeMap<(Option<String>, String), Vec<usize>> = BTreeMap::new();
        for (i, key) in keys.into_iter().enumerate() {
            keyed.entry(key).or_default().push(i);
        }
        Inventory {
            items,
            nodes,
            clusters: keyed.into_values().collect(),
        }
    }

    pub fn of_kind<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s Item<'a>> + 's {
        self.items.iter().filter(move |i| i.kind() == kind)
    }

    /// The claim `name` in the node's namespace, if the input has it.
    /// The PersistentVolume in the input a claim binds to: the one it names (`volumeName`),
    /// else one whose `claimRef` names the claim.
    pub fn bound_volume<'s>(&'s self, claim: &Item) -> Option<&'s Item<'a>> {
        let pvs = || self.of_kind("PersistentVolume");
        if let Some(name) = text(claim.at(&["spec", "volumeName"])) {
            return pvs().find(|pv| pv.object.name == name);
        }
        pvs().find(|pv| {
            text(pv.at(&["spec", "claimRef", "name"])).as_deref()
                == Some(claim.object.name.as_str())
                && same_namespace(
                    text(pv.at(&["spec", "claimRef", "namespace"])).as_deref(),
                    claim.namespace(),
                )
        })
    }

    pub fn claim(&self, node: &Node, name: &str) -> Option<&Item<'a>> {
        self.of_kind("PersistentVolumeClaim")
            .find(|c| c.object.name == name && same_namespace(c.namespace(), node.item.namespace()))
    }

    /// The cluster's size: what every node's CLUSTER_SIZE says when they agree, else the
    /// number of nodes the manifests run.
    pub fn cluster_size(&self, cluster: &[usize]) -> u64 {
        let sizes: Vec<Option<u64>> = cluster
            .iter()
            .map(|&i| self.nodes[i].cluster_size())
            .collect();
        match sizes.first() {
            Some(Some(first)) if sizes.iter().all(|s| *s == Some(*first)) => *first,
            _ => self.node_count(cluster),
        }
    }

    /// How many voting servers the manifests run for the cluster (read-only replicas are not
    /// counted in its size).
    pub fn node_count(&self, cluster: &[usize]) -> u64 {
        cluster
            .iter()
            .map(|&i| &self.nodes[i])
            .filter(|n| !n.read_only_replica())
            .map(|n| n.replicas)
            .sum()
    }
}

/// Which cluster a node belongs to, from what really ties nodes together: the
/// `app.kubernetes.io/instance` label; else the discovery name (CLUSTER_DNS, by its Service
/// part); else a headless Service selecting the pods; else the workload alone (a single-node
/// store, or several that nothing says belong together), joined by GOSSIP_SEED below.
fn cluster_key(node: &Node, items: &[Item]) -> (Option<String>, String) {
    let namespace = node.item.object.namespace.clone();
    if let Some(instance) = node.labels.get("app.kubernetes.io/instance") {
        return (namespace, format!("instance {instance}"));
    }
    let dns = node
        .cluster_dns()
        .filter(|d| node.discovers_via_dns() && d.trim() != "fake.dns");
    if let Some(dns) = dns {
        let dns = dns.trim().trim_end_matches('.').to_ascii_lowercase();
        let service = dns.split('.').next().unwrap_or_default();
        return (namespace, format!("dns {service}"));
    }
    let headless = items.iter().find(|s| {
        s.kind() == "Service"
            && text(s.at(&["spec", "clusterIP"])).as_deref() == Some("None")
            && same_namespace(s.namespace(), node.item.namespace())
            && service_selects(s.at(&["spec", "selector"]), &node.labels)
    });
    if let Some(svc) = headless {
        return (namespace, format!("service {}", svc.object.name));
    }
    (
        namespace,
        format!("workload {}/{}", node.item.kind(), node.item.object.name),
    )
}

/// Nodes that found no cluster by label, DNS or Service but list each other in GOSSIP_SEED
/// (`es-2:2113,es-3.es:2113`, by workload name, pod hostname or a Service selecting them)
/// are one cluster: they take the key of the first node they reach.
fn join_gossip_seeds(nodes: &[Node], items: &[Item], keys: &mut [(Option<String>, String)]) {
    let alone = |key: &(Option<String>, String)| key.1.starts_with("workload ");
    let names = |n: &Node| -> Vec<String> {
        let mut names = vec![n.item.object.name.to_ascii_lowercase()];
        names.extend(text(n.pod.get("hostname")).map(|h| h.to_ascii_lowercase()));
        names.extend(
            items
                .iter()
                .filter(|s| s.kind() == "Service")
                .filter(|s| same_namespace(s.namespace(), n.item.namespace()))
                .filter(|s| service_selects(s.at(&["spec", "selector"]), &n.labels))
                .map(|s| s.object.name.to_ascii_lowercase()),
        );
        names
    };
    let seeds = |n: &Node| -> Vec<String> {
        n.setting("GOSSIP_SEED")
            .unwrap_or_default()
            .split(',')
            .filter_map(|seed| {
                let seed = seed.trim().to_ascii_lowercase();
                let host = match seed.rsplit_once(':') {
                    Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h.to_string(),
                    _ => seed,
                };
                let first = host.split('.').next()?.to_string();
                (!first.is_empty()).then_some(first)
            })
            .collect()
    };
    let names: Vec<Vec<String>> = nodes.iter().map(names).collect();
    // Union by repeated relabelling: few nodes, so the simple way is fine.
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..nodes.len()).filter(|&i| nodes[i].settings.contains_key("GOSSIP_SEED")) {
            for seed in seeds(&nodes[i]) {
                for j in (0..nodes.len()).filter(|&j| j != i && names[j].contains(&seed)) {
                    if keys[i] != keys[j]
                        && (alone(&keys[i]) || alone(&keys[j]))
                        && keys[i].0 == keys[j].0
                    {
                        let (from, to) = if alone(&keys[i]) { (i, j) } else { (j, i) };
                        let (old, new) = (keys[from].clone(), keys[to].clone());
                        for k in keys.iter_mut().filter(|k| **k == old) {
                            *k = new.clone();
                        }
                        changed = true;
                    }
                }
            }
        }
    }
}

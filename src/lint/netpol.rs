//! NetworkPolicy reachability for the nodes (ES004, ES005). Policies are additive: traffic is
//! allowed when no policy of that direction selects the pod, or one of those that do admits
//! it. Where the manifests cannot tell (an ipBlock, a namespace selector on labels the input
//! does not show), the traffic counts as admitted: these rules report only certain blocks.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::inventory::Inventory;
use super::model::{labels, same_namespace, selects, seq, text, Item, Labels};
use super::node::{Node, Port};
use super::{Finding, Object};

/// Who sends the traffic.
enum Source<'x> {
    /// Any client: admitted by any peer other than the cluster's own nodes.
    Clients { nodes: &'x [&'x Labels] },
    /// Another node of the cluster.
    Node(&'x Node<'x>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn key(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// Policies of one direction selecting `node`.
fn policies<'i, 'a>(inv: &'i Inventory<'a>, node: &Node, dir: Direction) -> Vec<&'i Item<'a>> {
    inv.of_kind("NetworkPolicy")
        .filter(|p| same_namespace(p.namespace(), node.item.namespace()))
        .filter(|p| selects(p.at(&["spec", "podSelector"]), &node.labels))
        .filter(|p| {
            let types: Vec<String> = seq(p.at(&["spec", "policyTypes"]))
                .iter()
                .filter_map(|t| text(Some(t)))
                .collect();
            match dir {
                Direction::Ingress => types.is_empty() || types.iter().any(|t| t == "Ingress"),
                Direction::Egress => {
                    types.iter().any(|t| t == "Egress")
                        || (types.is_empty() && p.at(&["spec", "egress"]).is_some())
                }
            }
        })
        .collect()
}

/// Whether a rule's port list covers `port` on the destination.
fn ports_cover(ports: Option<&Value>, port: u16, named: &BTreeMap<String, u16>) -> bool {
    let ports = seq(ports);
    ports.is_empty()
        || ports.iter().any(|p| {
            let tcp = text(p.get("protocol")).is_none_or(|proto| proto == "TCP");
            let number = match p.get("port") {
                None => return tcp,
                Some(Value::String(name)) if name.parse::<u16>().is_err() => {
                    return tcp && named.get(name) == Some(&port)
                }
                Some(v) => text(Some(v)).and_then(|n| n.parse::<u16>().ok()),
            };
            let end = text(p.get("endPort")).and_then(|n| n.parse::<u16>().ok());
            tcp && number.is_some_and(|n| n == port || end.is_some_and(|e| n <= port && port <= e))
        })
}

/// Whether a namespace selector can select namespace `ns`; only the name label is known.
fn namespace_selected(selector: &Value, ns: Option<&str>) -> bool {
    const NAME: &str = "kubernetes.io/metadata.name";
    let keys_known = labels(selector.get("matchLabels"))
        .keys()
        .all(|k| k == NAME)
        && seq(selector.get("matchExpressions"))
            .iter()
            .all(|e| text(e.get("key")).as_deref() == Some(NAME));
    match ns {
        Some(ns) if keys_known => {
            selects(Some(selector), &Labels::from([(NAME.into(), ns.into())]))
        }
        _ => true,
    }
}

/// Whether a peer list admits the source (`policy_ns`: the policy's own namespace).
fn peers_admit(peers: Option<&Value>, source: &Source, policy_ns: Option<&str>) -> bool {
    let peers = seq(peers);
    peers.is_empty()
        || peers.iter().any(|peer| {
            if peer.get("ipBlock").is_some() {
                return true;
            }
            let pods = peer.get("podSelector");
            let namespaces = peer.get("namespaceSelector");
            match source {
                Source::Clients { nodes } => {
                    // Pods of other namespaces are clients; in the policy's namespace, a pod
                    // selector keeps clients out only when it picks the nodes themselves
                    // (`{}` picks every pod, clients included).
                    let everyone =
                        pods.is_none_or(|p| p.as_mapping().is_some_and(|m| m.is_empty()));
                    namespaces.is_some() || everyone || !nodes.iter().any(|n| selects(pods, n))
                }
                Source::Node(n) => {
                    let ns_ok = match namespaces {
                        Some(sel) => namespace_selected(sel, n.item.namespace()),
                        None => same_namespace(policy_ns, n.item.namespace()),
                    };
                    ns_ok && pods.is_none_or(|p| selects(Some(p), &n.labels))
                }
            }
        })
}

/// The first policy that blocks `port` on `dest` from `source` (ingress), or from `src` to
/// `dest` (egress); `None` when admitted.
fn blocked_by<'i, 'a>(
    inv: &'i Inventory<'a>,
    dir: Direction,
    subject: &Node,
    peer: &Source,
    port: u16,
    named: &BTreeMap<String, u16>,
) -> Option<&'i Item<'a>> {
    let selecting = policies(inv, subject, dir);
    let peer_key = match dir {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    let admitted = selecting.iter().any(|p| {
        seq(p.at(&["spec", dir.key()])).iter().any(|rule| {
            ports_cover(rule.get("ports"), port, named)
                && peers_admit(rule.get(peer_key), peer, p.namespace())
        })
    });
    if admitted {
        None
    } else {
        selecting.first().copied()
    }
}

/// ES004 and ES005, one finding per policy and rule listing the blocked ports.
pub fn check(inv: &Inventory, out: &mut Vec<Finding>) {
    // (rule, policy) → (file, blocked ports)
    let mut blocked: BTreeMap<(&'static str, Object), (String, Vec<String>)> = BTreeMap::new();
    let mut note = |rule: &'static str, policy: &Item, what: String| {
        let entry = blocked
            .entry((rule, policy.object.clone()))
            .or_insert_with(|| (policy.file.to_string(), Vec::new()));
        if !entry.1.contains(&what) {
            entry.1.push(what);
        }
    };
    let describe = |p: &Port, dir: Direction| format!("{} {} ({})", p.what, p.number, dir.key());
    for cluster in &inv.clusters {
        let nodes: Vec<&Node> = cluster.iter().map(|&i| &inv.nodes[i]).collect();
        let node_labels: Vec<&Labels> = nodes.iter().map(|n| &n.labels).collect();
        let clients = Source::Clients {
            nodes: &node_labels,
        };
        for dest in &nodes {
            let named = dest.named_ports();
            for port in dest.ports().iter().filter(|p| p.client) {
                if let Some(p) =
                    blocked_by(inv, Direction::Ingress, dest, &clients, port.number, &named)
                {
                    note("ES004", p, describe(port, Direction::Ingress));
                }
            }
        }
        let multi = inv.cluster_size(cluster) > 1 || inv.node_count(cluster) > 1;
        if !multi {
            continue;
        }
        for (a, src) in nodes.iter().enumerate() {
            for (b, dest) in nodes.iter().enumerate() {
                let pair = a != b || src.replicas > 1 || nodes.len() == 1;
                if !pair {
                    continue;
                }
                let named = dest.named_ports();
                for port in dest.ports().iter().filter(|p| p.between_nodes) {
                    let n = port.number;
                    if let Some(p) =
                        blocked_by(inv, Direction::Ingress, dest, &Source::Node(src), n, &named)
                    {
                        note("ES005", p, describe(port, Direction::Ingress));
                    }
                    if let Some(p) =
                        blocked_by(inv, Direction::Egress, src, &Source::Node(dest), n, &named)
                    {
                        note("ES005", p, describe(port, Direction::Egress));
                    }
                }
            }
        }
    }
    for ((rule, object), (file, ports)) in blocked {
        let message = match rule {
            "ES004" => format!("clients cannot reach the nodes on {}", ports.join(", ")),
            _ => format!("the nodes cannot reach each other on {}", ports.join(", ")),
        };
        out.push(Finding::new(rule, &object, &file, message));
    }
}

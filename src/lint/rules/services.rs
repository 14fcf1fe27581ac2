//! Rules on the Services that lead to the nodes: a public load balancer (ES019, ES023), and a
//! name whose service-link variables the server refuses as settings (ES024).

use serde_yaml::Value;

use super::Push;
use crate::lint::inventory::Inventory;
use crate::lint::model::{at, pod_of, same_namespace, seq, service_selects, text, Item};
use crate::lint::node::{image_ref, Node};

/// Annotations that keep a cloud load balancer off the internet.
const INTERNAL_LB: &[(&str, &str)] = &[
    ("networking.gke.io/load-balancer-type", "internal"),
    ("cloud.google.com/load-balancer-type", "internal"),
    (
        "service.beta.kubernetes.io/aws-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/aws-load-balancer-scheme",
        "internal",
    ),
    (
        "service.beta.kubernetes.io/azure-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/oci-load-balancer-internal",
        "true",
    ),
];

/// ES019 and ES023.
pub fn load_balancer(svc: &Item, push: &mut Push) {
    if text(svc.at(&["spec", "type"])).as_deref() != Some("LoadBalancer") {
        return;
    }
    let annotation = |key: &str| text(svc.at(&["metadata", "annotations", key]));
    let internal = INTERNAL_LB
        .iter()
        .any(|(k, v)| annotation(k).is_some_and(|a| a.eq_ignore_ascii_case(v)));
    if internal {
        return;
    }
    let mut ranges: Vec<String> = seq(svc.at(&["spec", "loadBalancerSourceRanges"]))
        .iter()
        .filter_map(|r| text(Some(r)))
        .collect();
    if let Some(a) = annotation("service.beta.kubernetes.io/load-balancer-source-ranges") {
        ranges.extend(
            a.split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty()),
        );
    }
    if ranges.is_empty() {
        push(
            "ES019",
            "a public LoadBalancer with no loadBalancerSourceRanges: anyone can connect".into(),
        );
    } else if let Some(open) = ranges.iter().find(|r| *r == "0.0.0.0/0" || *r == "::/0") {
        push(
            "ES023",
            format!("a public LoadBalancer open to {open}: anyone can connect"),
        );
    }
}

/// Whether a word of the text (a config file, a connection string) names Service `name`:
/// `name` alone or followed by `.` (its DNS name) or `:` (a port).
fn mentions(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        before.is_none_or(|c| !word(c)) && after.is_none_or(|c| !word(c) || c == '.')
    })
}

/// What a proxy's configuration says to forward: nginx `upstream`/`proxy_pass`/`grpc_pass`,
/// HAProxy `backend`, Envoy `socket_address`, Traefik/Caddy `reverse_proxy`.
const PROXY_WORDS: &[&str] = &[
    "upstream",
    "proxy_pass",
    "grpc_pass",
    "backend",
    "socket_address",
    "reverse_proxy",
];

/// Whether a Service leads to the servers: it selects server pods, or it selects a proxy
/// whose mounted ConfigMap is a proxy configuration naming a Service that does.
pub fn leads_to_server(inv: &Inventory, svc: &Item) -> bool {
    let selects_nodes = |s: &Item| {
        inv.nodes.iter().any(|n| {
            same_namespace(s.namespace(), n.item.namespace())
                && service_selects(s.at(&["spec", "selector"]), &n.labels)
        })
    };
    if selects_nodes(svc) {
        return true;
    }
    let node_services: Vec<&Item> = inv
        .of_kind("Service")
        .filter(|s| selects_nodes(s))
        .collect();
    if node_services.is_empty() {
        return false;
    }
    inv.items.iter().any(|item| {
        let Some((labels, pod)) = pod_of(item) else {
            return false;
        };
        if !same_namespace(svc.namespace(), item.namespace())
            || !service_selects(svc.at(&["spec", "selector"]), &labels)
        {
            return false;
        }
        let mut texts: Vec<String> = Vec::new();
        for v in seq(pod.get("volumes")) {
            if let Some(map) = text(at(v, &["configMap", "name"])) {
                let data = inv
                    .of_kind("ConfigMap")
                    .find(|c| {
                        c.object.name == map && same_namespace(c.namespace(), item.namespace())
                    })
                    .and_then(|c| c.at(&["data"]))
                    .and_then(Value::as_mapping);
                texts.extend(
                    data.into_iter()
                        .flatten()
                        .filter_map(|(_, v)| text(Some(v))),
                );
            }
        }
        // A proxy's configuration, not an application's settings (which name the Service in
        // a connection string: a client, not a way in).
        texts.iter().any(|t| {
            PROXY_WORDS.iter().any(|w| t.contains(w))
                && node_services.iter().any(|s| mentions(t, &s.object.name))
        })
    })
}

/// The server versions that refuse unknown settings (21.10 on); 5.x and 20.x did not.
fn refuses_unknown_settings(node: &Node) -> bool {
    let tag = text(node.container.get("image"))
        .map(|i| image_ref(&i).tag.unwrap_or_default())
        .unwrap_or_default();
    let older = ["20.", "21.2", "21.6"].iter().any(|p| tag.starts_with(p));
    !node.legacy && !older
}

/// ES024: Kubernetes gives every pod `{SERVICE}_SERVICE_HOST`, `{SERVICE}_PORT`,
/// `{SERVICE}_PORT_{N}_{PROTO}`... for each Service of its namespace (upper case, `-` as `_`)
/// unless the pod sets `enableServiceLinks: false`. A Service named `eventstore` or
/// `eventstore-*` so hands the server settings it does not know (`EVENTSTORE_PORT`), and it
/// refuses to start; `kurrentdb` does the same to a KurrentDB server.
pub fn service_links(inv: &Inventory, svc: &Item, push: &mut Push) {
    let env = svc.object.name.to_ascii_uppercase().replace('-', "_");
    let prefix = ["EVENTSTORE", "KURRENTDB"]
        .into_iter()
        .find(|p| env == *p || env.starts_with(&format!("{p}_")));
    let Some(prefix) = prefix else {
        return;
    };
    let hit: Vec<String> = inv
        .nodes
        .iter()
        .filter(|n| same_namespace(svc.namespace(), n.item.namespace()))
        .filter(|n| n.pod.get("enableServiceLinks") != Some(&Value::Bool(false)))
        .filter(|n| prefix == "EVENTSTORE" || n.kurrent)
        .filter(|n| refuses_unknown_settings(n))
        .map(|n| format!("{}/{}", n.item.kind(), n.item.object.name))
        .collect();
    if hit.is_empty() {
        return;
    }
    push(
        "ES024",
        format!(
            "Service {} makes Kubernetes inject {env}_SERVICE_HOST, {env}_PORT, ... into the server pods of {}: the server refuses them as unknown settings and does not start",
            svc.object.name,
            hit.join(", ")
        ),
    );
}

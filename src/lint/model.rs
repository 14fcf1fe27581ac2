//! What the rules look at: the documents with their identities, label selectors, and the
//! EventStore nodes (see `node`) grouped into clusters.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::node::{node, Node};
use super::{Doc, Object};

/// One document and who it is.
#[derive(Clone, Debug)]
pub struct Item<'a> {
    pub value: &'a Value,
    pub file: &'a str,
    pub object: Object,
}

impl<'a> Item<'a> {
    fn new(doc: &'a Doc) -> Item<'a> {
        let v = &doc.value;
        let kind = text(v.get("kind")).unwrap_or_default();
        let name = text(at(v, &["metadata", "name"]))
            .or_else(|| text(at(v, &["metadata", "generateName"])))
            .unwrap_or_else(|| "?".into());
        let namespace = if is_cluster_scoped(&kind) {
            None
        } else {
            text(at(v, &["metadata", "namespace"]))
        };
        Item {
            value: v,
            file: &doc.file,
            object: Object {
                kind,
                namespace,
                name,
            },
        }
    }

    pub fn at(&self, path: &[&str]) -> Option<&'a Value> {
        at(self.value, path)
    }

    pub fn kind(&self) -> &str {
        &self.object.kind
    }

    pub fn namespace(&self) -> Option<&str> {
        self.object.namespace.as_deref()
    }
}

fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "PersistentVolume"
            | "StorageClass"
            | "Namespace"
            | "Node"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "PriorityClass"
    )
}

pub fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// A scalar as text (`3` and `"3"` alike, as hand-written manifests mix them).
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn seq(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_sequence).map_or(&[], Vec::as_slice)
}

pub type Labels = BTreeMap<String, String>;

pub fn labels(v: Option<&Value>) -> Labels {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((text(Some(k))?, text(Some(v))?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A LabelSelector (matchLabels and matchExpressions); `{}` selects everything, none nothing.
pub fn selects(selector: Option<&Value>, pod: &Labels) -> bool {
    let Some(selector) = selector.filter(|s| s.is_mapping()) else {
        return false;
    };
    let labels_match = labels(selector.get("matchLabels"))
        .iter()
        .all(|(k, v)| pod.get(k) == Some(v));
    let expressions_match = seq(selector.get("matchExpressions")).iter().all(|e| {
        let key = text(e.get("key")).unwrap_or_default();
        let values: Vec<String> = seq(e.get("values"))
            .iter()
            .filter_map(|v| text(Some(v)))
            .collect();
        let value = pod.get(&key);
        match text(e.get("operator")).as_deref() {
            Some("In") => value.is_some_and(|v| values.contains(v)),
            Some("NotIn") => value.is_none_or(|v| !values.contains(v)),
            Some("Exists") => value.is_some(),
            Some("DoesNotExist") => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// A Service's plain selector: none or empty selects no pod.
pub fn service_selects(selector: Option<&Value>, pod: &Labels) -> bool {
    let wanted = labels(selector);
    !wanted.is_empty() && wanted.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// Namespaces match unless both are given and differ (a manifest without one lands in
/// whatever namespace it is applied to).
pub fn same_namespace(a: Option<&str>, b: Option<&str>) -> bool {
    a.is_none() || b.is_none() || a == b
}

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
        let mut keyed: BTreeMap<(Option<String>, Option<String>), Vec<usize>> = BTreeMap::new();
        for (i, n) in nodes.iter().enumerate() {
            keyed.entry(n.cluster_key()).or_default().push(i);
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

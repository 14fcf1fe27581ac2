//! What every rule looks at: the documents with their identities, and label selectors. The
//! bottom of `lint`: it imports nothing from its siblings (`node` builds on it, `inventory` on
//! both), so imports point one way.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{Doc, Object};

/// One document and who it is.
#[derive(Clone, Debug)]
pub struct Item<'a> {
    pub value: &'a Value,
    pub file: &'a str,
    pub object: Object,
}

impl<'a> Item<'a> {
    pub fn new(doc: &'a Doc) -> Item<'a> {
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

/// A pod-making object's pod labels and pod spec (a Pod's own; a template's; a CronJob's
/// job template's).
pub fn pod_of<'v>(item: &Item<'v>) -> Option<(Labels, &'v Value)> {
    let template = match item.kind() {
        "Pod" => {
            return Some((
                labels(item.at(&["metadata", "labels"])),
                item.at(&["spec"])?,
            ))
        }
        "CronJob" => item.at(&["spec", "jobTemplate", "spec", "template"])?,
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => item.at(&["spec", "template"])?,
        _ => return None,
    };
    Some((
        labels(at(template, &["metadata", "labels"])),
        template.get("spec")?,
    ))
}

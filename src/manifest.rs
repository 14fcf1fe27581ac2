//! A rendered Kubernetes object and the checks every one passes before esk will apply it.

use std::fmt;

use serde_yaml::Value;

/// Labels on every object esk applies; `delete` finds the cluster by them.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const NAMESPACE_LABEL: &str = "esk.io/namespace";
pub const NODE_LABEL: &str = "esk.io/node";

/// The kinds esk applies, in the order they are applied (dependencies first) and the plural
/// resource names kubectl takes.
pub const KINDS: &[(&str, &str)] = &[
    ("Namespace", "namespaces"),
    ("Secret", "secrets"),
    ("ConfigMap", "configmaps"),
    ("Service", "services"),
    ("StorageClass", "storageclasses.storage.k8s.io"),
    ("PersistentVolume", "persistentvolumes"),
    ("PersistentVolumeClaim", "persistentvolumeclaims"),
    ("PodDisruptionBudget", "poddisruptionbudgets.policy"),
    ("NetworkPolicy", "networkpolicies.networking.k8s.io"),
    ("Job", "jobs.batch"),
    ("StatefulSet", "statefulsets.apps"),
    ("Deployment", "deployments.apps"),
];

pub fn kind_rank(kind: &str) -> usize {
    KINDS
        .iter()
        .position(|(k, _)| *k == kind)
        .unwrap_or(KINDS.len())
}

pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace" | "PersistentVolume" | "Node" | "StorageClass"
    )
}

/// How an object is named in plans and reports: `Kind/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The template it came from, for error messages.
    pub source: String,
    pub object: ObjectRef,
    pub value: Value,
}

impl Manifest {
    /// An object esk builds in code (a JSON value, which is YAML), named for error messages by
    /// where it was built (`source`).
    pub fn built(source: &str, kind: &str, name: &str, value: serde_json::Value) -> Manifest {
        Manifest {
            source: source.into(),
            object: ObjectRef {
                kind: kind.into(),
                name: name.into(),
            },
            // JSON is YAML; this conversion cannot fail for a value built with json!.
            value: serde_yaml::to_value(value).unwrap_or_default(),
        }
    }

    /// A Job esk runs once and waits for (the restore step, 5.x's credentials): two retries,
    /// removed ten minutes after it ends; `labels` go on the Job and its pod.
    pub fn job(
        source: &str,
        namespace: &str,
        name: &str,
        labels: &serde_json::Value,
        pod: serde_json::Value,
    ) -> Manifest {
        let value = serde_json::json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "backoffLimit": 2,
                "ttlSecondsAfterFinished": 600,
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        });
        Manifest::built(source, "Job", name, value)
    }

    /// Checks one rendered document: a mapping with apiVersion, kind and a valid name, in the
    /// cluster's namespace, carrying the labels `delete` relies on.
    pub fn from_value(
        source: &str,
        value: Value,
        namespace: &str,
        instance: &str,
    ) -> Result<Manifest, String> {
        let text = |path: &[&str]| -> Option<String> {
            let mut v = &value;
            for p in path {
                v = v.get(p)?;
            }
            v.as_str().map(str::to_string)
        };
        let kind = text(&["kind"]).ok_or("a document has no kind")?;
        text(&["apiVersion"]).ok_or_else(|| format!("{kind} has no apiVersion"))?;
        let name = text(&["metadata", "name"]).ok_or_else(|| format!("{kind} has no name"))?;
        if !is_dns_subdomain(&name) {
            return Err(format!(
                "{kind} name \"{}\" is not a valid name",
                name.escape_debug()
            ));
        }
        let object_ns = text(&["metadata", "namespace"]);
        if is_cluster_scoped(&kind) {
            if object_ns.is_some() {
                return Err(format!(
                    "{kind}/{name} is cluster-scoped but sets a namespace"
                ));
            }
        } else if object_ns.as_deref() != Some(namespace) {
            return Err(format!("{kind}/{name} must be in namespace {namespace}"));
        }
        let label = |k: &str| text(&["metadata", "labels", k]);
        if label(MANAGED_BY).as_deref() != Some("esk")
            || label(INSTANCE).as_deref() != Some(instance)
        {
            return Err(format!(
                "{kind}/{name} lacks the labels {MANAGED_BY}=esk and {INSTANCE}={instance}; \
                 use labels(...) in the template"
            ));
        }
        Ok(Manifest {
            source: source.to_string(),
            object: ObjectRef { kind, name },
            value,
        })
    }

    pub fn node(&self) -> Option<u8> {
        self.value
            .get("metadata")?
            .get("labels")?
            .get(NODE_LABEL)?
            .as_str()
            .and_then(crate::domain::parse_member)
    }
}

/// A YAML stream of the manifests, `---` separated, as `kubectl apply -f -` reads it.
pub fn to_yaml_stream(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n");
        // Serialising a parsed YAML value cannot fail.
        out.push_str(&serde_yaml::to_string(&m.value).unwrap_or_default());
    }
    out
}

/// RFC 1123 subdomain, as Kubernetes requires of most object names.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).unwrap()
    }

    const LABELS: &str =
        "labels: {app.kubernetes.io/managed-by: esk, app.kubernetes.io/instance: es}";

    #[test]
    fn accepts_a_labelled_object_in_the_namespace() {
        let v = doc(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a, namespace: ns, {LABELS}}}"
        ));
        let m = Manifest::from_value("t", v, "ns", "es").unwrap();
        assert_eq!(m.object.to_string(), "ConfigMap/a");
    }

    #[test]
    fn refuses_objects_delete_could_not_find_or_that_escape_the_namespace() {
        let unlabelled = doc("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}");
        assert!(Manifest::from_value("t", unlabelled, "ns", "es").is_err());
        let elsewhere = doc(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a, namespace: kube-system, {LABELS}}}"
        ));
        assert!(Manifest::from_value("t", elsewhere, "ns", "es").is_err());
        let bad_name = doc(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: A_b, namespace: ns, {LABELS}}}"
        ));
        assert!(Manifest::from_value("t", bad_name, "ns", "es").is_err());
    }
}

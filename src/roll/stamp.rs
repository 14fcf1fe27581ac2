//! What a node workload's pods are made from, as hashes kept on the workload: a roll compares
//! them with what is live to know which nodes a change restarts (without a dry run against the
//! API server, and the same for a render on a laptop).
//!
//! - `esk.io/pod-spec`: the rendered pod template alone; known when planning, so `--dry-run`
//!   can name the nodes a profile or setting change restarts.
//! - `esk.io/tls` (on the pod template): the Secrets and ConfigMaps the pods mount, so a new
//!   certificate or CA bundle restarts the pods that read it (the servers load them at start).
//! - `esk.io/template`: both together, also on the pods, so a roll can tell a node's new pod
//!   from its old one.

use serde_yaml::{Mapping, Value};

use crate::manifest::{Manifest, COMPONENT};

pub use crate::domain::{POD_SPEC, TEMPLATE};
pub const TLS: &str = "esk.io/tls";

/// FNV-1a, 64 bits, as 16 hex digits: change detection, not security.
fn hash(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// A node Deployment or StatefulSet (the workloads whose pods are EventStore servers).
pub fn is_node_workload(m: &Manifest) -> bool {
    matches!(m.object.kind.as_str(), "Deployment" | "StatefulSet")
        && m.value["metadata"]["labels"][COMPONENT].as_str() == Some("node")
}

/// The hash of a node workload's rendered pod template (before any stamp).
pub fn pod_spec_hash(m: &Manifest) -> Option<String> {
    if !is_node_workload(m) {
        return None;
    }
    let template = m.value["spec"]["template"].clone();
    serde_yaml::to_string(&template).ok().map(|t| hash(&t))
}

/// Names of the Secrets and ConfigMaps a pod template mounts.
fn mounted(template: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let volumes = template["spec"]["volumes"].as_sequence().cloned();
    for v in volumes.into_iter().flatten() {
        if let Some(name) = v["secret"]["secretName"].as_str() {
            out.push(("Secret", name.to_string()));
        }
        if let Some(name) = v["configMap"]["name"].as_str() {
            out.push(("ConfigMap", name.to_string()));
        }
        for s in v["projected"]["sources"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            if let Some(name) = s["secret"]["name"].as_str() {
                out.push(("Secret", name.to_string()));
            }
            if let Some(name) = s["configMap"]["name"].as_str() {
                out.push(("ConfigMap", name.to_string()));
            }
        }
    }
    out
}

fn annotations(v: &mut Value) -> Option<&mut Mapping> {
    let meta = v.get_mut("metadata")?.as_mapping_mut()?;
    let key = Value::from("annotations");
    if !meta.contains_key(&key) {
        meta.insert(key.clone(), Value::Mapping(Mapping::new()));
    }
    meta.get_mut(&key)?.as_mapping_mut()
}

/// Puts the three hashes on every node workload among `manifests`, the TLS one from the
/// mounted objects found in the same list.
pub fn stamp(manifests: &mut [Manifest]) {
    let data_of = |kind: &str, name: &str, all: &[Manifest]| -> String {
        all.iter()
            .find(|m| m.object.kind == kind && m.object.name == name)
            .and_then(|m| serde_yaml::to_string(&m.value["data"]).ok())
            .unwrap_or_default()
    };
    let mut stamps = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        let Some(pod_spec) = pod_spec_hash(m) else {
            continue;
        };
        let mut tls = String::new();
        for (kind, name) in mounted(&m.value["spec"]["template"]) {
            tls.push_str(&format!(
                "{kind}/{name}:{}\n",
                data_of(kind, &name, manifests)
            ));
        }
        let tls = hash(&tls);
        stamps.push((
            i,
            pod_spec.clone(),
            tls.clone(),
            hash(&format!("{pod_spec}/{tls}")),
        ));
    }
    for (i, pod_spec, tls, template) in stamps {
        let value = &mut manifests[i].value;
        if let Some(a) = value
            .get_mut("spec")
            .and_then(|s| s.get_mut("template"))
            .and_then(annotations)
        {
            a.insert(TLS.into(), tls.into());
            a.insert(TEMPLATE.into(), template.clone().into());
        }
        if let Some(a) = annotations(value) {
            a.insert(POD_SPEC.into(), pod_spec.into());
            a.insert(TEMPLATE.into(), template.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ObjectRef;

    fn manifest(kind: &str, name: &str, yaml: &str) -> Manifest {
        Manifest {
            source: "test".into(),
            object: ObjectRef {
                kind: kind.into(),
                name: name.into(),
            },
            value: serde_yaml::from_str(yaml).expect("test yaml"),
        }
    }

    fn node(image: &str) -> Manifest {
        manifest(
            "Deployment",
            "es-1",
            &format!(
                "metadata: {{name: es-1, labels: {{app.kubernetes.io/component: node}}}}\n\
                 spec:\n  template:\n    metadata: {{labels: {{a: b}}}}\n    spec:\n      \
                 containers: [{{name: c, image: {image}}}]\n      volumes:\n      - \
                 {{name: t, secret: {{secretName: es-node-1-tls}}}}\n"
            ),
        )
    }

    fn secret(cert: &str) -> Manifest {
        manifest(
            "Secret",
            "es-node-1-tls",
            &format!("metadata: {{name: es-node-1-tls}}\ndata: {{tls.crt: {cert}}}\n"),
        )
    }

    fn stamped(image: &str, cert: &str) -> Manifest {
        let mut all = vec![secret(cert), node(image)];
        stamp(&mut all);
        all.remove(1)
    }

    fn get<'a>(m: &'a Manifest, path: &[&str]) -> &'a str {
        path.iter()
            .fold(&m.value, |v, p| &v[*p])
            .as_str()
            .unwrap_or("")
    }

    #[test]
    fn an_image_change_moves_the_pod_spec_and_a_new_certificate_only_the_tls_hash() {
        let a = stamped("x:1", "AAA");
        let image = stamped("x:2", "AAA");
        let cert = stamped("x:1", "BBB");
        let spec = ["metadata", "annotations", POD_SPEC];
        let tls = ["spec", "template", "metadata", "annotations", TLS];
        let whole = ["metadata", "annotations", TEMPLATE];
        assert_ne!(get(&a, &spec), get(&image, &spec));
        assert_eq!(get(&a, &spec), get(&cert, &spec));
        assert_eq!(get(&a, &tls), get(&image, &tls));
        assert_ne!(get(&a, &tls), get(&cert, &tls));
        for other in [&image, &cert] {
            assert_ne!(get(&a, &whole), get(other, &whole));
        }
        assert_eq!(get(&a, &whole), get(&stamped("x:1", "AAA"), &whole));
        // The pods carry the whole hash, so a roll tells new pods from old.
        let on_pod = ["spec", "template", "metadata", "annotations", TEMPLATE];
        assert_eq!(get(&a, &on_pod), get(&a, &whole));
        // The plan's hash (before stamping) is the stamped one.
        assert_eq!(pod_spec_hash(&node("x:1")).as_deref(), Some(get(&a, &spec)));
    }

    #[test]
    fn only_node_workloads_are_stamped() {
        let mut all = vec![manifest(
            "Deployment",
            "es-frontend",
            "metadata: {name: f, labels: {app.kubernetes.io/component: frontend}}\nspec: {template: {metadata: {}}}\n",
        )];
        stamp(&mut all);
        assert!(all[0].value["metadata"]["annotations"].is_null());
    }
}

//! TLS material and passwords, built in code rather than templates so private keys never pass
//! through `render` (unless asked) and reach kubectl only on stdin. The CA and the passwords
//! outlive `delete --keep-disks` (the data on the disks was written under them); node
//! certificates are reused until `--rotate-certs`.

use std::collections::BTreeMap;

use anyhow::Result;
use base64::Engine;
use serde_json::{json, Value};

use crate::error::Refused;
use crate::manifest::{Manifest, ObjectRef};
use crate::names::{
    ca_configmap, ca_secret, client_dns, cluster_dns, credentials_secret, labels, node_secret,
};
use crate::spec::Spec;
use crate::tls::{self, Ca, NodeCert};

/// Objects `delete --keep-disks` leaves in place with the disks.
pub fn kept_with_disks(spec: &Spec, object: &ObjectRef) -> bool {
    object.kind == "Secret"
        && (object.name == ca_secret(spec) || object.name == credentials_secret(spec))
}

/// Secret data already in the cluster, decoded: secret name → key → value.
pub type SecretData = BTreeMap<String, BTreeMap<String, String>>;

/// Decodes a Secret's base64 `data`.
pub fn decode(data: &Value) -> BTreeMap<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    data.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let bytes = b64.decode(v.as_str()?).ok()?;
            Some((k.clone(), String::from_utf8(bytes).ok()?))
        })
        .collect()
}

/// The SANs of node i's certificate: its stable DNS names, the cluster's, and localhost.
pub fn node_dns_names(spec: &Spec, i: u8) -> Vec<String> {
    let node = spec.node_name(i);
    if crate::spec::replica_of(i).is_some() {
        // A read-only replica answers only for itself: clients reach it by the name it
        // advertises in gossip, never by the cluster's or the client Service's name.
        let service = crate::names::replica_service(spec);
        return vec![
            crate::names::member_fqdn(spec, i),
            format!("{node}.{service}.{}.svc", spec.namespace),
            node,
        ];
    }
    let cluster = cluster_dns(spec);
    vec![
        format!("{node}.{cluster}"),
        format!("{node}.{}.{}.svc", spec.name, spec.namespace),
        node,
        cluster,
        format!("{}.{}.svc", spec.name, spec.namespace),
        client_dns(spec),
        format!("{}-client.{}.svc", spec.name, spec.namespace),
    ]
}

/// The names of the objects `material` makes, for plans and `render`.
pub fn object_refs(spec: &Spec) -> Vec<ObjectRef> {
    let secret = |name: String| ObjectRef {
        kind: "Secret".into(),
        name,
    };
    if !spec.security.tls {
        return Vec::new();
    }
    let mut refs = vec![
        secret(credentials_secret(spec)),
        secret(ca_secret(spec)),
        ObjectRef {
            kind: "ConfigMap".into(),
            name: ca_configmap(spec),
        },
    ];
    refs.extend(spec.members().map(|i| secret(node_secret(spec, i))));
    refs
}

/// The CA the CA Secret holds (its fields empty where the Secret lacks them).
fn stored_ca(spec: &Spec, existing: &SecretData) -> Option<Ca> {
    existing.get(&ca_secret(spec)).map(|d| Ca {
        cert_pem: d.get("ca.crt").cloned().unwrap_or_default(),
        key_pem: d.get("ca.key").cloned().unwrap_or_default(),
    })
}

/// Refuses to go on over a stored CA esk cannot sign with: replacing it silently would cut off
/// every client that trusts it. Runs before anything changes.
pub fn check_ca(spec: &Spec, existing: &SecretData, rotate: bool) -> Result<(), Refused> {
    let Some(ca) = stored_ca(spec, existing) else {
        return Ok(());
    };
    if spec.security.tls && !rotate && !tls::ca_matches(&ca) {
        return Err(Refused::new(format!(
            "Secret {} does not hold a CA esk can use; --rotate-certs replaces it and every \
             node certificate",
            ca_secret(spec)
        )));
    }
    Ok(())
}

/// What a run did with the TLS material, for the report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Issued {
    pub new_ca: bool,
    pub new_node_certs: Vec<u8>,
}

/// The Secrets (and the CA certificate ConfigMap) for `spec`, reusing what `existing` has.
/// `phase`: the certificate rotation phase this run applies (see `rotation`), if any.
pub fn material(
    spec: &Spec,
    existing: &SecretData,
    rotate: bool,
    phase: Option<crate::rotation::Phase>,
) -> Result<(Vec<Manifest>, Issued)> {
    let mut out = Vec::new();
    let mut issued = Issued::default();
    if !spec.security.tls {
        // Without TLS the servers run without authentication: no passwords to keep.
        return Ok((out, issued));
    }
    let creds = existing.get(&credentials_secret(spec));
    let password = |key: &str| -> Result<String> {
        match creds.and_then(|c| c.get(key)) {
            Some(p) if !p.is_empty() => Ok(p.clone()),
            _ => tls::password(),
        }
    };
    out.push(secret(
        spec,
        &credentials_secret(spec),
        "Opaque",
        None,
        &[
            ("admin-password", password("admin-password")?),
            ("ops-password", password("ops-password")?),
        ],
    ));
    let stored_ca = stored_ca(spec, existing);
    check_ca(spec, existing, rotate && phase.is_none())?;
    let cas = match phase {
        Some(phase) => {
            let next = existing.get(&ca_secret(spec)).and_then(|d| {
                Some(Ca {
                    cert_pem: d.get("next.crt")?.clone(),
                    key_pem: d.get("next.key")?.clone(),
                })
            });
            crate::rotation::cas(phase, stored_ca, next, spec.name.as_str())?
        }
        None => match (stored_ca, rotate) {
            (Some(ca), false) => crate::rotation::Cas::single(ca, false),
            _ => crate::rotation::Cas::single(tls::new_ca(spec.name.as_str())?, true),
        },
    };
    issued.new_ca = cas.new_ca;
    out.push(secret(spec, &ca_secret(spec), "Opaque", None, &cas.secret));
    out.push(ca_cert_configmap(spec, &cas.trusted));
    let ca = cas.signer;
    let mut wanted = Vec::new();
    for i in spec.members() {
        let stored = existing.get(&node_secret(spec, i)).and_then(|d| {
            // Reuse only a certificate issued by the CA in use now.
            let cert = NodeCert {
                cert_pem: d.get("tls.crt")?.clone(),
                key_pem: d.get("tls.key")?.clone(),
            };
            // …and only while it is valid for a month more and names what it should.
            let current = d.get("ca.crt") == Some(&ca.cert_pem)
                && tls::cert_is_current(&cert.cert_pem, &node_dns_names(spec, i), 30);
            current.then_some(cert)
        });
        wanted.push((i, stored));
    }
    // Each new certificate needs an RSA key: make them on every core.
    let certs = crate::parallel::parallel_map(&wanted, threads(), |(i, stored)| match stored {
        Some(c) => Ok((c.clone(), false)),
        None => tls::node_cert(&ca, &node_dns_names(spec, *i)).map(|c| (c, true)),
    });
    for ((i, _), cert) in wanted.iter().zip(certs) {
        let (cert, new) = cert?;
        if new {
            issued.new_node_certs.push(*i);
        }
        out.push(secret(
            spec,
            &node_secret(spec, *i),
            "kubernetes.io/tls",
            Some(*i),
            &[
                ("tls.crt", cert.cert_pem),
                ("tls.key", cert.key_pem),
                ("ca.crt", ca.cert_pem.clone()),
            ],
        ));
    }
    Ok((out, issued))
}

fn metadata(spec: &Spec, name: &str, component: &str, node: Option<u8>) -> Value {
    json!({
        "name": name,
        "namespace": spec.namespace.as_str(),
        "labels": labels(spec, component, node),
    })
}

fn secret(
    spec: &Spec,
    name: &str,
    kind: &str,
    node: Option<u8>,
    data: &[(&str, String)],
) -> Manifest {
    let b64 = base64::engine::general_purpose::STANDARD;
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(b64.encode(v))))
        .collect();
    let component = if node.is_some() { "tls" } else { "secrets" };
    let value = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(spec, name, component, node),
        "type": kind,
        "data": data,
    });
    Manifest::built("secrets", "Secret", name, value)
}

/// The trusted roots, one file each (the nodes mount every key; clients read `ca.crt`).
fn ca_cert_configmap(spec: &Spec, trusted: &[(&str, String)]) -> Manifest {
    let name = ca_configmap(spec);
    let data: serde_json::Map<String, Value> = trusted
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    let value = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(spec, &name, "tls", None),
        "data": data,
    });
    Manifest::built("secrets", "ConfigMap", &name, value)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

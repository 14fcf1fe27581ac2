//! Things that are not failures yet, each with its fix: certificates near expiry, an even node
//! count, spreading that is only preferred, surplus disks after a shrink, a disk in a zone
//! where the cluster has no Kubernetes node.

use serde_json::Value;

use super::clock::date;
use super::facts::Affinity;
use crate::domain::{Disk, Owner};
use crate::secrets;
use crate::spec::{NodeCount, Spec};

/// Certificates expiring within this many days are reported (esk renews node certificates at
/// the same age, but only when it runs).
pub const CERT_WARN_DAYS: i64 = 30;

/// When a PEM certificate stops being valid (seconds since the epoch).
pub fn not_after(cert_pem: &str) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn expiry(what: &str, until: i64, now: i64) -> Option<String> {
    let days = (until - now).div_euclid(86_400);
    if until - now > CERT_WARN_DAYS * 86_400 {
        return None;
    }
    Some(if until <= now {
        format!("{what} expired on {}", date(until))
    } else {
        format!("{what} expires on {} (in {days} day(s))", date(until))
    })
}

/// The CA (Secret `<name>-ca`) and each node's certificate (`<name>-node-<i>-tls`).
pub fn certificates(spec: &Spec, secrets_found: &[Value], now: i64) -> Vec<String> {
    let pem_of = |secret: &str, key: &str| {
        secrets_found
            .iter()
            .find(|s| s["metadata"]["name"] == secret)
            .and_then(|s| secrets::decode(&s["data"]).get(key).cloned())
    };
    let n = spec.nodes;
    let mut out = Vec::new();
    if let Some(until) =
        pem_of(&crate::names::ca_secret(spec), "ca.crt").and_then(|p| not_after(&p))
    {
        if let Some(e) = expiry("the cluster CA", until, now) {
            out.push(format!(
                "warning: {e}: `esk create {n} --rotate-certs` replaces it and every node \
                 certificate (clients must then trust the new CA: `esk ca-cert`)"
            ));
        }
    }
    let mut nodes = Vec::new();
    for i in spec.nodes.indices() {
        let pem = pem_of(&crate::names::node_secret(spec, i), "tls.crt");
        if let Some(e) = pem
            .and_then(|p| not_after(&p))
            .and_then(|u| expiry("", u, now))
        {
            nodes.push(format!("node {i}{e}"));
        }
    }
    if !nodes.is_empty() {
        out.push(format!(
            "warning: the certificate of {}; esk renews node certificates only when it runs: \
             run `esk create {n}` before then",
            nodes.join(", ")
        ));
    }
    out
}

/// An even count survives no more failures than the odd count below it.
pub fn node_count(n: NodeCount) -> Option<String> {
    n.quorum_warning().map(|w| {
        format!(
            "{w}: `esk resize {}` or `esk resize {}`",
            n.get() - 1,
            n.get() + 1
        )
    })
}

/// The record says spreading was only preferred when the cluster was made.
pub fn spreading(anti_affinity: &str, n: NodeCount) -> Option<String> {
    (anti_affinity == "preferred").then(|| {
        format!(
            "warning: spreading the nodes over Kubernetes nodes is only preferred (there were \
             fewer Kubernetes nodes than EventStore nodes), so one machine can take down more \
             than one node; once there are at least {n}, `esk create {n} --set \
             node.antiAffinity=required` makes it required (every node restarts)"
        )
    })
}

/// Disks of this cluster beyond its node count (kept by a shrink).
pub fn surplus_disks(disks: &[Disk], spec: &Spec) -> Option<String> {
    let n = spec.nodes;
    let mut surplus: Vec<&Disk> = disks
        .iter()
        .filter(|d| d.owner.is_ours() && d.node.is_some_and(|i| !spec.is_member(i)))
        .collect();
    surplus.sort_by_key(|d| d.node);
    if surplus.is_empty() {
        return None;
    }
    let names: Vec<&str> = surplus.iter().map(|d| d.name.as_str()).collect();
    let adopted = surplus.iter().any(|d| d.owner == Owner::Adopted);
    Some(format!(
        "warning: disk(s) {} are kept from a shrink and used by no node: `esk resize {n} \
         --prune-disks` deletes them and their data{}",
        names.join(", "),
        if adopted {
            " (adopted disks are never deleted by esk)"
        } else {
            ""
        }
    ))
}

const ZONE_KEYS: &[&str] = &[
    "topology.kubernetes.io/zone",
    "topology.gke.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.ebs.csi.aws.com/zone",
];

/// Where a node's disk can be mounted.
pub struct Placement {
    pub node: u8,
    pub disk: String,
    pub affinity: Affinity,
}

/// A node's volume must be mounted where its affinity says; warn when no Kubernetes node is
/// there.
pub fn zones_without_nodes(volumes: &[Placement], nodes: &[Value]) -> Vec<String> {
    // Place (zone or host) → the disks there, and whether it is a zone.
    let mut missing: std::collections::BTreeMap<(bool, String), Vec<String>> = Default::default();
    for Placement {
        node: i,
        disk,
        affinity,
    } in volumes
    {
        for (key, values) in affinity {
            let zone = ZONE_KEYS.contains(&key.as_str());
            if !zone && key != "kubernetes.io/hostname" {
                continue;
            }
            let present = nodes.iter().any(|n| {
                let labels = &n["metadata"]["labels"];
                values.iter().any(|v| {
                    if zone {
                        ZONE_KEYS.iter().any(|k| labels[*k] == v.as_str())
                    } else {
                        labels[key.as_str()] == v.as_str() || n["metadata"]["name"] == v.as_str()
                    }
                })
            });
            if !present {
                missing
                    .entry((zone, values.join(", ")))
                    .or_default()
                    .push(format!("node {i}'s disk {disk}"));
            }
        }
    }
    missing
        .into_iter()
        .map(|((zone, place), disks)| {
            let what = disks.join(", ");
            if zone {
                format!(
                    "warning: {what}: in zone {place}, where the cluster has no Kubernetes \
                     node, so the pod cannot be scheduled: add a node pool in {place}"
                )
            } else {
                format!(
                    "warning: {what}: on Kubernetes node {place}, which does not exist, so the \
                     pod cannot be scheduled"
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_is_reported_within_thirty_days() {
        let day = 86_400;
        assert_eq!(expiry("x", 100 * day, 0), None);
        assert_eq!(
            expiry("x", 10 * day, 0).as_deref(),
            Some("x expires on 1970-01-11 (in 10 day(s))")
        );
        assert_eq!(
            expiry("x", day, 2 * day).as_deref(),
            Some("x expired on 1970-01-02")
        );
    }

    #[test]
    fn zones_need_a_kubernetes_node() {
        let nodes = [json!({"metadata": {"name": "n1",
            "labels": {"topology.kubernetes.io/zone": "us-central1-a"}}})];
        let affinity =
            |zone: &str| vec![("topology.gke.io/zone".to_string(), vec![zone.to_string()])];
        let place = |node: u8, zone: &str| Placement {
            node,
            disk: format!("es-disk-{node}"),
            affinity: affinity(zone),
        };
        let volumes = vec![place(1, "us-central1-a"), place(2, "us-central1-b")];
        let w = zones_without_nodes(&volumes, &nodes);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            w[0],
            "warning: node 2's disk es-disk-2: in zone us-central1-b, where the cluster has no \
             Kubernetes node, so the pod cannot be scheduled: add a node pool in us-central1-b"
        );
    }

    #[test]
    fn even_counts_and_surplus_disks_say_what_to_run() {
        let w = node_count(NodeCount::new(4).unwrap()).unwrap();
        assert!(w.ends_with("`esk resize 3` or `esk resize 5`"), "{w}");
        assert_eq!(node_count(NodeCount::new(3).unwrap()), None);
        let disk = |i: u8| Disk {
            name: format!("es-disk-{i}"),
            id: String::new(),
            node: Some(i),
            replaced: None,
            owner: Owner::This,
            source: crate::domain::DiskSource {
                kind: "csi".into(),
                driver: String::new(),
                handle: String::new(),
                path: String::new(),
                topology_key: String::new(),
                topology_value: String::new(),
            },
        };
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            g: crate::cli::Global,
        }
        let mut spec = <Args as clap::Parser>::parse_from(["esk"])
            .g
            .spec(NodeCount::new(3).unwrap(), Some(crate::spec::Cloud::Gke))
            .unwrap();
        spec.set_replicas(1).unwrap();
        let r = |j: u8| crate::spec::REPLICA_BASE + j;
        let disks = [disk(1), disk(4), disk(5), disk(r(1)), disk(r(2))];
        let w = surplus_disks(&disks, &spec).unwrap();
        assert!(
            w.starts_with("warning: disk(s) es-disk-4, es-disk-5, es-disk-102 are kept"),
            "{w}"
        );
        assert!(w.contains("`esk resize 3 --prune-disks`"));
        assert_eq!(surplus_disks(&[disk(1), disk(r(1))], &spec), None);
    }
}

//! The cluster's identity as names: every name esk derives from the cluster's name and
//! namespace — DNS names, object names, labels and the selector that finds them all. One place,
//! below render, secrets, record and the adapters, so they all agree.

use std::collections::BTreeMap;

use crate::manifest::{COMPONENT, INSTANCE, MANAGED_BY, NAMESPACE_LABEL, NODE_LABEL};
use crate::spec::{Spec, Workload};

/// The Kubernetes DNS domain (`cluster.local` unless the profile says otherwise).
pub fn domain(spec: &Spec) -> String {
    spec.profile
        .str("clusterDomain")
        .unwrap_or_else(|_| "cluster.local".into())
}

/// The headless Service's name: resolves to every node, for gossip discovery.
pub fn cluster_dns(spec: &Spec) -> String {
    format!("{}.{}.svc.{}", spec.name, spec.namespace, domain(spec))
}

/// The headless Service that gives the read-only replicas their own DNS names
/// (`<host>.<name>-replica.<ns>.svc`), kept apart from the discovery Service so the cluster's
/// DNS name resolves to voting nodes only.
pub fn replica_service(spec: &Spec) -> String {
    format!("{}-replica", spec.name)
}

/// The stable DNS name of member i (a node or a read-only replica).
pub fn member_fqdn(spec: &Spec, i: u8) -> String {
    match crate::spec::replica_of(i) {
        Some(_) => format!(
            "{}.{}.{}.svc.{}",
            spec.node_name(i),
            replica_service(spec),
            spec.namespace,
            domain(spec)
        ),
        None => format!("{}.{}", spec.node_name(i), cluster_dns(spec)),
    }
}

/// The client Service's name: one address over the ready nodes.
pub fn client_dns(spec: &Spec) -> String {
    format!(
        "{}-client.{}.svc.{}",
        spec.name,
        spec.namespace,
        domain(spec)
    )
}

/// Names of node i's objects; the PV is cluster-scoped, so it carries the namespace, after
/// a dot that neither a namespace nor a cluster name can contain (so no two clusters share one).
pub fn pv_name(spec: &Spec, i: u8) -> String {
    format!("{}.{}", spec.namespace, spec.disk_name(i))
}

/// esk's StorageClass for the cluster's node volumes (gke, aws): it names the cloud's CSI
/// driver and allows expansion, so the external-resizer grows a disk when its claim asks for
/// more. Cluster-scoped, so it carries the namespace like the PVs (`esk.<ns>.<name>`).
pub fn storage_class(spec: &Spec) -> String {
    format!("esk.{}.{}", spec.namespace, spec.name)
}

/// Node i's claim. A StatefulSet finds its claims by name, `<template>-<set>-<ordinal>`, so
/// esk pre-creates them under that name.
pub fn pvc_name(spec: &Spec, i: u8) -> String {
    if let Some(j) = crate::spec::replica_of(i) {
        return format!("{}-replica-data-{j}", spec.name);
    }
    match spec.workload {
        Workload::Deployment => format!("{}-data-{i}", spec.name),
        Workload::StatefulSet => format!("data-{}-{}", spec.name, i - 1),
    }
}

pub fn ca_secret(spec: &Spec) -> String {
    format!("{}-ca", spec.name)
}

pub fn ca_configmap(spec: &Spec) -> String {
    format!("{}-ca-cert", spec.name)
}

pub fn credentials_secret(spec: &Spec) -> String {
    format!("{}-credentials", spec.name)
}

pub fn node_secret(spec: &Spec, i: u8) -> String {
    match crate::spec::replica_of(i) {
        Some(j) => format!("{}-replica-{j}-tls", spec.name),
        None => format!("{}-node-{i}-tls", spec.name),
    }
}

pub fn record_name(spec: &Spec) -> String {
    format!("esk.{}", spec.name)
}

/// The ConfigMap noting the cluster's last backup.
pub fn last_backup_name(spec: &Spec) -> String {
    format!("esk-backups.{}", spec.name)
}

/// The label sets, as template functions: `labels(component, node=none)` for metadata and
/// `selector(component, node=none)` for the immutable selectors (a subset that never changes).
pub fn labels(spec: &Spec, component: &str, node: Option<u8>) -> BTreeMap<String, String> {
    let mut l = selector(spec, component, node);
    l.insert(MANAGED_BY.into(), "esk".into());
    l.insert(NAMESPACE_LABEL.into(), spec.namespace.to_string());
    l
}

pub fn selector(spec: &Spec, component: &str, node: Option<u8>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("app.kubernetes.io/name".into(), "eventstore".into());
    l.insert(INSTANCE.into(), spec.name.to_string());
    l.insert(COMPONENT.into(), component.into());
    if let Some(i) = node {
        l.insert(NODE_LABEL.into(), crate::spec::member_label(i));
    }
    l
}

/// The label selector that finds every object of the cluster.
pub fn selector_string(spec: &Spec) -> String {
    format!(
        "{MANAGED_BY}=esk,{INSTANCE}={},{NAMESPACE_LABEL}={}",
        spec.name, spec.namespace
    )
}

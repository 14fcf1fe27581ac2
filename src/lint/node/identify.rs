//! Which container of a workload is an EventStore / KurrentDB server: its image, else the
//! settings or ports only a server has (an application image named `eventstore` is not
//! enough).

use super::image::{image_kind, image_ref, ImageKind};
use super::settings::{options, settings};
use super::{Node, Workload};
use crate::lint::model::{at, labels, seq, text, Item};

/// Settings only an EventStore / KurrentDB server reads (a client app may well have an
/// `EVENTSTORE_CONNECTION_STRING`, which must not make it a node).
const SERVER_SETTINGS: &[&str] = &[
    "CLUSTER_SIZE",
    "DISCOVER_VIA_DNS",
    "CLUSTER_DNS",
    "INSECURE",
    "GOSSIP_SEED",
    "CLUSTER_GOSSIP_PORT",
    "NODE_IP",
    "NODE_PORT",
    "HTTP_PORT",
    "REPLICATION_IP",
    "REPLICATION_PORT",
    "NODE_HOST_ADVERTISE_AS",
    "INT_IP",
    "EXT_IP",
    "INT_TCP_PORT",
    "EXT_TCP_PORT",
    "INT_HTTP_PORT",
    "EXT_HTTP_PORT",
    "RUN_PROJECTIONS",
    "MEM_DB",
    "CERTIFICATE_FILE",
    "TRUSTED_ROOT_CERTIFICATES_PATH",
];

/// Settings only 5.x and earlier have (separate internal and external interfaces).
const LEGACY_SETTINGS: &[&str] = &[
    "INT_IP",
    "EXT_IP",
    "INT_HTTP_PORT",
    "EXT_HTTP_PORT",
    "INT_HTTP_PREFIXES",
    "EXT_HTTP_PREFIXES",
    "INT_HTTP_ADVERTISE_AS",
    "EXT_HTTP_ADVERTISE_AS",
];

/// Ports only a server listens on (HTTP/gRPC 2113, 5.x external TCP 1113).
const SERVER_PORTS: &[u16] = &[2113, 1113];

/// The EventStore node in a workload, if it has one.
pub fn node<'a>(item: &Item<'a>, items: &[Item<'a>]) -> Option<Node<'a>> {
    let v = item.value;
    let (workload, pod_meta, pod, replicas) = match item.kind() {
        "Deployment" | "StatefulSet" => (
            if item.kind() == "Deployment" {
                Workload::Deployment
            } else {
                Workload::StatefulSet
            },
            at(v, &["spec", "template", "metadata"]),
            at(v, &["spec", "template", "spec"])?,
            text(at(v, &["spec", "replicas"]))
                .and_then(|r| r.parse().ok())
                .unwrap_or(1),
        ),
        "ReplicationController" | "ReplicaSet" => (
            Workload::Controller,
            at(v, &["spec", "template", "metadata"]),
            at(v, &["spec", "template", "spec"])?,
            text(at(v, &["spec", "replicas"]))
                .and_then(|r| r.parse().ok())
                .unwrap_or(1),
        ),
        "Pod" => (Workload::Pod, v.get("metadata"), v.get("spec")?, 1),
        _ => return None,
    };
    for container in seq(pod.get("containers")) {
        let settings = settings(container, item.namespace(), items);
        let image = text(container.get("image")).unwrap_or_default();
        let image = image_ref(&image);
        let repo_name = image.repository.rsplit('/').next().unwrap_or_default();
        let server_settings = SERVER_SETTINGS.iter().any(|s| settings.0.contains_key(*s));
        let server_port = seq(container.get("ports")).iter().any(|p| {
            text(p.get("containerPort"))
                .and_then(|p| p.parse::<u16>().ok())
                .is_some_and(|p| SERVER_PORTS.contains(&p))
        });
        let server = match image_kind(&image.repository) {
            ImageKind::Server => true,
            ImageKind::Maybe => server_settings || server_port,
            ImageKind::Other => server_settings,
        };
        if !server {
            continue;
        }
        let mut settings = settings;
        settings.0.extend(options(container));
        let tag = image.tag.as_deref().unwrap_or_default();
        let legacy_tag = ["release-3", "release-4", "release-5", "3.", "4.", "5."]
            .iter()
            .any(|p| tag.starts_with(p));
        return Some(Node {
            item: item.clone(),
            workload,
            replicas,
            labels: labels(pod_meta.and_then(|m| m.get("labels"))),
            pod,
            container,
            legacy: legacy_tag || LEGACY_SETTINGS.iter().any(|s| settings.0.contains_key(*s)),
            kurrent: settings.1 || repo_name == "kurrentdb",
            settings: settings.0,
        });
    }
    None
}

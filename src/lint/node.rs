//! An EventStore / KurrentDB node as found in a workload: its settings (both prefixes, all
//! versions esk renders), ports, and the volume holding its database.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::model::{at, labels, same_namespace, seq, text, Item, Labels};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Deployment,
    StatefulSet,
    /// A ReplicationController or a ReplicaSet: a pod template, no update strategy.
    Controller,
    Pod,
}

/// A port a node listens on and who must reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    pub number: u16,
    pub what: &'static str,
    /// Clients connect to it.
    pub client: bool,
    /// The other nodes connect to it (gossip, replication, 5.x internal traffic).
    pub between_nodes: bool,
}

/// Where a node keeps its database.
#[derive(Clone, Debug, PartialEq)]
pub enum Data<'a> {
    /// A claim named in the pod's volumes.
    Claim(String),
    /// A StatefulSet's volumeClaimTemplate (one claim per pod).
    ClaimTemplate(&'a Value),
    /// Lost with the pod or tied to one machine.
    Ephemeral(&'static str),
    /// An in-tree cloud disk volume.
    InTree(&'static str),
    /// A shared file system (NFS, Azure Files, CephFS, GlusterFS) mounted in the pod.
    Shared(&'static str),
    /// Something else (a CSI inline volume, a projected volume, ...): not judged.
    Other,
}

pub const IN_TREE: &[&str] = &[
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "azureDisk",
    "cinder",
];

/// The CSI driver current Kubernetes migrates each in-tree volume to, and its volumeHandle.
pub fn csi_of(in_tree: &str) -> (&'static str, &'static str) {
    match in_tree {
        "gcePersistentDisk" => ("pd.csi.storage.gke.io", "projects/P/zones/Z/disks/D"),
        "awsElasticBlockStore" => ("ebs.csi.aws.com", "vol-..."),
        "azureDisk" => ("disk.csi.azure.com", "the disk's resource id"),
        _ => ("cinder.csi.openstack.org", "the volume id"),
    }
}

/// Volume sources (in a pod or a PersistentVolume) that several machines mount at once.
pub const SHARED_FS: &[&str] = &["nfs", "azureFile", "cephfs", "glusterfs"];

/// CSI drivers of shared file systems.
pub const SHARED_CSI: &[&str] = &[
    "nfs.csi.k8s.io",
    "file.csi.azure.com",
    "efs.csi.aws.com",
    "cephfs.csi.ceph.com",
    "filestore.csi.storage.gke.io",
];

/// The shared file system a volume source (pod volume or PV spec) is on, if any.
pub fn shared_fs(source: &Value) -> Option<&'static str> {
    if let Some(kind) = SHARED_FS.iter().find(|k| source.get(**k).is_some()) {
        return Some(kind);
    }
    let driver = text(at(source, &["csi", "driver"]))?;
    SHARED_CSI.iter().find(|d| **d == driver).copied()
}

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

/// Image names only the server has, wherever the image is hosted (a mirror in a private
/// registry keeps the name).
const SERVER_NAMES: &[&str] = &[
    "eventstoredb",
    "eventstoredb-ce",
    "eventstoredb-ee",
    "eventstoredb-oss",
    "eventstoredb-commercial",
    "kurrentdb",
    "kurrentdb-ee",
];

/// Where EventStore Ltd / Kurrent publish the server: Docker Hub organisations, their own
/// registries, their GitHub organisations on ghcr.io.
const SERVER_ORIGINS: &[&str] = &[
    "eventstore/",
    "kurrent/",
    "docker.eventstore.com/",
    "docker.kurrent.io/",
    "ghcr.io/eventstore/",
    "ghcr.io/kurrent-io/",
];

/// What an image says about its container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// The server: a name only it has, or `eventstore` from the publishers' own places.
    Server,
    /// Named `eventstore` elsewhere (`myorg/eventstore`): as likely an application of
    /// that name; the server only with server settings or a server port.
    Maybe,
    Other,
}

/// Identifies the server image by its repository (see README, "Which containers are nodes").
pub fn image_kind(repository: &str) -> ImageKind {
    let repo = repository.to_ascii_lowercase();
    let repo = ["docker.io/", "index.docker.io/", "registry-1.docker.io/"]
        .iter()
        .find_map(|r| repo.strip_prefix(r))
        .unwrap_or(&repo);
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    let name = repo.rsplit('/').next().unwrap_or_default();
    if SERVER_NAMES.contains(&name) {
        return ImageKind::Server;
    }
    if name != "eventstore" {
        return ImageKind::Other;
    }
    if SERVER_ORIGINS.iter().any(|o| repo.starts_with(o)) {
        ImageKind::Server
    } else {
        ImageKind::Maybe
    }
}

/// Ports only a server listens on (HTTP/gRPC 2113, 5.x external TCP 1113).
const SERVER_PORTS: &[u16] = &[2113, 1113];

const PREFIXES: &[&str] = &["KURRENTDB_", "EVENTSTORE_"];

/// An image reference split into repository, tag and digest.
pub struct ImageRef {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: bool,
}

pub fn image_ref(image: &str) -> ImageRef {
    let (rest, digest) = match image.split_once('@') {
        Some((r, _)) => (r, true),
        None => (image, false),
    };
    // A tag follows the last `:` after the last `/` (a registry may carry a port).
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(colon) => ImageRef {
            repository: rest[..slash + colon].to_string(),
            tag: Some(rest[slash + colon + 1..].to_string()),
            digest,
        },
        None => ImageRef {
            repository: rest.to_string(),
            tag: None,
            digest,
        },
    }
}

/// An EventStore / KurrentDB server container in a workload.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    pub item: Item<'a>,
    pub workload: Workload,
    pub replicas: u64,
    pub labels: Labels,
    pub pod: &'a Value,
    pub container: &'a Value,
    /// Settings by name without prefix; `None` where the value comes from elsewhere
    /// (`valueFrom`, a Secret) and is not known.
    pub settings: BTreeMap<String, Option<String>>,
    pub kurrent: bool,
    /// 5.x and earlier: separate internal and external ports.
    pub legacy: bool,
}

impl<'a> Node<'a> {
    /// A setting's literal value: `None` when unset or not known.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(|v| v.as_deref())
    }

    /// A read-only replica (READ_ONLY_REPLICA=true, 20.10+): not a voting member, so not in
    /// the cluster size, the quorum, its budget or its discovery name.
    pub fn read_only_replica(&self) -> bool {
        !self.legacy
            && self
                .setting("READ_ONLY_REPLICA")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// CLUSTER_SIZE: 1 when unset (the server's default), `None` when not known.
    pub fn cluster_size(&self) -> Option<u64> {
        match self.settings.get("CLUSTER_SIZE") {
            None => Some(1),
            Some(v) => v.as_deref().and_then(|v| v.trim().parse().ok()),
        }
    }

    /// Whether the node finds the others through DNS (the server's default).
    pub fn discovers_via_dns(&self) -> bool {
        self.setting("DISCOVER_VIA_DNS")
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
    }

    /// CLUSTER_DNS: the server's default is `fake.dns`.
    pub fn cluster_dns(&self) -> Option<String> {
        match self.settings.get("CLUSTER_DNS") {
            None => Some("fake.dns".into()),
            Some(v) => v.clone(),
        }
    }

    fn port(&self, keys: &[&str], default: u16) -> u16 {
        keys.iter()
            .find_map(|k| self.setting(k).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(default)
    }

    /// The ports this node serves, by version.
    pub fn ports(&self) -> Vec<Port> {
        let mut ports = if self.legacy {
            vec![
                self.port_of("external HTTP", &["EXT_HTTP_PORT"], 2113, true, false),
                self.port_of("external TCP", &["EXT_TCP_PORT"], 1113, true, false),
                self.port_of(
                    "internal HTTP (gossip)",
                    &["INT_HTTP_PORT"],
                    2112,
                    false,
                    true,
                ),
                self.port_of(
                    "internal TCP (replication)",
                    &["INT_TCP_PORT"],
                    1112,
                    false,
                    true,
                ),
            ]
        } else {
            vec![
                self.port_of(
                    "HTTP/gRPC and gossip",
                    &["NODE_PORT", "HTTP_PORT"],
                    2113,
                    true,
                    true,
                ),
                // A read-only replica only replicates from the leader: no member
                // connects to its replication port.
                self.port_of(
                    "replication",
                    &["REPLICATION_PORT", "INT_TCP_PORT"],
                    1112,
                    false,
                    !self.read_only_replica(),
                ),
            ]
        };
        let gossip = self.port(&["CLUSTER_GOSSIP_PORT"], 0);
        if gossip != 0 && ports.iter().all(|p| p.number != gossip) {
            ports.push(Port {
                number: gossip,
                what: "gossip",
                client: false,
                between_nodes: true,
            });
        }
        ports
    }

    fn port_of(
        &self,
        what: &'static str,
        keys: &[&str],
        default: u16,
        client: bool,
        between: bool,
    ) -> Port {
        Port {
            number: self.port(keys, default),
            what,
            client,
            between_nodes: between,
        }
    }

    /// Container ports by name (NetworkPolicies may name them).
    pub fn named_ports(&self) -> BTreeMap<String, u16> {
        seq(self.pod.get("containers"))
            .iter()
            .flat_map(|c| seq(c.get("ports")))
            .filter_map(|p| {
                let name = text(p.get("name"))?;
                let port = text(p.get("containerPort"))?.parse().ok()?;
                Some((name, port))
            })
            .collect()
    }

    /// The directory the database lives in.
    fn db_path(&self) -> String {
        self.setting("DB").map(str::to_string).unwrap_or_else(|| {
            if self.kurrent {
                "/var/lib/kurrentdb".into()
            } else {
                "/var/lib/eventstore".into()
            }
        })
    }

    /// What holds the database: the volume mounted at (or above) its directory.
    pub fn data(&self) -> Data<'a> {
        let db = self.db_path();
        let covers = |mount: &str| {
            let mount = mount.trim_end_matches('/');
            db == mount || mount.is_empty() || db.starts_with(&format!("{mount}/"))
        };
        let mount = seq(self.container.get("volumeMounts"))
            .iter()
            .filter_map(|m| Some((text(m.get("name"))?, text(m.get("mountPath"))?)))
            .filter(|(_, path)| covers(path))
            .max_by_key(|(_, path)| path.trim_end_matches('/').len());
        let Some((volume, _)) = mount else {
            return Data::Ephemeral("the container's own filesystem");
        };
        let pod_volume = seq(self.pod.get("volumes"))
            .iter()
            .find(|v| text(v.get("name")).as_deref() == Some(volume.as_str()));
        if let Some(v) = pod_volume {
            if let Some(claim) = text(at(v, &["persistentVolumeClaim", "claimName"])) {
                return Data::Claim(claim);
            }
            for (key, what) in [
                ("emptyDir", "emptyDir"),
                ("hostPath", "hostPath"),
                ("ephemeral", "a generic ephemeral volume"),
            ] {
                if v.get(key).is_some() {
                    return Data::Ephemeral(what);
                }
            }
            if let Some(kind) = IN_TREE.iter().find(|k| v.get(**k).is_some()) {
                return Data::InTree(kind);
            }
            if let Some(kind) = shared_fs(v) {
                return Data::Shared(kind);
            }
            return Data::Other;
        }
        let template = seq(at(self.item.value, &["spec", "volumeClaimTemplates"]))
            .iter()
            .find(|t| text(at(t, &["metadata", "name"])).as_deref() == Some(volume.as_str()));
        match template {
            Some(t) if self.workload == Workload::StatefulSet => Data::ClaimTemplate(t),
            _ => Data::Ephemeral("the container's own filesystem (its volume is not defined)"),
        }
    }
}

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

/// A key of a ConfigMap (`data`) or Secret (`stringData`, else decoded `data`) in the input.
pub fn config_value(
    items: &[Item],
    namespace: Option<&str>,
    kind: &str,
    name: &str,
    key: &str,
) -> Option<String> {
    let object = items.iter().find(|i| {
        i.kind() == kind && i.object.name == name && same_namespace(i.namespace(), namespace)
    })?;
    if kind == "Secret" {
        if let Some(v) = text(object.at(&["stringData", key])) {
            return Some(v);
        }
        use base64::Engine;
        let encoded = text(object.at(&["data", key]))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    text(object.at(&["data", key]))
}

/// `--some-option=value`, `--some-option value` and a bare `--flag` (true) in a container's
/// command and args, as settings (`SOME_OPTION`). The server reads its command line last, so
/// these win over the environment.
fn options(container: &Value) -> Vec<(String, Option<String>)> {
    let words: Vec<String> = seq(container.get("command"))
        .iter()
        .chain(seq(container.get("args")))
        .filter_map(|w| text(Some(w)))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some(option) = words[i].strip_prefix("--").filter(|o| !o.is_empty()) {
            let (key, value) = match option.split_once('=') {
                Some((k, v)) => (k, v.to_string()),
                None => match words.get(i + 1).filter(|w| !w.starts_with('-')) {
                    Some(next) => {
                        i += 1;
                        (option, next.clone())
                    }
                    None => (option, "true".to_string()),
                },
            };
            out.push((key.to_ascii_uppercase().replace('-', "_"), Some(value)));
        }
        i += 1;
    }
    out
}

/// A container's server settings, from `envFrom` ConfigMaps in the input, then `env` (which
/// wins, as in Kubernetes; `configMapKeyRef`/`secretKeyRef` resolved when the input has the
/// object); and whether any uses the `KURRENTDB_` prefix. Command-line options are added
/// once the container is known to be a server (an application's `--insecure` says nothing).
fn settings(
    container: &Value,
    namespace: Option<&str>,
    items: &[Item],
) -> (BTreeMap<String, Option<String>>, bool) {
    let mut vars: Vec<(String, Option<String>)> = Vec::new();
    for source in seq(container.get("envFrom")) {
        let prefix = text(source.get("prefix")).unwrap_or_default();
        if let Some(name) = text(at(source, &["configMapRef", "name"])) {
            let map = items.iter().find(|i| {
                i.kind() == "ConfigMap"
                    && i.object.name == name
                    && same_namespace(i.namespace(), namespace)
            });
            if let Some(data) = map
                .and_then(|m| m.at(&["data"]))
                .and_then(Value::as_mapping)
            {
                for (k, v) in data {
                    if let Some(k) = text(Some(k)) {
                        vars.push((format!("{prefix}{k}"), text(Some(v))));
                    }
                }
            }
        }
    }
    for e in seq(container.get("env")) {
        if let Some(name) = text(e.get("name")) {
            let value = if let Some(from) = e.get("valueFrom") {
                [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")]
                    .iter()
                    .find_map(|(key, kind)| {
                        let r = from.get(key)?;
                        let name = text(r.get("name"))?;
                        let key = text(r.get("key"))?;
                        config_value(items, namespace, kind, &name, &key)
                    })
            } else {
                Some(text(e.get("value")).unwrap_or_default())
            };
            vars.push((name, value));
        }
    }
    let mut out = BTreeMap::new();
    let mut kurrent = false;
    for (name, value) in vars {
        if let Some((prefix, key)) = PREFIXES
            .iter()
            .find_map(|p| name.strip_prefix(p).map(|k| (*p, k)))
        {
            kurrent |= prefix == "KURRENTDB_";
            out.insert(key.to_string(), value);
        }
    }
    (out, kurrent)
}

//! The kinds the emulator serves: one static table drives discovery, OpenAPI, routing and
//! error messages.

/// One served resource type (a single version per group, as a small real cluster would serve).
#[derive(Debug)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    pub categories: &'static [&'static str],
    /// The verbs discovery lists (most kinds: [`VERBS`]).
    pub verbs: &'static [&'static str],
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
) -> KindInfo {
    KindInfo {
        group,
        version,
        kind,
        plural,
        singular,
        short_names,
        namespaced,
        categories: &[],
        verbs: VERBS,
    }
}

const fn in_all(info: KindInfo) -> KindInfo {
    KindInfo {
        categories: &["all"],
        ..info
    }
}

/// Reviews such as SelfSubjectAccessReview: only `create`, answered at once and never stored
/// (see `access.rs`).
const fn create_only(info: KindInfo) -> KindInfo {
    KindInfo {
        verbs: &["create"],
        ..info
    }
}

/// The external-snapshotter's CRDs: served only once a test installs them
/// (`KubeEmulator::install_volume_snapshots`), as a real cluster serves them only then.
pub const SNAPSHOT_GROUP: &str = "snapshot.storage.k8s.io";

/// The Prometheus Operator's CRDs (`monitoring.coreos.com/v1`): served only once a test
/// installs them (`KubeEmulator::install_prometheus_operator`).
pub const MONITORING_GROUP: &str = "monitoring.coreos.com";

/// Which optional CRD groups a bed serves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Crds {
    pub snapshots: bool,
    pub monitoring: bool,
}

impl Crds {
    /// Whether `group` is served: built-in groups always, a CRD group once installed.
    pub fn serves(self, group: &str) -> bool {
        match group {
            SNAPSHOT_GROUP => self.snapshots,
            MONITORING_GROUP => self.monitoring,
            _ => true,
        }
    }
}

pub static KINDS: &[KindInfo] = &[
    kind(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        &["ns"],
        false,
    ),
    kind(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        &["cm"],
        true,
    ),
    kind("", "v1", "Secret", "secrets", "secret", &[], true),
    in_all(kind(
        "",
        "v1",
        "Service",
        "services",
        "service",
        &["svc"],
        true,
    )),
    kind(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        &["pv"],
        false,
    ),
    kind(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        &["pvc"],
        true,
    ),
    kind("", "v1", "Node", "nodes", "node", &["no"], false),
    kind("", "v1", "Event", "events", "event", &["ev"], true),
    in_all(kind("", "v1", "Pod", "pods", "pod", &["po"], true)),
    in_all(kind(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        &["deploy"],
        true,
    )),
    in_all(kind(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        &["sts"],
        true,
    )),
    in_all(kind("batch", "v1", "Job", "jobs", "job", &[], true)),
    kind(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        &["pdb"],
        true,
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        &["netpol"],
        true,
    ),
    kind(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        &[],
        true,
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        &["sc"],
        false,
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        "volumeattachment",
        &[],
        false,
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        "csidriver",
        &[],
        false,
    ),
    kind(
        SNAPSHOT_GROUP,
        "v1",
        "VolumeSnapshot",
        "volumesnapshots",
        "volumesnapshot",
        &["vs"],
        true,
    ),
    kind(
        SNAPSHOT_GROUP,
        "v1",
        "VolumeSnapshotContent",
        "volumesnapshotcontents",
        "volumesnapshotcontent",
        &["vsc", "vscs"],
        false,
    ),
    kind(
        SNAPSHOT_GROUP,
        "v1",
        "VolumeSnapshotClass",
        "volumesnapshotclasses",
        "volumesnapshotclass",
        &["vsclass", "vsclasses"],
        false,
    ),
    kind(
        MONITORING_GROUP,
        "v1",
        "PodMonitor",
        "podmonitors",
        "podmonitor",
        &["pmon"],
        true,
    ),
    create_only(kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        &[],
        false,
    )),
    create_only(kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        &[],
        false,
    )),
];

/// The verbs every served resource supports.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl KindInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1` or `/apis/apps/v1`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// `configmaps` or `deployments.apps`, as in "not found" messages.
    pub fn qualified_resource(&self) -> String {
        qualify(self.plural, self.group)
    }

    /// `ConfigMap` or `Deployment.apps`, as in "is invalid" messages.
    pub fn qualified_kind(&self) -> String {
        qualify(self.kind, self.group)
    }

    /// Stored objects with a `/status` subresource (reviews are neither).
    pub fn has_status(&self) -> bool {
        self.verbs.contains(&"get")
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

pub fn by_kind(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.kind == kind)
}

pub fn by_resource(group: &str, version: &str, plural: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
}

/// Served group-versions in discovery order: ("", "v1") first, then the named groups
/// (a CRD group only when `crds` has it installed).
pub fn group_versions(crds: Crds) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for k in KINDS {
        if !crds.serves(k.group) {
            continue;
        }
        if !out.contains(&(k.group, k.version)) {
            out.push((k.group, k.version));
        }
    }
    out
}

pub fn kinds_in<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static KindInfo> + 'a {
    KINDS
        .iter()
        .filter(move |k| k.group == group && k.version == version)
}

//! The `Health` value `status`, `--wait` and rolls read: the verdict, the cluster as recorded,
//! a row per disk, object, pod and member, and each node's state with what is wrong with it.

use serde::Serialize;

use crate::error::exit;
use crate::spec::replica_of;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Healthy,
    Degraded,
    Down,
    NotFound,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Degraded => exit::DEGRADED,
            Verdict::Down => exit::DOWN,
            Verdict::NotFound => exit::NOT_FOUND,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Down => "down",
            Verdict::NotFound => "not found",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub name: String,
    pub namespace: String,
    /// Node count: the record's, else the spec's.
    pub nodes: u8,
    /// Read-only replicas beside them (not in `nodes`, the size or the quorum); omitted when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub read_only_replicas: u8,
    pub profile: Option<String>,
    /// The server version the node workloads run (their image tag).
    pub server_version: Option<String>,
    pub cloud: Option<String>,
    pub zone: Option<String>,
    pub workload: Option<String>,
    pub tls: Option<bool>,
    pub anti_affinity: Option<String>,
    pub created: Option<String>,
    pub changed: Option<String>,
    /// The last backup `esk backup create` made (omitted when the record names none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<LastBackup>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastBackup {
    pub name: String,
    /// RFC 3339, as the record says.
    pub created: Option<String>,
    pub age_seconds: Option<i64>,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

fn member_number<S: serde::Serializer>(i: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(replica_of(*i).unwrap_or(*i))
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRow {
    pub name: String,
    pub id: String,
    pub size: Option<String>,
    pub zone: Option<String>,
    /// `this cluster`, `adopted`, another cluster's `namespace/name`, or `foreign`.
    pub owner: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectPhase {
    pub name: String,
    pub phase: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRow {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: u32,
    /// The Kubernetes node it runs on.
    pub node: Option<String>,
    pub age_seconds: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRow {
    pub state: String,
    pub alive: bool,
    pub writer_checkpoint: Option<i64>,
    /// Bytes of log behind the leader's writer checkpoint.
    pub lag: Option<i64>,
    pub version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeHealth {
    /// The node's number; a read-only replica's own number j (with `read_only_replica`).
    #[serde(serialize_with = "member_number")]
    pub index: u8,
    pub name: String,
    /// A read-only replica, not a voting node (omitted for voting nodes).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only_replica: bool,
    /// Ready, settled, agreeing.
    pub ok: bool,
    pub problem: Option<String>,
    pub disk: Option<DiskRow>,
    /// How full the disk's file system is (omitted when its kubelet was not asked or said
    /// nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_use: Option<super::DiskUse>,
    pub claim: Option<ObjectPhase>,
    pub volume: Option<ObjectPhase>,
    pub pod: Option<PodRow>,
    pub member: Option<MemberRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub cluster: ClusterInfo,
    pub verdict: Verdict,
    pub exit_code: i32,
    /// The node every view names as leader.
    pub leader: Option<String>,
    /// Why the cluster is not healthy, cluster-wide (per-node reasons are in `nodes`).
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    pub nodes: Vec<NodeHealth>,
    /// How the voting nodes spread over zones; omitted for a cluster in one zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zones: Option<super::ZoneSpread>,
}

impl Health {
    /// `cluster es in namespace default is degraded`
    pub fn summary_head(&self) -> String {
        format!(
            "cluster {} in namespace {} is {}",
            self.cluster.name,
            self.cluster.namespace,
            self.verdict.as_str()
        )
    }

    /// One line: `cluster es in namespace default is degraded: es-3: crash-looping …`.
    pub fn summary(&self) -> String {
        if self.verdict == Verdict::NotFound {
            return self.reasons.join("; ");
        }
        let mut why: Vec<String> = self.reasons.clone();
        why.extend(self.nodes.iter().filter_map(|n| {
            n.problem
                .as_ref()
                .map(|p| format!("{}: {}", n.name, p.lines().next().unwrap_or("")))
        }));
        let mut line = self.summary_head();
        if !why.is_empty() {
            line.push_str(": ");
            line.push_str(&why.join("; "));
        }
        line
    }
}

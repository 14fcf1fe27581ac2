//! ES021: API versions Kubernetes no longer serves, on any kind, and the version that
//! replaced each.

use crate::lint::model::{text, Item};

/// Group versions Kubernetes no longer serves, and the release that removed the last kind.
const REMOVED_APIS: &[(&str, &str)] = &[
    ("extensions/v1beta1", "1.22"),
    ("apps/v1beta1", "1.16"),
    ("apps/v1beta2", "1.16"),
    ("policy/v1beta1", "1.25"),
    ("networking.k8s.io/v1beta1", "1.22"),
    ("batch/v1beta1", "1.25"),
    ("rbac.authorization.k8s.io/v1beta1", "1.22"),
    ("storage.k8s.io/v1beta1", "1.27"),
    ("autoscaling/v2beta1", "1.25"),
    ("autoscaling/v2beta2", "1.26"),
    ("discovery.k8s.io/v1beta1", "1.25"),
    ("scheduling.k8s.io/v1beta1", "1.22"),
    ("events.k8s.io/v1beta1", "1.25"),
    ("node.k8s.io/v1beta1", "1.25"),
];

/// Where each kind of a removed group version lives now; `None`: removed with no successor.
fn current_version(kind: &str) -> Option<Option<&'static str>> {
    Some(Some(match kind {
        "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet" | "ControllerRevision" => {
            "apps/v1"
        }
        "Ingress" | "IngressClass" | "NetworkPolicy" => "networking.k8s.io/v1",
        "PodDisruptionBudget" => "policy/v1",
        "CronJob" => "batch/v1",
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment" | "CSIStorageCapacity" => {
            "storage.k8s.io/v1"
        }
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
            "rbac.authorization.k8s.io/v1"
        }
        "EndpointSlice" => "discovery.k8s.io/v1",
        "PriorityClass" => "scheduling.k8s.io/v1",
        "Event" => "events.k8s.io/v1",
        "RuntimeClass" => "node.k8s.io/v1",
        "PodSecurityPolicy" => return Some(None),
        _ => return None,
    }))
}

/// ES021, on any kind: the API version decides; the fix names the kind's current version.
pub fn removed_api(item: &Item) -> Option<(String, String)> {
    let version = text(item.at(&["apiVersion"])).unwrap_or_default();
    let (_, release) = REMOVED_APIS.iter().find(|(v, _)| *v == version)?;
    let kind = item.kind();
    let message =
        format!("apiVersion {version} is no longer served (removed in Kubernetes {release})");
    let fix = match current_version(kind) {
        Some(Some(current)) => format!("use apiVersion: {current} for {kind}"),
        Some(None) => format!(
            "remove the {kind}: it was removed in Kubernetes 1.25 with no successor (use Pod Security Admission labels on the namespace)"
        ),
        None => format!(
            "use the current version of {kind} (`kubectl api-resources` lists what the cluster serves)"
        ),
    };
    Some((message, fix))
}

//! The rules about one node (its disk, resources, image, mode) and about single objects
//! (volumes, storage classes, load balancers, API versions). Cluster-wide rules are in
//! `cluster`, NetworkPolicy reachability in `netpol`.

use serde_yaml::Value;

use super::model::{at, seq, text, Inventory, Item};
use super::node::{image_ref, Data, Node, Workload, IN_TREE};
use super::quantity::{self, GI};
use super::Finding;

/// Every rule over the inventory.
pub fn run(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in &inv.nodes {
        let mut push = |rule, message| {
            out.push(Finding::new(
                rule,
                &node.item.object,
                node.item.file,
                message,
            ));
        };
        storage(inv, node, &mut push);
        in_tree_volumes(node, &mut push);
        resources(node, &mut push);
        image(node, &mut push);
        if node
            .setting("INSECURE")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            push(
                "ES020",
                "INSECURE=true: no TLS between nodes or to clients, and no authentication".into(),
            );
        }
    }
    super::cluster::check(inv, &mut out);
    super::netpol::check(inv, &mut out);
    for item in &inv.items {
        let mut push = |rule, message| {
            out.push(Finding::new(rule, &item.object, item.file, message));
        };
        removed_api(item, &mut push);
        match item.kind() {
            "PersistentVolume" => persistent_volume(item, &mut push),
            "StorageClass" => storage_class(item, &mut push),
            "Service" => load_balancer(item, &mut push),
            _ => {}
        }
    }
    out
}

type Push<'p> = dyn FnMut(&'static str, String) + 'p;

/// A claim spec's access modes and size: ES001 and ES003. True when it is ReadWriteMany or
/// ReadOnlyMany.
fn claim_spec(spec: Option<&Value>, what: &str, push: &mut Push) -> bool {
    let modes: Vec<String> = seq(spec.and_then(|s| s.get("accessModes")))
        .iter()
        .filter_map(|m| text(Some(m)))
        .collect();
    let shared = modes
        .iter()
        .any(|m| m == "ReadWriteMany" || m == "ReadOnlyMany");
    if shared {
        push(
            "ES001",
            format!(
                "the database is on {what} with access modes {}: several pods can mount it at once",
                modes.join(", ")
            ),
        );
    }
    let size = spec.and_then(|s| at(s, &["resources", "requests", "storage"]));
    if let Some(bytes) = size.and_then(quantity::parse) {
        if bytes < 10.0 * GI {
            let shown = text(size).unwrap_or_default();
            push(
                "ES003",
                format!("the database is on {what} of only {shown}"),
            );
        }
    }
    shared
}

/// ES001, ES002, ES003 and ES014: where the database lives.
fn storage(inv: &Inventory, node: &Node, push: &mut Push) {
    let data = node.data();
    let mut shared = false;
    match &data {
        Data::Ephemeral(what) => push(
            "ES002",
            format!("the database is on {what}: it is lost (or stranded on one machine) when the pod moves"),
        ),
        Data::Claim(name) => {
            if let Some(claim) = inv.claim(node, name) {
                shared = claim_spec(claim.at(&["spec"]), &format!("claim {name}"), push);
            }
        }
        Data::ClaimTemplate(t) => {
            let name = text(at(t, &["metadata", "name"])).unwrap_or_default();
            claim_spec(t.get("spec"), &format!("volumeClaimTemplate {name}"), push);
        }
        Data::InTree(_) | Data::Other => {}
    }
    let one_disk = match &data {
        Data::Claim(name) => Some(format!("claim {name}")),
        Data::InTree(kind) => Some(format!("one {kind}")),
        _ => None,
    };
    let (Some(disk), false) = (one_disk, shared) else {
        return;
    };
    let message = match node.workload {
        Workload::Deployment | Workload::StatefulSet if node.replicas > 1 => Some(format!(
            "{} replicas run on {disk}: two servers on one database",
            node.replicas
        )),
        Workload::Deployment if rolls(node.item.value) => Some(format!(
            "strategy RollingUpdate starts the new pod before the old one stops, both on {disk}"
        )),
        _ => None,
    };
    if let Some(m) = message {
        push("ES014", m);
    }
}

/// Whether a Deployment's update runs an old and a new pod at once (the default
/// RollingUpdate, unless maxSurge is 0).
fn rolls(deployment: &Value) -> bool {
    let strategy = at(deployment, &["spec", "strategy"]);
    let kind = text(strategy.and_then(|s| s.get("type")));
    if kind.as_deref().is_some_and(|k| k != "RollingUpdate") {
        return false;
    }
    let surge = text(strategy.and_then(|s| at(s, &["rollingUpdate", "maxSurge"])));
    !matches!(surge.as_deref(), Some("0" | "0%"))
}

/// ES022 on a node's pod volumes.
fn in_tree_volumes(node: &Node, push: &mut Push) {
    for v in seq(node.pod.get("volumes")) {
        if let Some(kind) = IN_TREE.iter().find(|k| v.get(**k).is_some()) {
            let name = text(v.get("name")).unwrap_or_default();
            push(
                "ES022",
                format!(
                    "volume {name} is an in-tree {kind}, which current Kubernetes no longer has"
                ),
            );
        }
    }
}

/// ES006: requests (a limit alone is also the request, as Kubernetes defaults it).
fn resources(node: &Node, push: &mut Push) {
    let r = node.container.get("resources");
    let get = |key: &str| {
        at(r.unwrap_or(&Value::Null), &["requests", key])
            .or_else(|| at(r.unwrap_or(&Value::Null), &["limits", key]))
    };
    let mut low = Vec::new();
    for (key, floor, shown_floor) in [("cpu", 0.5, "500m"), ("memory", GI, "1Gi")] {
        let value = get(key);
        match value.and_then(quantity::parse) {
            Some(q) if q >= floor => {}
            Some(_) => low.push(format!(
                "{key} {} (< {shown_floor})",
                text(value).unwrap_or_default()
            )),
            None => low.push(format!("no {key} request")),
        }
    }
    if !low.is_empty() {
        push(
            "ES006",
            format!("the server container has {}", low.join(", ")),
        );
    }
}

/// ES015.
fn image(node: &Node, push: &mut Push) {
    let Some(image) = text(node.container.get("image")) else {
        return;
    };
    let r = image_ref(&image);
    if r.digest {
        return;
    }
    match r.tag.as_deref() {
        None => push(
            "ES015",
            format!("image {image} has no tag: any version may start"),
        ),
        Some("latest") => push(
            "ES015",
            format!("image {image} follows :latest: any version may start"),
        ),
        Some(_) => {}
    }
}

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
];

/// ES021, on any kind: the API version alone decides.
fn removed_api(item: &Item, push: &mut Push) {
    let version = text(item.at(&["apiVersion"])).unwrap_or_default();
    if let Some((_, release)) = REMOVED_APIS.iter().find(|(v, _)| *v == version) {
        push(
            "ES021",
            format!("apiVersion {version} is no longer served (removed in Kubernetes {release})"),
        );
    }
}

/// ES012 and ES022 on a PersistentVolume. An unset reclaim policy is Retain for a volume
/// created by hand, so only an explicit Delete or Recycle is reported.
fn persistent_volume(pv: &Item, push: &mut Push) {
    let policy = text(pv.at(&["spec", "persistentVolumeReclaimPolicy"]));
    if let Some(p) = policy.filter(|p| p == "Delete" || p == "Recycle") {
        push(
            "ES012",
            format!("persistentVolumeReclaimPolicy {p}: deleting the claim destroys the data"),
        );
    }
    if let Some(kind) = IN_TREE.iter().find(|k| pv.at(&["spec", k]).is_some()) {
        push(
            "ES022",
            format!("the volume is an in-tree {kind}, which current Kubernetes no longer has"),
        );
    }
}

/// ES013: a StorageClass's reclaimPolicy defaults to Delete.
fn storage_class(sc: &Item, push: &mut Push) {
    let policy = text(sc.at(&["reclaimPolicy"]));
    if policy.as_deref().is_none_or(|p| p == "Delete") {
        let shown = policy.unwrap_or_else(|| "unset (Delete)".into());
        push(
            "ES013",
            format!("reclaimPolicy {shown}: a volume it provisions dies with its claim"),
        );
    }
}

/// Annotations that keep a cloud load balancer off the internet.
const INTERNAL_LB: &[(&str, &str)] = &[
    ("networking.gke.io/load-balancer-type", "internal"),
    ("cloud.google.com/load-balancer-type", "internal"),
    (
        "service.beta.kubernetes.io/aws-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/aws-load-balancer-scheme",
        "internal",
    ),
    (
        "service.beta.kubernetes.io/azure-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/oci-load-balancer-internal",
        "true",
    ),
];

/// ES019 and ES023.
fn load_balancer(svc: &Item, push: &mut Push) {
    if text(svc.at(&["spec", "type"])).as_deref() != Some("LoadBalancer") {
        return;
    }
    let annotation = |key: &str| text(svc.at(&["metadata", "annotations", key]));
    let internal = INTERNAL_LB
        .iter()
        .any(|(k, v)| annotation(k).is_some_and(|a| a.eq_ignore_ascii_case(v)));
    if internal {
        return;
    }
    let mut ranges: Vec<String> = seq(svc.at(&["spec", "loadBalancerSourceRanges"]))
        .iter()
        .filter_map(|r| text(Some(r)))
        .collect();
    if let Some(a) = annotation("service.beta.kubernetes.io/load-balancer-source-ranges") {
        ranges.extend(
            a.split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty()),
        );
    }
    if ranges.is_empty() {
        push(
            "ES019",
            "a public LoadBalancer with no loadBalancerSourceRanges: anyone can connect".into(),
        );
    } else if let Some(open) = ranges.iter().find(|r| *r == "0.0.0.0/0" || *r == "::/0") {
        push(
            "ES023",
            format!("a public LoadBalancer open to {open}: anyone can connect"),
        );
    }
}

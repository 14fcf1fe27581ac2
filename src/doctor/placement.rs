//! Where pods can run: nodes in the disks' zone, enough of them for the spreading asked,
//! the CSI driver or StorageClass the volumes need; and what `esk create` refuses on.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Check;
use crate::adapters::kubectl::{ClusterNodes, KubeNode};
use crate::adapters::{aws, gcloud};
use crate::spec::Cloud;

/// The node label a cloud's volumes are pinned to (the key of their PVs' zone affinity).
pub fn topology_key(cloud: Cloud) -> Option<&'static str> {
    match cloud {
        Cloud::Gke => Some(gcloud::TOPOLOGY_KEY),
        Cloud::Aws => Some(aws::TOPOLOGY_KEY),
        Cloud::Kind | Cloud::Dynamic => None,
    }
}

/// Nodes whose `key` label is `zone`.
fn in_zone<'a>(nodes: &'a [KubeNode], key: &str, zone: &str) -> Vec<&'a KubeNode> {
    nodes
        .iter()
        .filter(|n| n.ready && n.labels.get(key).map(String::as_str) == Some(zone))
        .collect()
}

/// How many Kubernetes nodes can run an EventStore node: those in the disks' zone on a
/// cloud with zonal disks, every node otherwise.
pub fn schedulable_nodes(cloud: Cloud, zone: &str, nodes: &[KubeNode]) -> usize {
    match topology_key(cloud) {
        Some(key) => in_zone(nodes, key, zone).len(),
        None => nodes.len(),
    }
}

/// The region of a zone: GCE `us-central1-a` is in `us-central1`, AWS `us-east-1a` in
/// `us-east-1`.
fn region_of(cloud: Cloud, zone: &str) -> String {
    match cloud {
        Cloud::Gke => zone.rsplit_once('-').map_or(zone, |(r, _)| r).to_string(),
        _ => zone
            .strip_suffix(|c: char| c.is_ascii_lowercase())
            .unwrap_or(zone)
            .to_string(),
    }
}

/// The zones of `zone`'s region that hold Ready Kubernetes nodes (by the label the volumes'
/// affinity uses), sorted: where a new cluster spreads by default.
pub fn node_zones(cloud: Cloud, zone: &str, nodes: &[KubeNode]) -> Vec<String> {
    let Some(key) = topology_key(cloud) else {
        return Vec::new();
    };
    let region = region_of(cloud, zone);
    let mut zones: Vec<String> = nodes
        .iter()
        .filter(|n| n.ready)
        .filter_map(|n| n.labels.get(key).cloned())
        .filter(|z| region_of(cloud, z) == region)
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// `--cloud dynamic`: the zones of every Kubernetes node (`topology.kubernetes.io/zone`),
/// sorted. NotReady nodes count: the scheduler's zone spread counts their zones as domains
/// too (`nodeTaintsPolicy: Ignore`), and a zone outage must not change the pods' template
/// (which would restart the nodes of the zones still up).
pub fn kube_zones(nodes: &[KubeNode]) -> Vec<String> {
    let mut zones: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.labels.get(ZONE_LABEL).cloned())
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// The well-known zone label of every Kubernetes node on a cloud.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// How many Kubernetes nodes the anti-affinity can use when `wanted` EventStore nodes go
/// round-robin over `zones`: in each zone, no more than the EventStore nodes placed there.
pub fn usable_nodes(cloud: Cloud, zones: &[String], wanted: u8, nodes: &[KubeNode]) -> usize {
    let k = zones.len().max(1);
    zones
        .iter()
        .enumerate()
        .map(|(j, z)| {
            let placed = (0..usize::from(wanted)).filter(|i| i % k == j).count();
            schedulable_nodes(cloud, z, nodes).min(placed)
        })
        .sum()
}

/// "us-central1-a (3), us-central1-b (1)": where the nodes are, by `key`.
fn zones_of(nodes: &[KubeNode], key: &str) -> String {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for n in nodes {
        *count
            .entry(n.labels.get(key).map_or("no zone label", String::as_str))
            .or_default() += 1;
    }
    count
        .iter()
        .map(|(z, c)| format!("{z} ({c})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why no pod could start in `zone`, if none could.
fn zone_problem(cloud: Cloud, zone: &str, nodes: &[KubeNode]) -> Option<(String, String)> {
    let key = topology_key(cloud)?;
    if !in_zone(nodes, key, zone).is_empty() {
        return None;
    }
    let problem = if nodes.is_empty() {
        format!("the cluster has no Kubernetes nodes, none in zone {zone}")
    } else {
        format!(
            "no Kubernetes node has {key}={zone} (nodes: {})",
            zones_of(nodes, key)
        )
    };
    Some((
        problem,
        format!("pass --zone with a zone that has nodes, or add nodes in {zone}"),
    ))
}

/// The chosen zones with no Ready Kubernetes node, and the fix: add nodes there, or spread
/// over the other zones only.
fn spread_problem(cloud: Cloud, chosen: &[String], nodes: &[KubeNode]) -> Option<(String, String)> {
    let key = topology_key(cloud)?;
    let (empty, rest): (Vec<&String>, Vec<&String>) = chosen
        .iter()
        .partition(|z| in_zone(nodes, key, z).is_empty());
    if empty.is_empty() {
        return None;
    }
    let list = |zones: &[&String]| {
        zones
            .iter()
            .map(|z| z.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (these, it) = match empty.len() {
        1 => (format!("zone {}", empty[0]), "it"),
        _ => (format!("zones {}", list(&empty)), "them"),
    };
    let problem = format!(
        "no Ready Kubernetes node has {key} in {these} (nodes: {})",
        zones_of(nodes, key)
    );
    let fix = if rest.is_empty() {
        format!("add Kubernetes nodes in {these}")
    } else {
        format!(
            "add Kubernetes nodes in {these}, or leave {it} out: --zones {}",
            list(&rest)
        )
    };
    Some((problem, fix))
}

/// Nodes exist, and on a zonal cloud some are in the disks' zone.
pub fn nodes(cloud: Cloud, zone: Option<&str>, nodes: &[KubeNode]) -> Check {
    match (topology_key(cloud), zone) {
        (Some(key), Some(zone)) => match zone_problem(cloud, zone, nodes) {
            Some((problem, fix)) => Check::fail("nodes", problem, fix),
            None => Check::pass(
                "nodes",
                format!(
                    "{} Kubernetes node(s) with {key}={zone}",
                    in_zone(nodes, key, zone).len()
                ),
            ),
        },
        (Some(_), None) => Check::skip("nodes", "the disks' zone is not known"),
        (None, _) if nodes.is_empty() => Check::fail(
            "nodes",
            "the cluster has no Kubernetes nodes",
            "add a node (for kind: `kind create cluster`)",
        ),
        (None, _) => Check::pass("nodes", format!("{} Kubernetes node(s)", nodes.len())),
    }
}

/// The zones the cluster's nodes are (or would be) spread over: `--zones`, else the record's,
/// else, when no zone was asked for, the zones of the Kubernetes nodes. One or none: the
/// single-zone checks apply.
pub fn chosen_zones(
    spec: &crate::spec::Spec,
    record: Option<&crate::record::Record>,
    zone: Option<&str>,
    nodes: &[KubeNode],
) -> Vec<String> {
    if !spec.location.zones.is_empty() {
        return spec.location.zones.clone();
    }
    if let Some(r) = record.filter(|r| !r.zones.is_empty()) {
        return r.zones.clone();
    }
    match (zone, &spec.location.zone, record) {
        (Some(z), None, None) => node_zones(spec.cloud, z, nodes),
        _ => Vec::new(),
    }
}

/// Spread over `zones`: each has Ready Kubernetes nodes (one ✗ line naming those without).
pub fn nodes_in_zones(cloud: Cloud, zones: &[String], nodes: &[KubeNode]) -> Check {
    let Some(key) = topology_key(cloud) else {
        return Check::skip("nodes", "no zones on this cloud");
    };
    let empty: Vec<&String> = zones
        .iter()
        .filter(|z| in_zone(nodes, key, z).is_empty())
        .collect();
    let count: Vec<String> = zones
        .iter()
        .map(|z| format!("{z} ({})", in_zone(nodes, key, z).len()))
        .collect();
    if empty.is_empty() {
        return Check::pass(
            "nodes",
            format!(
                "Ready Kubernetes node(s) with {key} in every zone: {}",
                count.join(", ")
            ),
        );
    }
    let names: Vec<&str> = empty.iter().map(|z| z.as_str()).collect();
    Check::fail(
        "nodes",
        format!(
            "no Ready Kubernetes node has {key}={} (nodes: {}), so its nodes' pods would stay \
             Pending",
            names.join(" or "),
            zones_of(nodes, key)
        ),
        format!(
            "add nodes in {}, or leave it out of --zones",
            names.join(" and ")
        ),
    )
}

/// Spreading over zones: in each zone, a Kubernetes node per EventStore node placed there.
pub fn spreading_over_zones(
    mode: &Spreading,
    cloud: Cloud,
    zones: &[String],
    wanted: u8,
    nodes: &[KubeNode],
) -> Check {
    if zones
        .iter()
        .any(|z| schedulable_nodes(cloud, z, nodes) == 0)
    {
        return Check::skip("spreading", "a chosen zone has no Kubernetes node");
    }
    let available = usable_nodes(cloud, zones, wanted, nodes);
    spreading(
        mode,
        wanted,
        available,
        &format!(" usable over {} zones", zones.len()),
    )
}

/// How the anti-affinity between EventStore nodes was or will be chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spreading {
    /// Required: by `--set node.antiAffinity=required`, or recorded when the cluster was made.
    Required(String),
    Preferred,
    /// Required when there are enough Kubernetes nodes, else preferred.
    Auto,
}

/// Whether `wanted` EventStore nodes can each get their own Kubernetes node.
pub fn spreading(mode: &Spreading, wanted: u8, available: usize, scope: &str) -> Check {
    let enough = available >= usize::from(wanted);
    let have = format!("{available} Kubernetes node(s){scope} for {wanted} EventStore nodes");
    match mode {
        Spreading::Preferred => Check::pass("spreading", format!("preferred; {have}")),
        _ if enough => Check::pass("spreading", format!("required anti-affinity; {have}")),
        Spreading::Required(why) => Check::fail(
            "spreading",
            format!("required anti-affinity ({why}) but only {have}: pods would stay Pending"),
            "add Kubernetes nodes, or --set node.antiAffinity=preferred",
        ),
        Spreading::Auto => Check::warn(
            "spreading",
            format!("only {have}: spreading will only be preferred"),
            "add Kubernetes nodes so one machine failing takes down one node only",
        ),
    }
}

/// The CSI driver a cloud's volumes need, and how to install it.
fn csi_driver_of(cloud: Cloud) -> Option<(&'static str, &'static str)> {
    match cloud {
        Cloud::Gke => Some((
            gcloud::CSI_DRIVER,
            "enable it: gcloud container clusters update CLUSTER \
             --update-addons=GcePersistentDiskCsiDriver=ENABLED",
        )),
        Cloud::Aws => Some((
            aws::CSI_DRIVER,
            "install it: aws eks create-addon --cluster-name CLUSTER --addon-name \
             aws-ebs-csi-driver",
        )),
        Cloud::Kind | Cloud::Dynamic => None,
    }
}

fn csi_problem(cloud: Cloud, drivers: &[String]) -> Option<(String, String)> {
    let (driver, fix) = csi_driver_of(cloud)?;
    (!drivers.iter().any(|d| d == driver)).then(|| {
        (
            format!("CSI driver {driver} is not installed (no CSIDriver {driver})"),
            fix.to_string(),
        )
    })
}

/// The cloud's CSI driver is installed (`None` for clouds that need none).
pub fn csi_driver(cloud: Cloud, drivers: &Result<Option<Vec<String>>, String>) -> Option<Check> {
    let (driver, _) = csi_driver_of(cloud)?;
    Some(match drivers {
        Err(e) => Check::warn(
            "CSI driver",
            format!("could not list CSIDrivers: {e}"),
            format!("ask for `list csidrivers.storage.k8s.io`, or check {driver} yourself"),
        ),
        Ok(None) => Check::skip("CSI driver", "CSIDrivers were not listed"),
        Ok(Some(found)) => match csi_problem(cloud, found) {
            Some((problem, fix)) => Check::fail("CSI driver", problem, fix),
            None => Check::pass("CSI driver", format!("{driver} installed")),
        },
    })
}

/// `--cloud dynamic`: the StorageClass the claims use exists (the default one unless
/// `disk.storageClass` names one).
pub fn storage_class(classes: &Value, wanted: &str) -> Check {
    let items = classes["items"].as_array().cloned().unwrap_or_default();
    let found = items.iter().find(|c| {
        if wanted.is_empty() {
            c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        } else {
            c["metadata"]["name"] == wanted
        }
    });
    let Some(class) = found else {
        return if wanted.is_empty() {
            Check::fail(
                "StorageClass",
                "the cluster has no default StorageClass",
                "pass --set disk.storageClass=NAME, or mark a class default",
            )
        } else {
            Check::fail(
                "StorageClass",
                format!("StorageClass {wanted} not found"),
                "pass --set disk.storageClass= with an existing class (`kubectl get sc`)",
            )
        };
    };
    let name = class["metadata"]["name"].as_str().unwrap_or("?");
    let provisioner = class["provisioner"].as_str().unwrap_or("?");
    if class["reclaimPolicy"].as_str().unwrap_or("Delete") == "Delete" {
        return Check::warn(
            "StorageClass",
            format!("{name} ({provisioner}) deletes a volume with its claim"),
            "prefer a class with reclaimPolicy Retain",
        );
    }
    Check::pass("StorageClass", format!("{name} ({provisioner})"))
}

/// Why `esk create` must not make disks here: no Ready Kubernetes node in a chosen zone, or
/// no CSI driver for the cloud's volumes (their pods would stay Pending). One line, with the
/// fix: for a spread, the zones without nodes named together and the `--zones` without them.
pub fn create_refusal(cloud: Cloud, chosen: &[String], cluster: &ClusterNodes) -> Option<String> {
    let problem = match chosen {
        [] => None,
        [zone] => zone_problem(cloud, zone, &cluster.nodes),
        many => spread_problem(cloud, many, &cluster.nodes),
    };
    let problem = problem.or_else(|| match &cluster.csi_drivers {
        Ok(Some(drivers)) => csi_problem(cloud, drivers),
        _ => None,
    });
    problem.map(|(problem, fix)| {
        format!("refusing to create disks: {problem}, so the nodes' pods would stay Pending; {fix}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn node(name: &str, labels: &[(&str, &str)]) -> KubeNode {
        KubeNode {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ready: true,
        }
    }

    #[test]
    fn zones_decide_where_pods_can_run() {
        let nodes = [
            node("a", &[(gcloud::TOPOLOGY_KEY, "z-a")]),
            node("b", &[(gcloud::TOPOLOGY_KEY, "z-b")]),
            node("c", &[]),
        ];
        assert_eq!(schedulable_nodes(Cloud::Gke, "z-a", &nodes), 1);
        assert_eq!(schedulable_nodes(Cloud::Kind, "", &nodes), 3);
        let c = super::nodes(Cloud::Gke, Some("z-c"), &nodes);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("no zone label (1), z-a (1), z-b (1)"),
            "{c}"
        );
        let cluster = ClusterNodes {
            nodes: nodes.to_vec(),
            csi_drivers: Ok(Some(vec![gcloud::CSI_DRIVER.into()])),
        };
        assert_eq!(create_refusal(Cloud::Gke, &zones(&["z-a"]), &cluster), None);
        let why = create_refusal(Cloud::Gke, &zones(&["z-c"]), &cluster).unwrap_or_default();
        assert!(
            why.contains("no Kubernetes node has topology.gke.io/zone=z-c"),
            "{why}"
        );
        assert_eq!(create_refusal(Cloud::Kind, &zones(&[""]), &cluster), None);
        // Spread: every zone without nodes named, and the --zones that leaves them out.
        let why = create_refusal(Cloud::Gke, &zones(&["z-a", "z-c", "z-b", "z-d"]), &cluster)
            .unwrap_or_default();
        assert!(
            why.contains("in zones z-c,z-d")
                && why.ends_with(
                    "add Kubernetes nodes in zones z-c,z-d, or leave them out: --zones z-a,z-b"
                ),
            "{why}"
        );
        let no_driver = ClusterNodes {
            csi_drivers: Ok(Some(vec![])),
            ..cluster.clone()
        };
        let why = create_refusal(Cloud::Gke, &zones(&["z-a"]), &no_driver).unwrap_or_default();
        assert!(
            why.contains("CSI driver pd.csi.storage.gke.io is not installed"),
            "{why}"
        );
        // A driver list esk may not read is no reason to refuse.
        let unknown = ClusterNodes {
            csi_drivers: Err("forbidden".into()),
            ..cluster
        };
        assert_eq!(create_refusal(Cloud::Gke, &zones(&["z-a"]), &unknown), None);
    }

    fn zones(names: &[&str]) -> Vec<String> {
        names.iter().map(|z| z.to_string()).collect()
    }

    #[test]
    fn spreading_fails_only_when_required() {
        let required = Spreading::Required("recorded".into());
        assert_eq!(spreading(&required, 5, 3, "").status, Status::Fail);
        assert_eq!(spreading(&required, 3, 3, "").status, Status::Pass);
        assert_eq!(spreading(&Spreading::Auto, 5, 3, "").status, Status::Warn);
        assert_eq!(
            spreading(&Spreading::Preferred, 5, 1, "").status,
            Status::Pass
        );
    }
}

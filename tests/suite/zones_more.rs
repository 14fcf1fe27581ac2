//! Placement over zones beyond `--zones` (issue 15): `--cloud dynamic` on a Kubernetes
//! cluster over several zones, backups restored and old disks adopted in each node's zone,
//! read-only replicas spread too.

use crate::common::*;
use serde_json::{json, Value};

const GKE_ZONES: [&str; 3] = ["us-central1-a", "us-central1-b", "us-central1-c"];

/// The Kubernetes node the pod of member `label` (`esk.io/node`) runs on.
fn pod_node(bed: &TestBed, label: &str) -> String {
    let pod = esk_objects(bed, "Pod", "es")
        .into_iter()
        .find(|p| p["metadata"]["labels"]["esk.io/node"].as_str() == Some(label))
        .unwrap_or_else(|| panic!("pod of member {label}"));
    pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The single zone value of a PV's required node affinity.
fn pv_zone(pv: &Value) -> String {
    pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
        [0]
    .as_str()
    .unwrap_or_default()
    .to_string()
}

fn class(name: &str, binding: &str, default: bool) -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {
            "storageclass.kubernetes.io/is-default-class": if default { "true" } else { "false" }}},
        "provisioner": "pd.csi.storage.gke.io", "reclaimPolicy": "Retain",
        "volumeBindingMode": binding,
    })
}

/// Dynamic provisioning on a 3-zone cluster: the pods spread over the zones
/// (`DoNotSchedule`), the WaitForFirstConsumer class makes each claim's volume only once its
/// pod has a node, in that node's zone; an `Immediate` class is warned about in the plan.
/// The bed's nodes are ordered so that the scheduler, without the spread, would put two of
/// the three pods in one zone.
#[test]
fn dynamic_claims_follow_their_pods_spread_over_the_zones() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES, 2);
    bed.kube.seed(class("zonal", "WaitForFirstConsumer", true));
    bed.kube.seed(class("instant", "Immediate", false));
    // A claim of the delayed class that no pod uses: a real cluster never binds it.
    bed.kube.seed(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "unused", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "zonal",
                 "resources": {"requests": {"storage": "1Gi"}}},
    }));
    let immediate = esk_ok(
        &bed,
        &[
            "create",
            "3",
            "--cloud",
            "dynamic",
            "--set",
            "disk.storageClass=instant",
            "--dry-run",
        ],
    );
    assert!(
        stdout(&immediate).contains("StorageClass instant binds Immediate")
            && stdout(&immediate).contains("WaitForFirstConsumer"),
        "{}",
        text(&immediate)
    );
    let out = esk_ok(&bed, &["create", "3", "--cloud", "dynamic"]);
    assert!(
        text(&out).contains("StorageClass zonal (WaitForFirstConsumer)"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("binds Immediate"), "{}", text(&out));
    let mut zones = Vec::new();
    for i in 1..=3u8 {
        let d = bed
            .kube
            .get("Deployment", Some("default"), &format!("es-{i}"))
            .expect("deployment");
        let spread = &d["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
        assert_eq!(spread["topologyKey"], "topology.kubernetes.io/zone", "{d}");
        assert_eq!(spread["whenUnsatisfiable"], "DoNotSchedule", "{d}");
        let claim = bed
            .kube
            .get(
                "PersistentVolumeClaim",
                Some("default"),
                &format!("es-disk-{i}"),
            )
            .expect("claim");
        assert_eq!(claim["status"]["phase"], "Bound", "{claim}");
        let node = pod_node(&bed, &i.to_string());
        assert_eq!(
            claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"],
            json!(node),
            "{claim}"
        );
        let pv = bed
            .kube
            .get(
                "PersistentVolume",
                None,
                claim["spec"]["volumeName"].as_str().unwrap_or_default(),
            )
            .expect("provisioned volume");
        let zone = node_zone(&bed, &node);
        assert_eq!(
            pv_zone(&pv),
            zone,
            "node {i}'s volume is not in its pod's zone"
        );
        zones.push(zone);
    }
    zones.sort();
    assert_eq!(zones, GKE_ZONES, "one node per zone");
    let unused = bed
        .kube
        .get("PersistentVolumeClaim", Some("default"), "unused")
        .expect("claim");
    assert_eq!(unused["status"]["phase"], "Pending", "{unused}");
    assert!(unused["spec"]["volumeName"].is_null(), "{unused}");
}

/// The cluster's GCE disks as (name, zone, source snapshot), by name.
fn gce_disks(bed: &TestBed) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<_> = bed
        .gce
        .disks()
        .into_iter()
        .filter(|d| d.labels.get("esk-cluster").map(String::as_str) == Some("es"))
        .map(|d| (d.name, d.zone, d.source_snapshot))
        .collect();
    out.sort();
    out
}

/// Node i's PV pins it to `zone` and its pod runs there.
fn assert_node_in(bed: &TestBed, i: u8, zone: &str) {
    let pv = bed
        .kube
        .get("PersistentVolume", None, &format!("default.es-disk-{i}"))
        .unwrap_or_else(|| panic!("PV of node {i}"));
    assert_eq!(pv_zone(&pv), zone, "node {i}: {pv}");
    let node = pod_node(bed, &i.to_string());
    assert_eq!(node_zone(bed, &node), zone, "node {i}'s pod runs on {node}");
}

/// GCE snapshots are global: a backup of node 2's disk (zone b) restores every node's disk
/// in that node's own zone, each from the snapshot.
#[test]
fn gke_restore_makes_each_disk_in_its_nodes_zone() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES, 1);
    esk_ok(&bed, &["create", "3", "--insecure"]);
    esk_ok(&bed, &["backup", "create", "b1"]);
    esk_ok(&bed, &["delete", "--yes"]);
    assert!(gce_disks(&bed).is_empty());
    esk_ok(&bed, &["create", "3", "--insecure", "--from-backup", "b1"]);
    let disks = gce_disks(&bed);
    let want: Vec<(String, String, Option<String>)> = (1..=3)
        .map(|i| {
            (
                format!("es-disk-{i}"),
                GKE_ZONES[i - 1].to_string(),
                Some("b1".to_string()),
            )
        })
        .collect();
    assert_eq!(disks, want);
    for (i, zone) in (1..=3u8).zip(GKE_ZONES) {
        assert_node_in(&bed, i, zone);
    }
}

/// EBS snapshots are regional: the restored volumes are made one per node's AZ, each from the
/// snapshot.
#[test]
fn aws_restore_makes_each_volume_in_its_nodes_zone() {
    const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let bed = TestBed::with_zones("arn:aws:eks:us-east-1:123456789012:cluster/test", &ZONES, 1);
    bed.moto();
    // As EC2, the bed refuses a volume in an AZ the region does not have.
    let bad = bed.run(
        "aws",
        &[
            "ec2",
            "create-volume",
            "--availability-zone=us-east-1q",
            "--size=1",
        ],
        None,
    );
    assert!(
        !bad.status.success() && stderr(&bad).contains("InvalidParameterValue"),
        "{}",
        text(&bad)
    );
    esk_ok(&bed, &["create", "3", "--insecure"]);
    esk_ok(&bed, &["backup", "create", "nightly"]);
    esk_ok(&bed, &["delete", "--yes"]);
    esk_ok(
        &bed,
        &["create", "3", "--insecure", "--from-backup", "nightly"],
    );
    let v = aws_json(
        &bed,
        &[
            "ec2",
            "describe-volumes",
            "--filters",
            "Name=tag:esk-cluster,Values=es",
        ],
    );
    let snapshot = aws_json(&bed, &["ec2", "describe-snapshots", "--owner-ids", "self"]);
    let snap_id = snapshot["Snapshots"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["Tags"].to_string().contains("nightly"))
        .and_then(|s| s["SnapshotId"].as_str())
        .expect("the backup's snapshot")
        .to_string();
    let mut zones: Vec<(String, String)> = Vec::new();
    for vol in v["Volumes"].as_array().into_iter().flatten() {
        assert_eq!(vol["SnapshotId"], snap_id.as_str(), "{vol}");
        let node = vol["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["Key"] == "Name")
            .and_then(|t| t["Value"].as_str())
            .unwrap_or_default()
            .to_string();
        zones.push((
            node,
            vol["AvailabilityZone"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    zones.sort();
    let want: Vec<(String, String)> = (1..=3)
        .map(|i| (format!("es-disk-{i}"), ZONES[i - 1].to_string()))
        .collect();
    assert_eq!(zones, want, "{v}");
    for (i, zone) in (1..=3u8).zip(ZONES) {
        let pv = esk_objects(&bed, "PersistentVolume", "es")
            .into_iter()
            .find(|p| p["metadata"]["labels"]["esk.io/node"].as_str() == Some(&*i.to_string()))
            .unwrap_or_else(|| panic!("PV of node {i}"));
        assert_eq!(pv_zone(&pv), zone, "node {i}: {pv}");
        let node = pod_node(&bed, &i.to_string());
        assert_eq!(
            node_zone(&bed, &node),
            zone,
            "node {i}'s pod runs on {node}"
        );
    }
}

/// The old scripts' disks, already in different zones (node 1's in c, nodes 2 and 3's in a),
/// are adopted where they are: no disk made or moved for them, each PV pinned to its disk's
/// zone, and `status` shows the resulting spread and that zone a holds a quorum. The
/// read-only replicas spread too, over the zones with the fewest replicas (a, then b).
#[test]
fn adopted_disks_keep_their_zones_and_replicas_spread() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES, 2);
    let old = [(1, GKE_ZONES[2]), (2, GKE_ZONES[0]), (3, GKE_ZONES[0])];
    let ids: Vec<u64> = old
        .iter()
        .map(|(i, z)| bed.gce.seed_disk("p", z, &format!("esdisk-{i}"), &[]).id)
        .collect();
    let out = esk_ok(
        &bed,
        &[
            "create",
            "3",
            "--insecure",
            "--adopt-disks",
            "esdisk-{i}",
            "--read-only-replicas",
            "2",
        ],
    );
    let disks = bed.gce.disks();
    for ((i, zone), id) in old.iter().zip(&ids) {
        let d = disks
            .iter()
            .find(|d| d.name == format!("esdisk-{i}"))
            .expect("the old disk");
        assert_eq!(
            (&d.zone, d.id),
            (&zone.to_string(), *id),
            "esdisk-{i} was remade or moved"
        );
        assert!(
            !disks
                .iter()
                .any(|o| o.id != d.id && o.labels.get("esk-node") == Some(&i.to_string())),
            "a second disk for node {i}: {disks:?}"
        );
        let pv = esk_objects(&bed, "PersistentVolume", "es")
            .into_iter()
            .find(|p| p["metadata"]["labels"]["esk.io/node"].as_str() == Some(&*i.to_string()))
            .unwrap_or_else(|| panic!("PV of node {i}"));
        assert_eq!(pv_zone(&pv), *zone, "node {i}: {pv}");
        assert_eq!(node_zone(&bed, &pod_node(&bed, &i.to_string())), *zone);
    }
    let mut replica_zones: Vec<String> = disks
        .iter()
        .filter(|d| d.labels.get("esk-cluster").map(String::as_str) == Some("es"))
        .filter(|d| !d.name.starts_with("esdisk-"))
        .map(|d| d.zone.clone())
        .collect();
    replica_zones.sort();
    assert_eq!(
        replica_zones,
        [GKE_ZONES[0], GKE_ZONES[1]],
        "{}\n{disks:?}",
        text(&out)
    );
    let status = esk(&bed, &["status"]);
    let line = stdout(&status)
        .lines()
        .find(|l| l.trim_start().starts_with("zones:"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no zones line:\n{}", text(&status)));
    assert!(
        line.contains("us-central1-a 2 · us-central1-c 1")
            && line.contains("losing us-central1-a (2 of 3) loses the quorum"),
        "{line}"
    );
    // The report lists every node's disk in its zone (GCE lists disks per zone: node 1's,
    // in zone c, is not in the context's zone a).
    let archive = bed.dir().join("report.tar");
    esk_ok(&bed, &["report", "-o", archive.to_str().expect("path")]);
    let files = crate::report::untar(&std::fs::read(&archive).expect("the report"));
    let status: Value = serde_json::from_slice(&files["esk-report-es/status.json"]).unwrap();
    for (i, zone) in old {
        let node = status["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["index"] == i && n["readOnlyReplica"].is_null())
            .unwrap_or_else(|| panic!("node {i} in {status}"));
        assert_eq!(node["disk"]["name"], format!("esdisk-{i}"), "{node}");
        assert_eq!(node["disk"]["zone"], zone, "{node}");
        // Read from the cloud, not only from the volume: only a listing in its zone says so.
        assert_eq!(node["disk"]["owner"], "adopted", "{node}");
    }
}

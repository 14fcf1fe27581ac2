//! Placement over zones (issue 15): `--zones` puts node i in zone ((i-1) mod k), its disk made
//! there, its PV pinned there, its pod scheduled there (the emulator enforces PV node
//! affinity); re-runs keep every node where its disk is; resize fills the emptiest zones.

use crate::common::*;
use serde_json::Value;

const GKE_ZONES: [&str; 3] = ["us-central1-a", "us-central1-b", "us-central1-c"];
const AWS_ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const EKS_CONTEXT: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test";

/// Node i's PV and the Kubernetes node its pod runs on.
fn pv_and_pod_node(bed: &TestBed, i: u8) -> (Value, String) {
    let pv = bed
        .kube
        .get("PersistentVolume", None, &format!("default.es-disk-{i}"))
        .unwrap_or_else(|| panic!("PV of node {i}"));
    let pod = esk_objects(bed, "Pod", "es")
        .into_iter()
        .find(|p| p["metadata"]["labels"]["esk.io/node"].as_str() == Some(&*i.to_string()))
        .unwrap_or_else(|| panic!("pod of node {i}"));
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    (pv, node.to_string())
}

/// Node i's disk, PV and pod are all in `zone`, and its pod asks for the zone spread.
fn assert_in_zone(bed: &TestBed, i: u8, zone: &str) {
    let (pv, node) = pv_and_pod_node(bed, i);
    let values = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
        ["matchExpressions"][0]["values"];
    assert_eq!(values, &serde_json::json!([zone]), "node {i}: {pv}");
    assert!(!node.is_empty(), "node {i}'s pod was not scheduled");
    assert_eq!(node_zone(bed, &node), zone, "node {i}'s pod runs on {node}");
    let d = bed
        .kube
        .get("Deployment", Some("default"), &format!("es-{i}"))
        .expect("deployment");
    let spread = &d["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "topology.kubernetes.io/zone", "{d}");
    // Soft: the volume pins the pod; a hard spread would block a node moved to another zone.
    assert_eq!(spread["whenUnsatisfiable"], "ScheduleAnyway");
}

/// (name, zone, id) of the cluster's GCE disks.
fn gce_disks(bed: &TestBed) -> Vec<(String, String, u64)> {
    bed.gce
        .disks()
        .into_iter()
        .filter(|d| d.labels.get("esk-cluster").map(String::as_str) == Some("es"))
        .map(|d| (d.name, d.zone, d.id))
        .collect::<Vec<_>>()
}

#[test]
fn gke_three_zones_one_disk_each_and_resize_fills_the_emptiest_zones() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES, 2);
    let zones = GKE_ZONES.join(",");
    let plan = esk_ok(&bed, &["create", "3", "--zones", &zones, "--dry-run"]);
    assert!(
        stdout(&plan).contains("es-disk-2 (node 2, zone us-central1-b)"),
        "{}",
        text(&plan)
    );
    assert!(gce_disks(&bed).is_empty());
    esk_ok(&bed, &["create", "3", "--zones", &zones]);
    let mut disks = gce_disks(&bed);
    disks.sort_by(|a, b| a.0.cmp(&b.0));
    let placed: Vec<(&str, &str)> = disks
        .iter()
        .map(|(n, z, _)| (n.as_str(), z.as_str()))
        .collect();
    assert_eq!(
        placed,
        [
            ("es-disk-1", "us-central1-a"),
            ("es-disk-2", "us-central1-b"),
            ("es-disk-3", "us-central1-c")
        ]
    );
    // One batched create per zone: three inserts, no more.
    for (i, zone) in GKE_ZONES.iter().enumerate() {
        assert_in_zone(&bed, i as u8 + 1, zone);
    }
    let record = bed
        .kube
        .get("ConfigMap", Some("default"), "esk.es")
        .expect("record");
    assert_eq!(record["data"]["zones"], zones);

    // A re-run, without --zones: the record's zones, nothing made or changed.
    let before = (bed.gce.mutating_requests(), resource_versions(&bed));
    let again = esk_ok(&bed, &["create", "3"]);
    assert_eq!(
        (bed.gce.mutating_requests(), resource_versions(&bed)),
        before,
        "a re-run changed something:\n{}",
        text(&again)
    );

    // Resize: nodes 4 and 5 go to the zones with the fewest nodes (a, then b); 1-3 stay.
    esk_ok(&bed, &["resize", "5"]);
    let after = gce_disks(&bed);
    for d in &disks {
        assert!(
            after.contains(d),
            "disk {} changed or moved: {after:?}",
            d.0
        );
    }
    assert_in_zone(&bed, 4, "us-central1-a");
    assert_in_zone(&bed, 5, "us-central1-b");
    let record = bed
        .kube
        .get("ConfigMap", Some("default"), "esk.es")
        .expect("record");
    assert_eq!(
        record["data"]["nodeZones"],
        "1=us-central1-a,2=us-central1-b,3=us-central1-c,4=us-central1-a,5=us-central1-b"
    );
}

#[test]
fn aws_three_zones_one_volume_each_and_a_rerun_is_a_noop() {
    let bed = TestBed::with_zones(EKS_CONTEXT, &AWS_ZONES, 1);
    bed.moto();
    let zones = AWS_ZONES.join(",");
    esk_ok(&bed, &["create", "3", "--zones", &zones]);
    let v = aws_json(&bed, &["ec2", "describe-volumes"]);
    let mut placed: Vec<(String, String)> = v["Volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|vol| {
            let name = vol["Tags"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["Key"] == "Name"))
                .and_then(|t| t["Value"].as_str())
                .unwrap_or_default()
                .to_string();
            (name, vol["AvailabilityZone"].as_str().unwrap().to_string())
        })
        .collect();
    placed.sort();
    let want: Vec<(String, String)> = (1..=3)
        .map(|i| (format!("es-disk-{i}"), AWS_ZONES[i - 1].to_string()))
        .collect();
    assert_eq!(placed, want);
    for (i, zone) in AWS_ZONES.iter().enumerate() {
        assert_in_zone(&bed, i as u8 + 1, zone);
    }
    let before = resource_versions(&bed);
    let again = esk_ok(&bed, &["create", "3", "--zones", &zones]);
    assert!(stdout(&again).contains("0 created"), "{}", text(&again));
    assert_eq!(resource_versions(&bed), before, "a re-run changed objects");
}

#[test]
fn five_nodes_over_two_zones_warn_that_one_zone_holds_a_quorum() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES[..2], 3);
    let out = esk_ok(&bed, &["create", "5", "--dry-run", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let warnings = doc["plan"]["warnings"].to_string();
    // Spread by default over the Kubernetes nodes' two zones, said so; a holds 3 of 5.
    assert!(
        warnings.contains("spread over us-central1-a, us-central1-b"),
        "{warnings}"
    );
    assert!(warnings.contains("zone us-central1-a"), "{warnings}");
    assert!(warnings.contains("quorum"), "{warnings}");
    assert_eq!(doc["plan"]["disks"][3]["zone"], "us-central1-b", "{doc}");
    assert_eq!(bed.mutating_requests(), 0);
}

#[test]
fn bad_zones_are_refused_in_one_line_before_anything_is_made() {
    let bed = TestBed::start();
    for zones in [
        "us-central1-a,europe-west1-b",
        "us-central1-a,us-central1-a",
        "us-central1-a,",
        "us-central1-a,US-CENTRAL1-B",
        "central",
    ] {
        let out = esk(&bed, &["create", "3", "--zones", zones]);
        assert_eq!(out.status.code(), Some(2), "{zones}: {}", text(&out));
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{zones}: {err}");
    }
    let kind = TestBed::with_context("kind-dev");
    let out = esk(&kind, &["create", "3", "--zones", "a-1-a,a-1-b"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("drop --zones"), "{}", text(&out));
    assert_eq!(bed.mutating_requests() + kind.mutating_requests(), 0);
    assert!(bed.gce.disks().is_empty());
}

#[test]
fn a_chosen_zone_without_kubernetes_nodes_fails_doctor_and_create() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES[..2], 1);
    let zones = GKE_ZONES.join(",");
    let out = esk(&bed, &["doctor", "--zones", &zones]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let failed: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.contains('✗'))
        .map(str::to_string)
        .collect();
    assert_eq!(failed.len(), 1, "{}", text(&out));
    assert!(failed[0].contains("us-central1-c"), "{failed:?}");
    assert!(
        stdout(&out).contains("add nodes in us-central1-c"),
        "{}",
        text(&out)
    );
    let out = esk(&bed, &["create", "3", "--zones", &zones]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains(
            "add Kubernetes nodes in zone us-central1-c, or leave it out: --zones \
             us-central1-a,us-central1-b"
        ),
        "{}",
        text(&out)
    );
    assert!(bed.gce.disks().is_empty());
    assert_eq!(bed.mutating_requests(), 0);
}

#[test]
fn a_zone_outage_leaves_the_cluster_degraded_and_names_the_zone() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES, 1);
    esk_ok(&bed, &["create", "3", "--zones", &GKE_ZONES.join(",")]);
    let out = esk(&bed, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("losing any one zone keeps a quorum (2 of 3)"),
        "{}",
        text(&out)
    );
    let down = bed.kube.zone_down("us-central1-c");
    assert_eq!(down.len(), 1);
    let out = esk(&bed, &["status", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", text(&out)));
    assert_eq!(out.status.code(), Some(10), "{doc:#}");
    assert_eq!(doc["verdict"], "degraded", "{doc:#}");
    assert_eq!(doc["zones"]["down"], serde_json::json!(["us-central1-c"]));
    assert_eq!(doc["zones"]["survivesZoneLoss"], true);
    assert_eq!(
        doc["zones"]["nodes"]["us-central1-a"],
        serde_json::json!(["es-1"])
    );
    let reasons = doc["reasons"].to_string();
    assert!(reasons.contains("zone us-central1-c is down"), "{reasons}");
    assert!(reasons.contains("es-3"), "{reasons}");
    // The others' gossip shows node 3 dead; the leader and node 2 are fine.
    assert_eq!(doc["nodes"][2]["ok"], false, "{doc:#}");
    assert_eq!(doc["nodes"][0]["ok"], true, "{doc:#}");
    // Disks of every zone are listed (the record names them), not only the context's zone.
    assert_eq!(doc["nodes"][2]["disk"]["owner"], "this cluster", "{doc:#}");
    assert_eq!(doc["nodes"][2]["disk"]["zone"], "us-central1-c", "{doc:#}");
}

#[test]
fn a_disk_never_moves_when_the_zones_change() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &GKE_ZONES, 1);
    esk_ok(&bed, &["create", "1", "--zone", "us-central1-a"]);
    let first = gce_disks(&bed);
    assert_eq!(first.len(), 1);
    // Spread later over b and c: node 1 stays where its disk is, 2 and 3 go to b and c.
    let out = esk_ok(
        &bed,
        &["resize", "3", "--zones", "us-central1-b,us-central1-c"],
    );
    assert!(
        text(&out).contains("node 1 stays in zone us-central1-a, where its disk is"),
        "{}",
        text(&out)
    );
    let after = gce_disks(&bed);
    assert!(
        after.contains(&first[0]),
        "disk 1 moved or was remade: {after:?}"
    );
    assert_eq!(after.len(), 3, "{after:?}");
    assert_in_zone(&bed, 1, "us-central1-a");
    assert_in_zone(&bed, 2, "us-central1-b");
    assert_in_zone(&bed, 3, "us-central1-c");
    // Later runs without flags find all three disks (listed in every zone of the record).
    let before = bed.gce.mutating_requests();
    esk_ok(&bed, &["create", "3"]);
    assert_eq!(
        bed.gce.mutating_requests(),
        before,
        "a re-run touched the disks"
    );
}

#[test]
fn doctor_checks_that_every_aws_zone_exists() {
    let bed = TestBed::with_zones(EKS_CONTEXT, &AWS_ZONES, 1);
    bed.moto();
    let out = esk(&bed, &["doctor", "--zones", &AWS_ZONES.join(",")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("us-east-1c in region us-east-1 is available"),
        "{}",
        text(&out)
    );
    let out = esk(&bed, &["doctor", "--zones", "us-east-1a,us-east-1q"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let zone_line = stdout(&out)
        .lines()
        .find(|l| l.contains("AWS zone"))
        .unwrap_or_default()
        .to_string();
    assert!(zone_line.contains('✗'), "{}", text(&out));
    assert!(zone_line.contains("us-east-1q"), "{}", text(&out));
}

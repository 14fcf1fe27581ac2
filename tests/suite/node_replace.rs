//! Replacing or moving a node (issue 15): `esk node replace I` gives node I a new disk (empty,
//! from a backup, in another zone), keeps the old one labelled `esk-replaced=I`, rebinds node
//! I and waits while gossip shows it catching up until it follows; refused with nothing
//! changed when the others would lose quorum or on the healthy leader; killed mid-way, a
//! re-run finishes on the same new disk; `node move` copies the node's own data to another
//! zone; `disks prune` deletes only replaced disks, `delete --keep-disks` keeps them and
//! `delete --yes` deletes them.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use testbed::kube::PodState;
use testbed::Release;

const ZONES: [&str; 3] = ["us-central1-a", "us-central1-b", "us-central1-c"];
/// How long a node started on a new disk takes to catch up in these tests.
const CATCH_UP: Duration = Duration::from_millis(1500);

/// A 3-node cluster over zones a, b, c (node i in the i-th), es-1 leading.
fn spread_cluster() -> TestBed {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &ZONES, 2);
    esk_ok(&bed, &["create", "3", "--zones", &ZONES.join(",")]);
    bed.kube.set_leader("es-1");
    bed.kube.set_catch_up(CATCH_UP);
    bed
}

/// (name, zone, labels) of the cluster's GCE disks, by name.
fn disks(bed: &TestBed) -> Vec<(String, String, std::collections::BTreeMap<String, String>)> {
    let mut d: Vec<_> = bed
        .gce
        .disks()
        .into_iter()
        .filter(|d| d.labels.get("esk-cluster").map(String::as_str) == Some("es"))
        .map(|d| (d.name, d.zone, d.labels))
        .collect();
    d.sort_by(|a, b| a.0.cmp(&b.0));
    d
}

fn names(bed: &TestBed) -> Vec<String> {
    disks(bed).into_iter().map(|d| d.0).collect()
}

/// The Kubernetes node node i's pod runs on, and that node's zone.
fn pod_zone(bed: &TestBed, i: u8) -> String {
    let pod = esk_objects(bed, "Pod", "es")
        .into_iter()
        .find(|p| p["metadata"]["labels"]["esk.io/node"].as_str() == Some(&*i.to_string()))
        .unwrap_or_else(|| panic!("pod of node {i}"));
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let n = bed.kube.get("Node", None, node).expect("node");
    n["metadata"]["labels"]["topology.kubernetes.io/zone"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn pv(bed: &TestBed, i: u8) -> Value {
    bed.kube
        .get("PersistentVolume", None, &format!("default.es-disk-{i}"))
        .unwrap_or_else(|| panic!("PV of node {i}"))
}

fn record(bed: &TestBed) -> Value {
    bed.kube
        .get("ConfigMap", Some("default"), "esk.es")
        .expect("the record")
}

/// Node 2 runs on disk `disk` in zone c: PV handle and affinity, pod, record.
fn assert_node_2_in_zone_c(bed: &TestBed, disk: &str) {
    let c = ZONES[2];
    let pv = pv(bed, 2);
    assert_eq!(
        pv["spec"]["csi"]["volumeHandle"],
        format!("projects/{}/zones/{c}/disks/{disk}", testbed::bed::PROJECT),
        "{pv}"
    );
    let values = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
        ["matchExpressions"][0]["values"];
    assert_eq!(values, &serde_json::json!([c]), "{pv}");
    assert_eq!(pod_zone(bed, 2), c);
    let data = &record(bed)["data"];
    assert!(
        data["nodeZones"]
            .as_str()
            .is_some_and(|z| z.contains(&format!("2={c}"))),
        "{data}"
    );
    assert!(data["replacing"].is_null(), "{data}");
}

#[test]
fn replace_into_another_zone_empty_then_prune_only_the_replaced_disk() {
    let bed = spread_cluster();
    let dry = esk_ok(
        &bed,
        &[
            "node",
            "replace",
            "2",
            "--zone",
            ZONES[2],
            "--empty",
            "--dry-run",
        ],
    );
    assert!(
        stdout(&dry).contains("new disk es-disk-2-r1 in zone us-central1-c (to create), empty"),
        "{}",
        text(&dry)
    );
    assert_eq!(names(&bed).len(), 3, "a dry run makes nothing");
    let out = esk_ok(
        &bed,
        &[
            "node", "replace", "2", "--zone", ZONES[2], "--empty", "--yes",
        ],
    );
    let said = text(&out);
    // Gossip showed node 2 behind the leader, then following.
    assert!(
        said.contains("node 2: CatchingUp,") && said.contains("bytes behind the leader"),
        "{}",
        text(&out)
    );
    assert!(said.contains("node 2 follows the leader"), "{}", text(&out));
    let all = disks(&bed);
    let names: Vec<&str> = all.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(
        names,
        ["es-disk-1", "es-disk-2", "es-disk-2-r1", "es-disk-3"]
    );
    let (_, old_zone, old) = &all[1];
    assert_eq!(old_zone, ZONES[1], "the old disk stays where it was");
    assert_eq!(old.get("esk-replaced").map(String::as_str), Some("2"));
    assert!(!old.contains_key("esk-node"), "{old:?}");
    let (_, new_zone, new) = &all[2];
    assert_eq!(new_zone, ZONES[2]);
    assert_eq!(new.get("esk-node").map(String::as_str), Some("2"));
    assert_node_2_in_zone_c(&bed, "es-disk-2-r1");
    // Later runs find node 2 by its new disk: a re-run of create changes nothing and says
    // the replaced disk is kept.
    let versions = resource_versions(&bed);
    let again = esk_ok(&bed, &["create", "3"]);
    assert!(
        text(&again).contains("1 replaced disk(s) of this cluster are kept"),
        "{}",
        text(&again)
    );
    let changed: Vec<_> = resource_versions(&bed)
        .into_iter()
        .filter(|v| !versions.contains(v) && !v.0.starts_with("\"Lease\""))
        .collect();
    assert!(
        changed.is_empty(),
        "a re-run changed {changed:?}: {}",
        record(&bed)["data"]
    );
    // delete --keep-disks keeps the replaced disk with the others; prune deletes only it.
    esk_ok(&bed, &["delete", "--keep-disks"]);
    assert_eq!(disks(&bed).len(), 4);
    let out = esk_ok(&bed, &["disks", "prune", "--yes"]);
    assert!(stdout(&out).contains("es-disk-2"), "{}", text(&out));
    assert_eq!(
        self::names(&bed),
        ["es-disk-1", "es-disk-2-r1", "es-disk-3"],
        "{}",
        text(&out)
    );
}

#[test]
fn replace_from_a_backup_killed_mid_way_is_finished_by_a_re_run_on_one_new_disk() {
    let bed = spread_cluster();
    esk_ok(&bed, &["backup", "create", "nightly", "--node", "3"]);
    let args = [
        "node",
        "replace",
        "2",
        "--zone",
        ZONES[2],
        "--from-backup",
        "nightly",
        "--yes",
    ];
    // Hold the new disk's insert (after the old disk's relabel), kill esk, let it be made.
    bed.gce.block_mutating_at(2);
    let mut child = bed
        .command(ESK)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start esk");
    assert!(
        bed.gce.wait_blocked(Duration::from_secs(60)),
        "the disk insert never came"
    );
    let group = format!("-{}", child.id());
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = child.wait();
    bed.gce.release(Release::Apply);
    assert!(
        record(&bed)["data"]["replacing"]
            .as_str()
            .is_some_and(|r| r.contains("disk=es-disk-2-r1")),
        "the record keeps the step"
    );
    let out = esk_ok(&bed, &args);
    assert!(
        stdout(&out).contains("resuming the run that was interrupted"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("node 2 follows the leader"),
        "{}",
        text(&out)
    );
    assert_eq!(
        names(&bed),
        ["es-disk-1", "es-disk-2", "es-disk-2-r1", "es-disk-3"],
        "exactly one new disk"
    );
    let new = &disks(&bed)[2];
    assert_eq!(new.2.get("esk-node").map(String::as_str), Some("2"));
    let made_from = bed
        .gce
        .disks()
        .into_iter()
        .find(|d| d.name == "es-disk-2-r1")
        .and_then(|d| d.source_snapshot);
    assert_eq!(made_from.as_deref(), Some("nightly"));
    assert_node_2_in_zone_c(&bed, "es-disk-2-r1");
    // The restore step ran on the new disk, and its Job is gone.
    assert!(
        esk_objects(&bed, "Job", "es").is_empty(),
        "{:?}",
        esk_objects(&bed, "Job", "es")
    );
    // delete --yes removes the replaced disk with the others.
    esk_ok(&bed, &["delete", "--yes"]);
    assert!(names(&bed).is_empty(), "{:?}", names(&bed));
}

#[test]
fn refused_without_quorum_on_the_leader_or_without_yes_then_node_move_copies_its_own_data() {
    let bed = spread_cluster();
    let before = (names(&bed), pv(&bed, 2));
    let versions = |bed: &TestBed| -> Vec<(String, String)> {
        resource_versions(bed)
            .into_iter()
            .filter(|v| !v.0.starts_with("\"Lease\""))
            .collect()
    };
    let unchanged = |bed: &TestBed, objects: &[(String, String)], what: &str| {
        assert_eq!(
            (names(bed), pv(bed, 2)),
            before,
            "{what}: disks or PV changed"
        );
        assert_eq!(versions(bed), objects, "{what}: an object changed");
    };
    // Node 3 down: node 2 going would leave one of three.
    bed.kube.set_pod_state("es-3", PodState::not_ready());
    let objects = versions(&bed);
    let out = esk(&bed, &["node", "replace", "2", "--empty", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("quorum") && err.contains("es-3"), "{err}");
    unchanged(&bed, &objects, "without quorum");
    bed.kube.clear_pod_state("es-3");
    // The healthy leader resigns first.
    bed.kube.set_leader("es-2");
    let objects = versions(&bed);
    let out = esk(&bed, &["node", "replace", "2", "--empty", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("resign first"), "{}", text(&out));
    unchanged(&bed, &objects, "the leader");
    // Without a terminal and without --yes: refused.
    let out = esk(&bed, &["node", "replace", "3", "--empty"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("without --yes"), "{}", text(&out));
    unchanged(&bed, &objects, "no --yes");
    // node move: node 3's own data, snapshotted, on a new disk in zone a.
    bed.kube.set_leader("es-1");
    let out = esk_ok(&bed, &["node", "move", "3", "--zone", ZONES[0], "--yes"]);
    assert!(
        text(&out).contains("node 3 follows the leader"),
        "{}",
        text(&out)
    );
    let moved = bed
        .gce
        .disks()
        .into_iter()
        .find(|d| d.name == "es-disk-3-r1")
        .expect("node 3's new disk");
    assert_eq!(moved.zone, ZONES[0]);
    assert_eq!(moved.labels.get("esk-node").map(String::as_str), Some("3"));
    let snapshot = moved.source_snapshot.expect("made from a snapshot");
    let of_node_3 = bed
        .gce
        .snapshots()
        .into_iter()
        .find(|s| s.name == snapshot)
        .is_some_and(|s| s.source_disk.1 == "es-disk-3");
    assert!(of_node_3, "{snapshot} is not of node 3's disk");
    assert_eq!(pod_zone(&bed, 3), ZONES[0]);
}

/// The same on EKS: the old volume's `esk-node` tag goes and `esk-replaced=2` comes; the new
/// volume is in the asked AZ, tagged for node 2, and node 2's PV names it.
#[test]
fn aws_replace_tags_the_old_volume_replaced_and_makes_the_new_one_in_its_zone() {
    const AWS_ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let bed = TestBed::with_zones(
        "arn:aws:eks:us-east-1:123456789012:cluster/test",
        &AWS_ZONES,
        1,
    );
    bed.moto();
    esk_ok(&bed, &["create", "3", "--zones", &AWS_ZONES.join(",")]);
    bed.kube.set_leader("es-1");
    let out = esk_ok(
        &bed,
        &[
            "node",
            "replace",
            "2",
            "--zone",
            AWS_ZONES[2],
            "--empty",
            "--yes",
        ],
    );
    let v = aws_json(&bed, &["ec2", "describe-volumes"]);
    let volumes = v["Volumes"].as_array().expect("volumes");
    let tag = |vol: &Value, key: &str| -> Option<String> {
        vol["Tags"]
            .as_array()?
            .iter()
            .find(|t| t["Key"] == key)
            .and_then(|t| t["Value"].as_str())
            .map(str::to_string)
    };
    let named = |name: &str| {
        volumes
            .iter()
            .find(|vol| tag(vol, "Name").as_deref() == Some(name))
            .unwrap_or_else(|| panic!("volume {name}: {}", text(&out)))
    };
    assert_eq!(volumes.len(), 4, "{v}");
    let old = named("es-disk-2");
    assert_eq!(tag(old, "esk-replaced").as_deref(), Some("2"));
    assert_eq!(tag(old, "esk-node"), None, "{old}");
    assert_eq!(old["AvailabilityZone"], AWS_ZONES[1]);
    let new = named("es-disk-2-r1");
    assert_eq!(tag(new, "esk-node").as_deref(), Some("2"));
    assert_eq!(new["AvailabilityZone"], AWS_ZONES[2]);
    let pv = pv(&bed, 2);
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], new["VolumeId"], "{pv}");
    assert_eq!(pod_zone(&bed, 2), AWS_ZONES[2]);
}

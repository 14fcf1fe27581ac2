//! Backups as disk snapshots, end to end: the real gcloud / aws / kubectl against the
//! emulators. `backup create` → `delete --yes` → `create --from-backup` makes every new disk
//! from the snapshot; only snapshots esk made for this cluster are listed or deleted.

use crate::common::*;
use serde_json::Value;

const EKS_CONTEXT: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test";
const ZONE: &str = "us-central1-a";

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn gke_backup_delete_and_restore_make_every_disk_from_the_follower_snapshot() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3", "--insecure"]);
    // Foreign snapshots: one without esk's labels, one of another cluster; both must survive.
    bed.gce.seed_disk("p", ZONE, "theirs", &[]);
    bed.gce.seed_snapshot("foreign", "theirs", &[]);
    let other = [
        ("managed-by", "esk"),
        ("esk-cluster", "other"),
        ("esk-namespace", "default"),
        ("esk-backup", "b1"),
    ];
    bed.gce.seed_snapshot("other-b1", "theirs", &other);

    let dry = esk_ok(&bed, &["backup", "create", "b1", "--dry-run"]);
    assert!(
        stdout(&dry).contains("snapshot b1 of disk es-disk-2 (node 2)"),
        "{}",
        text(&dry)
    );
    assert!(bed.gce.snapshots().iter().all(|s| s.name != "b1"));

    // The emulator's gossip: es-1 leads, es-2 and es-3 follow; es-2 wins the tie.
    let out = esk_ok(&bed, &["backup", "create", "b1"]);
    assert!(stdout(&out).contains("backup b1"), "{}", text(&out));
    let snapshot = bed
        .gce
        .snapshots()
        .into_iter()
        .find(|s| s.name == "b1")
        .unwrap();
    assert_eq!(
        snapshot.source_disk,
        (ZONE.to_string(), "es-disk-2".to_string())
    );
    for (k, v) in [
        ("managed-by", "esk"),
        ("esk-cluster", "es"),
        ("esk-namespace", "default"),
        ("esk-node", "2"),
        ("esk-backup", "b1"),
    ] {
        assert_eq!(
            snapshot.labels.get(k).map(String::as_str),
            Some(v),
            "label {k}"
        );
    }
    assert!(snapshot.labels.contains_key("esk-kube"));

    let listed = esk_ok(&bed, &["backup", "list", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = doc["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b1"], "only this cluster's backups: {doc}");
    assert_eq!(doc["backups"][0]["node"], 2);

    // Never another's: deleting a foreign or other cluster's snapshot by name is "not found".
    for name in ["foreign", "other-b1"] {
        let before = bed.mutating_requests();
        let out = esk(&bed, &["backup", "delete", name, "--yes"]);
        assert_eq!(code(&out), Some(2), "{}", text(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", text(&out));
        assert_eq!(bed.mutating_requests(), before);
    }

    // A second backup, of the node asked for.
    esk_ok(&bed, &["backup", "create", "b2", "--node", "3"]);
    esk_ok(&bed, &["delete", "--yes"]);
    assert!(labelled_gce_disks(&bed, "es").is_empty());

    // The first try stops after the restore step (a node's apply keeps failing); the re-run
    // finishes without repeating the step, and no server ran before it.
    bed.kube.inject_fault(testbed::kube::Fault {
        method: Some("PATCH".into()),
        path_contains: "/deployments/es-2".into(),
        status: 500,
        times: esk::adapters::retry::ATTEMPTS as usize,
    });
    let start = bed.kube.requests().len();
    let failed = esk(&bed, &["create", "3", "--insecure", "--from-backup", "b1"]);
    assert_eq!(code(&failed), Some(1), "{}", text(&failed));
    let restored = esk_ok(&bed, &["create", "3", "--insecure", "--from-backup", "b1"]);
    assert!(
        stderr(&restored).contains("backup b1"),
        "{}",
        text(&restored)
    );
    let requests = bed.kube.requests().split_off(start);
    let job_applies: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("PATCH /apis/batch/v1/namespaces/default/jobs/es-restore-"))
        .collect();
    assert_eq!(
        job_applies.len(),
        3,
        "one restore Job per node, once: {job_applies:?}"
    );
    let first_job = requests
        .iter()
        .position(|r| r.contains("/jobs/es-restore-"))
        .unwrap();
    let first_node = requests
        .iter()
        .position(|r| r.starts_with("PATCH /apis/apps/v1/namespaces/default/deployments/es-"))
        .unwrap();
    assert!(
        first_job < first_node,
        "the restore step runs before any node exists"
    );
    let marker = bed
        .kube
        .get("ConfigMap", Some("default"), "esk-restore.es")
        .unwrap();
    assert_eq!(marker["data"]["backup"], "b1");
    assert_eq!(
        marker["data"]["done"].as_str().unwrap().split(',').count(),
        3
    );
    assert!(
        bed.kube.objects().iter().all(|o| o["kind"] != "Job"),
        "the restore Jobs are removed"
    );
    let disks: Vec<_> = bed
        .gce
        .disks()
        .into_iter()
        .filter(|d| d.name.starts_with("es-disk-"))
        .collect();
    assert_eq!(disks.len(), 3);
    for d in &disks {
        assert_eq!(d.source_snapshot.as_deref(), Some("b1"), "{}", d.name);
        assert_eq!(d.labels.get("esk-cluster").map(String::as_str), Some("es"));
    }
    assert_eq!(node_deployments(&bed, "es").len(), 3);

    // Re-running the restore is a no-op; restoring another backup over the disks is refused:
    // exit 3, one line, nothing changed.
    let (disk_calls, versions) = (bed.gce.mutating_requests(), resource_versions(&bed));
    esk_ok(&bed, &["create", "3", "--insecure", "--from-backup", "b1"]);
    assert_eq!(
        bed.gce.mutating_requests(),
        disk_calls,
        "no disk made again"
    );
    assert_eq!(
        resource_versions(&bed),
        versions,
        "nothing changed, no Job ran"
    );
    let before = bed.mutating_requests();
    let out = esk(&bed, &["create", "3", "--insecure", "--from-backup", "b2"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", text(&out));
    assert_eq!(bed.mutating_requests(), before);

    // A backup that is not this cluster's is not found (exit 2), before any change.
    esk_ok(&bed, &["delete", "--yes"]);
    let before = bed.mutating_requests();
    let out = esk(
        &bed,
        &["create", "3", "--insecure", "--from-backup", "other-b1"],
    );
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), before);

    let names: Vec<String> = bed.gce.snapshots().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["b1", "b2", "foreign", "other-b1"]);
    // Deleting needs --yes off a terminal; then only b1 goes.
    let out = esk(&bed, &["backup", "delete", "b1"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    esk_ok(&bed, &["backup", "delete", "b1", "--yes"]);
    let names: Vec<String> = bed.gce.snapshots().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["b2", "foreign", "other-b1"]);
}

#[test]
fn gke_keep_deletes_only_the_oldest_of_esks_own() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "1", "--insecure"]);
    bed.gce.seed_snapshot("foreign", "es-disk-1", &[]);
    // A one-node cluster: its leader is the only node to back up.
    for name in ["k1", "k2", "k3"] {
        esk_ok(&bed, &["backup", "create", name, "--keep", "2"]);
        // esk-created has a one-second resolution: keep the order unambiguous.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let names: Vec<String> = bed.gce.snapshots().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["foreign", "k2", "k3"]);
    let snapshot = bed
        .gce
        .snapshots()
        .into_iter()
        .find(|s| s.name == "k3")
        .unwrap();
    assert_eq!(
        snapshot.labels.get("esk-node").map(String::as_str),
        Some("1")
    );
    let list = esk_ok(&bed, &["backup", "list"]);
    let text = stdout(&list);
    assert!(
        text.contains("k2") && text.contains("k3") && !text.contains("foreign"),
        "{text}"
    );
    let default = esk_ok(&bed, &["backup", "create", "--node", "1"]);
    assert!(
        stdout(&default).contains("backup es-2"),
        "{}",
        stdout(&default)
    );
}

#[test]
fn bad_backup_input_is_refused_before_any_change() {
    let bed = TestBed::start();
    for args in [
        &["backup", "create", "Bad_Name"][..],
        &["backup", "create", "--node", "0"],
        &["backup", "create", "--keep", "0"],
        &["backup", "delete", "x;y"],
        &["backup", "list", "-o", "yaml"],
        &["create", "3", "--from-backup", "Bad_Name"],
    ] {
        let out = esk(&bed, args);
        assert_eq!(code(&out), Some(2), "{args:?}: {}", text(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", text(&out));
    }
    // No cluster: nothing to back up.
    let out = esk(&bed, &["backup", "create", "b"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), 0);
}

fn aws_snapshots(bed: &TestBed) -> Vec<Value> {
    let v = aws_json(
        bed,
        &[
            "ec2",
            "describe-snapshots",
            "--owner-ids=self",
            "--filters",
            "Name=tag:esk-cluster,Values=es",
        ],
    );
    v["Snapshots"].as_array().unwrap().clone()
}

/// The vendor's restore step (chaser.chk over truncate.chk) applies to every restored node:
/// the read-only replicas' disks are made from the snapshot too, so each gets its Job.
#[test]
fn a_restore_with_read_only_replicas_runs_the_restore_step_on_the_replicas_too() {
    let bed = TestBed::start();
    let flags = ["create", "3", "--insecure", "--read-only-replicas", "2"];
    esk_ok(&bed, &flags);
    esk_ok(&bed, &["backup", "create", "b1"]);
    esk_ok(&bed, &["delete", "--yes"]);
    assert!(labelled_gce_disks(&bed, "es").is_empty());

    let start = bed.kube.requests().len();
    let mut restore = flags.to_vec();
    restore.extend(["--from-backup", "b1"]);
    esk_ok(&bed, &restore);
    let requests = bed.kube.requests().split_off(start);
    let prefix = "PATCH /apis/batch/v1/namespaces/default/jobs/";
    let mut jobs: Vec<String> = requests
        .iter()
        .filter_map(|r| r.strip_prefix(prefix))
        .map(|r| r.split(['?', ' ']).next().unwrap_or_default().to_string())
        .collect();
    jobs.sort();
    assert_eq!(
        jobs,
        [
            "es-restore-1",
            "es-restore-2",
            "es-restore-3",
            "es-restore-r1",
            "es-restore-r2"
        ],
        "one restore Job per restored member, replicas included"
    );
    let last_job = requests
        .iter()
        .rposition(|r| r.starts_with(prefix))
        .unwrap();
    let first_workload = requests
        .iter()
        .position(|r| r.starts_with("PATCH /apis/apps/v1/namespaces/default/deployments/es-"))
        .unwrap();
    assert!(
        last_job < first_workload,
        "every restore Job runs before any server starts"
    );
    // The Jobs ran to completion: the marker lists all five disks as done.
    let marker = bed
        .kube
        .get("ConfigMap", Some("default"), "esk-restore.es")
        .unwrap();
    let done: Vec<&str> = marker["data"]["done"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(done.len(), 5, "{done:?}");
    assert!(
        done.iter()
            .filter(|d| d.contains("es-disk-replica-"))
            .count()
            == 2,
        "{done:?}"
    );
    for d in bed.gce.disks() {
        if d.name.starts_with("es-disk-") {
            assert_eq!(d.source_snapshot.as_deref(), Some("b1"), "{}", d.name);
        }
    }
}

#[test]
fn aws_backup_delete_and_restore_make_every_volume_from_the_snapshot() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    bed.moto();
    esk_ok(&bed, &["create", "3", "--insecure"]);
    // A snapshot somebody else made, tagged esk-cluster=es but not by esk.
    let vol = aws_json(
        &bed,
        &[
            "ec2",
            "create-volume",
            "--availability-zone=us-east-1a",
            "--size=1",
        ],
    );
    aws_json(&bed, &["ec2", "create-snapshot",
        &format!("--volume-id={}", vol["VolumeId"].as_str().unwrap()),
        "--tag-specifications=ResourceType=snapshot,Tags=[{Key=theirs,Value=1},{Key=esk-cluster,Value=es}]"]);

    let out = esk_ok(&bed, &["backup", "create", "nightly"]);
    let snaps = aws_snapshots(&bed);
    let ours: Vec<&Value> = snaps
        .iter()
        .filter(|s| {
            s["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["Key"] == "esk-backup")
        })
        .collect();
    assert_eq!(ours.len(), 1, "{snaps:?}");
    let snap_id = ours[0]["SnapshotId"].as_str().unwrap().to_string();
    assert!(stdout(&out).contains(&snap_id), "{}", text(&out));

    let listed = esk_ok(&bed, &["backup", "list", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(doc["backups"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["backups"][0]["id"], snap_id.as_str());

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
    let vols = v["Volumes"].as_array().unwrap();
    assert_eq!(vols.len(), 3, "{v}");
    for vol in vols {
        assert_eq!(vol["SnapshotId"], snap_id.as_str(), "{vol}");
    }

    esk_ok(&bed, &["backup", "delete", "nightly", "--yes"]);
    let left = aws_snapshots(&bed);
    assert_eq!(left.len(), 1, "the foreign snapshot stays: {left:?}");
    assert!(left[0]["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["Key"] == "theirs"));
}

#[test]
fn kind_refuses_clearly() {
    let bed = TestBed::with_context("kind-esk");
    esk_ok(&bed, &["create", "1", "--insecure"]);
    let before = bed.mutating_requests();
    let out = esk(&bed, &["backup", "create", "b"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("no disk snapshots"), "{}", text(&out));
    let out = esk(
        &bed,
        &[
            "create",
            "1",
            "--insecure",
            "--name",
            "two",
            "--from-backup",
            "b",
        ],
    );
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), before);
}

/// The claims of cluster `es`, as (name, dataSource, phase).
fn dynamic_claims(bed: &TestBed) -> Vec<(String, Value, Value)> {
    disk_claims(bed, "es")
        .iter()
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o["spec"]["dataSource"].clone(),
                o["status"]["phase"].clone(),
            )
        })
        .collect()
}

#[test]
fn dynamic_backups_are_volume_snapshots_and_restores_claims_from_them() {
    let bed = TestBed::with_context("dev");
    bed.kube.seed(serde_json::json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/disk", "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate",
    }));
    let dynamic = |args: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--cloud".to_string(), "dynamic".to_string()]);
        a
    };
    let run = |args: &[&str]| {
        let a = dynamic(args);
        esk(&bed, &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert_eq!(code(&out), Some(0), "{args:?}: {}", text(&out));
        out
    };
    ok(&["create", "3", "--insecure"]);

    // Without the snapshot API: one line, exit 3, nothing changed.
    let before = bed.mutating_requests();
    for args in [&["backup", "create", "b1"][..], &["backup", "list"][..]] {
        let out = run(args);
        assert_eq!(code(&out), Some(3), "{}", text(&out));
        assert!(
            stderr(&out).contains("snapshot.storage.k8s.io/v1"),
            "{}",
            text(&out)
        );
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", text(&out));
    }
    assert_eq!(bed.mutating_requests(), before);

    bed.kube.install_volume_snapshots("example.com/disk");
    // A foreign VolumeSnapshot and another cluster's: never listed, never deleted.
    for (name, labels) in [
        ("theirs", serde_json::json!({})),
        (
            "other-b1",
            serde_json::json!({"managed-by": "esk", "esk-cluster": "other",
                               "esk-namespace": "default", "esk-backup": "b1"}),
        ),
    ] {
        bed.kube.seed(serde_json::json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"source": {"persistentVolumeClaimName": "es-disk-1"}},
        }));
    }

    let out = ok(&["backup", "create", "b1"]);
    assert!(stdout(&out).contains("backup b1"), "{}", text(&out));
    let vs = bed
        .kube
        .get("VolumeSnapshot", Some("default"), "b1")
        .unwrap();
    // The emulator's gossip: es-1 leads, es-2 and es-3 follow; es-2 wins the tie.
    assert_eq!(
        vs["spec"]["source"]["persistentVolumeClaimName"],
        "es-disk-2"
    );
    assert_eq!(
        vs["status"]["readyToUse"], true,
        "esk waits until it is ready"
    );
    for (k, v) in [
        ("managed-by", "esk"),
        ("esk-cluster", "es"),
        ("esk-namespace", "default"),
        ("esk-node", "2"),
        ("esk-backup", "b1"),
    ] {
        assert_eq!(vs["metadata"]["labels"][k], v, "label {k}");
    }
    let listed = ok(&["backup", "list", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(doc["backups"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["backups"][0]["name"], "b1");
    assert_eq!(doc["backups"][0]["status"], "ready");
    for name in ["theirs", "other-b1"] {
        let out = run(&["backup", "delete", name, "--yes"]);
        assert_eq!(code(&out), Some(2), "{}", text(&out));
    }

    ok(&["delete", "--yes"]);
    assert!(dynamic_claims(&bed).is_empty());
    let restored = ok(&["create", "3", "--insecure", "--from-backup", "b1"]);
    assert!(
        stderr(&restored).contains("backup b1"),
        "{}",
        text(&restored)
    );
    let claims = dynamic_claims(&bed);
    assert_eq!(claims.len(), 3, "{claims:?}");
    for (name, source, phase) in &claims {
        assert_eq!(
            source,
            &serde_json::json!({"apiGroup": "snapshot.storage.k8s.io",
                                "kind": "VolumeSnapshot", "name": "b1"}),
            "{name}"
        );
        assert_eq!(phase, "Bound", "{name}");
    }
    let marker = bed
        .kube
        .get("ConfigMap", Some("default"), "esk-restore.es")
        .unwrap();
    assert_eq!(
        marker["data"]["done"].as_str().unwrap().split(',').count(),
        3,
        "the restore step ran on every claim: {marker}"
    );
    assert_eq!(node_deployments(&bed, "es").len(), 3);

    ok(&["backup", "delete", "b1", "--yes"]);
    let mut left: Vec<String> = bed
        .kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "VolumeSnapshot")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["other-b1", "theirs"]);
}

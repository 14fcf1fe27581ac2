//! The real `gcloud compute snapshots` and `disks snapshot` / `disks create --source-snapshot`
//! against the Compute Engine emulator's snapshots (global, labelled, CREATING then READY).

use serde_json::Value;
use std::time::Duration;
use testbed::TestBed;

fn gcloud(bed: &TestBed, args: &[&str]) -> (i32, String, String) {
    let out = bed.run("gcloud", args, None);
    let run = (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    eprintln!("gcloud {args:?} -> {}\n{}{}", run.0, run.1, run.2);
    run
}

fn json(run: &(i32, String, String)) -> Value {
    assert_eq!(run.0, 0, "gcloud failed: {}", run.2);
    serde_json::from_str(&run.1).expect("gcloud printed JSON")
}

fn zone(bed: &TestBed) -> String {
    bed.env()
        .into_iter()
        .find(|(k, _)| k == "CLOUDSDK_COMPUTE_ZONE")
        .map(|(_, v)| v)
        .expect("the bed sets a zone")
}

#[test]
fn snapshots_create_list_describe_delete_and_disks_from_them() {
    let bed = TestBed::start();
    let zone = zone(&bed);
    // Short: gcloud sleeps between looks at a RUNNING global operation.
    bed.gce.set_operation_latency(Duration::from_millis(50));
    let made = json(&gcloud(
        &bed,
        &[
            "compute",
            "disks",
            "create",
            "d1",
            "--size=20GB",
            "--format=json",
        ],
    ));
    assert_eq!(made[0]["name"], "d1");
    // Both ways gcloud makes a snapshot: snapshots.insert and disks.createSnapshot.
    let s1 = json(&gcloud(
        &bed,
        &[
            "compute",
            "snapshots",
            "create",
            "s1",
            "--source-disk=d1",
            &format!("--source-disk-zone={zone}"),
            "--labels=managed-by=esk,esk-backup=b1",
            "--format=json",
        ],
    ));
    // One snapshot prints as an object, not a list.
    assert_eq!(s1["status"], "READY", "gcloud waited for the operation");
    assert_eq!(s1["diskSizeGb"], "20");
    let run = gcloud(
        &bed,
        &["compute", "disks", "snapshot", "d1", "--snapshot-names=s2"],
    );
    assert_eq!(run.0, 0, "{}", run.2);
    let requests = bed.gce.requests();
    assert!(requests
        .iter()
        .any(|r| r == "POST /compute/v1/projects/p/global/snapshots"));
    assert!(requests
        .iter()
        .any(|r| r.ends_with(&format!("/zones/{zone}/disks/d1/createSnapshot"))));
    // A snapshot name is global and unique.
    let again = gcloud(
        &bed,
        &[
            "compute",
            "snapshots",
            "create",
            "s1",
            "--source-disk=d1",
            &format!("--source-disk-zone={zone}"),
        ],
    );
    assert_ne!(again.0, 0);
    assert!(again.2.contains("already exists"), "{}", again.2);

    let all = json(&gcloud(
        &bed,
        &["compute", "snapshots", "list", "--format=json"],
    ));
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["s1", "s2"]);
    let labelled = json(&gcloud(
        &bed,
        &[
            "compute",
            "snapshots",
            "list",
            "--format=json",
            "--filter=labels.esk-backup=b1",
        ],
    ));
    assert_eq!(labelled.as_array().unwrap().len(), 1);
    assert_eq!(labelled[0]["labels"]["managed-by"], "esk");
    assert!(labelled[0]["sourceDisk"]
        .as_str()
        .unwrap()
        .ends_with(&format!("zones/{zone}/disks/d1")));
    let described = json(&gcloud(
        &bed,
        &["compute", "snapshots", "describe", "s2", "--format=json"],
    ));
    assert_eq!(described["name"], "s2");

    // Disks from a snapshot, in one batched call: their size and sourceSnapshot come from it.
    let disks = json(&gcloud(
        &bed,
        &[
            "compute",
            "disks",
            "create",
            "r1",
            "r2",
            "--source-snapshot=s1",
            "--format=json",
        ],
    ));
    assert_eq!(disks.as_array().unwrap().len(), 2);
    for d in disks.as_array().unwrap() {
        assert!(d["sourceSnapshot"]
            .as_str()
            .unwrap()
            .ends_with("/global/snapshots/s1"));
        assert_eq!(d["sizeGb"], "20");
    }
    let restored: Vec<_> = bed
        .gce
        .disks()
        .into_iter()
        .filter(|d| d.name.starts_with('r'))
        .collect();
    assert!(restored
        .iter()
        .all(|d| d.source_snapshot.as_deref() == Some("s1")));
    let smaller = gcloud(
        &bed,
        &[
            "compute",
            "disks",
            "create",
            "r3",
            "--source-snapshot=s1",
            "--size=10GB",
        ],
    );
    assert_ne!(smaller.0, 0, "a disk smaller than its snapshot is refused");
    let missing = gcloud(
        &bed,
        &["compute", "disks", "create", "r4", "--source-snapshot=nope"],
    );
    assert_ne!(missing.0, 0);
    assert!(missing.2.contains("was not found"), "{}", missing.2);

    let run = gcloud(
        &bed,
        &["compute", "snapshots", "delete", "s1", "s2", "--quiet"],
    );
    assert_eq!(run.0, 0, "{}", run.2);
    assert!(bed.gce.snapshots().is_empty());
    let gone = gcloud(&bed, &["compute", "snapshots", "delete", "s1", "--quiet"]);
    assert_ne!(gone.0, 0);
}

#[test]
fn seeded_snapshots_are_listed_with_their_labels() {
    let bed = TestBed::start();
    let zone = zone(&bed);
    bed.gce.seed_disk("p", &zone, "theirs", &[]);
    bed.gce.seed_snapshot("foreign", "theirs", &[("team", "x")]);
    let all = json(&gcloud(
        &bed,
        &["compute", "snapshots", "list", "--format=json"],
    ));
    assert_eq!(all[0]["name"], "foreign");
    assert_eq!(all[0]["labels"]["team"], "x");
    assert_eq!(all[0]["diskSizeGb"], "500");
    assert_eq!(bed.gce.mutating_requests(), 0, "seeding is not a request");
}

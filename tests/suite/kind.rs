//! End to end on a local cluster (kind): disks are directories on nodes, made and removed by
//! Jobs, bound through `local` PersistentVolumes; the Kubernetes emulator runs the Jobs.

use crate::common::lifecycle::lifecycle;
use crate::common::*;
use serde_json::{json, Value};

fn kind_bed() -> TestBed {
    let bed = TestBed::with_context("kind-dev");
    for node in ["dev-control-plane", "dev-worker", "dev-worker2"] {
        bed.kube.seed(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
        }));
    }
    bed
}

/// The local disks esk recorded for cluster `es`, as (name, "node:path").
fn local_disks(bed: &TestBed) -> Vec<(String, String)> {
    let Some(cm) = bed.kube.get("ConfigMap", Some("default"), "esk-disks.es") else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = cm["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, v)| {
            let v: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
            (
                name.clone(),
                format!(
                    "{}:{}",
                    v["node"].as_str().unwrap(),
                    v["path"].as_str().unwrap()
                ),
            )
        })
        .collect();
    out.sort();
    out
}

/// The apply requests esk sent for disk Jobs (the Jobs themselves are removed when done).
fn jobs_run(bed: &TestBed) -> Vec<String> {
    bed.kube
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PATCH") && r.contains("/jobs/"))
        .collect()
}

#[test]
fn the_whole_lifecycle_keeps_every_directory_it_should() {
    let bed = kind_bed();
    lifecycle(&bed, &[], &|| local_disks(&bed));
    // Every directory made was made by a Job, and every removal too: 5 mkdir, 5 rmdir.
    let jobs = jobs_run(&bed);
    assert_eq!(
        jobs.iter().filter(|j| j.contains("-mkdir-")).count(),
        5,
        "{jobs:?}"
    );
    assert_eq!(
        jobs.iter().filter(|j| j.contains("-rmdir-")).count(),
        5,
        "{jobs:?}"
    );
    // Finished Jobs are cleaned up.
    assert!(bed.kube.objects().iter().all(|o| o["kind"] != "Job"));
}

#[test]
fn volumes_are_spread_over_nodes_and_pinned_to_them() {
    let bed = kind_bed();
    esk_ok(&bed, &["create", "4"]);
    let disks = local_disks(&bed);
    let nodes: Vec<&str> = disks
        .iter()
        .map(|(_, np)| np.split(':').next().unwrap())
        .collect();
    assert_eq!(
        nodes,
        [
            "dev-control-plane",
            "dev-worker",
            "dev-worker2",
            "dev-control-plane"
        ]
    );
    for i in 1..=4 {
        let pv = bed
            .kube
            .get("PersistentVolume", None, &format!("default.es-disk-{i}"))
            .expect("pv");
        assert_eq!(
            pv["spec"]["local"]["path"],
            format!("/var/lib/esk/default/es-disk-{i}")
        );
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        let term =
            &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
        assert_eq!(term["key"], "kubernetes.io/hostname");
        assert_eq!(term["values"][0], nodes[i - 1]);
    }
}

#[test]
fn disk_jobs_touch_only_their_own_directory() {
    let bed = kind_bed();
    esk_ok(&bed, &["create", "1"]);
    // Keep the rmdir Job around to inspect it: esk fails while it polls for completion.
    bed.kube.inject_fault(testbed::kube::Fault {
        method: Some("GET".into()),
        path_contains: "esk.io/disk-job".into(),
        status: 500,
        times: 100,
    });
    let out = esk(&bed, &["delete", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let job = bed
        .kube
        .get("Job", Some("default"), "es-rmdir-1")
        .expect("rmdir job");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        pod["nodeSelector"]["kubernetes.io/hostname"],
        "dev-control-plane"
    );
    assert_eq!(
        pod["containers"][0]["command"],
        json!(["rm", "-rf", "--", "/disk/es-disk-1"])
    );
    assert_eq!(
        pod["volumes"][0]["hostPath"]["path"],
        "/var/lib/esk/default"
    );
}

#[test]
fn a_bad_local_path_is_refused_before_anything_runs() {
    let bed = kind_bed();
    let out = esk(
        &bed,
        &[
            "create",
            "3",
            "--set",
            "disk.localPath=/var/lib/esk;rm -rf /",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), 0);
}

#[test]
fn a_new_namespace_is_created_before_the_disks_that_live_in_it() {
    let bed = kind_bed();
    esk_ok(&bed, &["create", "1", "-n", "dev"]);
    assert!(bed.kube.get("Namespace", None, "dev").is_some());
    assert!(bed
        .kube
        .get("ConfigMap", Some("dev"), "esk-disks.es")
        .is_some());
    let pv = bed
        .kube
        .get("PersistentVolume", None, "dev.es-disk-1")
        .expect("pv");
    assert_eq!(pv["spec"]["local"]["path"], "/var/lib/esk/dev/es-disk-1");
    // esk never deletes a namespace: other things may live there.
    esk_ok(&bed, &["delete", "--yes", "-n", "dev"]);
    assert!(bed.kube.get("Namespace", None, "dev").is_some());
    assert!(bed
        .kube
        .get("ConfigMap", Some("dev"), "esk-disks.es")
        .is_none());
}

#[test]
fn a_tampered_registry_is_refused_before_any_job_runs() {
    let bed = kind_bed();
    esk_ok(&bed, &["create", "1"]);
    let mut cm = bed
        .kube
        .get("ConfigMap", Some("default"), "esk-disks.es")
        .unwrap();
    cm["data"]["es-disk-1"] =
        json!(json!({"index": 1, "node": "dev-control-plane", "path": "/etc"}).to_string());
    bed.kube.seed(cm);
    let before = bed.mutating_requests();
    let out = esk(&bed, &["delete", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("that esk did not write"),
        "{}",
        text(&out)
    );
    assert_eq!(
        bed.mutating_requests(),
        before,
        "a Job ran on a tampered path"
    );
}

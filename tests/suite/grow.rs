//! Growing disks in place (`create` re-run with a bigger `disk.sizeGb`, `esk disks grow`):
//! the claims grow through esk's expanding StorageClass, the bed's resizer grows the cloud
//! disk (GCE emulator, moto) only when the claim asks for more than its volume holds, and no
//! pod restarts. Clusters of an earlier esk (claims without a class) are in `grow_migrate`.

use crate::common::*;
use serde_json::{json, Value};

const EKS_CONTEXT: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test";

/// Every pod as (name, uid, restart count): the same list before and after means nothing
/// restarted.
pub(crate) fn pods(bed: &TestBed) -> Vec<(String, String, i64)> {
    let mut out: Vec<_> = bed
        .kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "Pod")
        .map(|p| {
            let restarts = p["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                .sum();
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                p["metadata"]["uid"].as_str().unwrap_or("").to_string(),
                restarts,
            )
        })
        .collect();
    out.sort();
    out
}

pub(crate) fn claim(bed: &TestBed, name: &str) -> Value {
    bed.kube
        .get("PersistentVolumeClaim", Some("default"), name)
        .unwrap_or_else(|| panic!("claim {name}"))
}

/// Each node claim's (request, status.capacity, its PV's capacity).
pub(crate) fn claim_sizes(bed: &TestBed, claims: &[&str]) -> Vec<(String, String, String)> {
    claims
        .iter()
        .map(|name| {
            let c = claim(bed, name);
            let pv = c["spec"]["volumeName"]
                .as_str()
                .and_then(|pv| bed.kube.get("PersistentVolume", None, pv));
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            (
                s(&c["spec"]["resources"]["requests"]["storage"]),
                s(&c["status"]["capacity"]["storage"]),
                pv.map(|pv| s(&pv["spec"]["capacity"]["storage"]))
                    .unwrap_or_default(),
            )
        })
        .collect()
}

pub(crate) fn all(n: usize, size: &str) -> Vec<(String, String, String)> {
    vec![(size.to_string(), size.to_string(), size.to_string()); n]
}

/// A one-line error with exit code 2 and no mutating request.
fn refused_without_change(bed: &TestBed, args: &[&str], says: &str) {
    let before = bed.mutating_requests();
    let versions = resource_versions(bed);
    let out = esk(bed, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(says), "{err}");
    assert_eq!(
        bed.mutating_requests(),
        before,
        "{args:?} changed something"
    );
    assert_eq!(resource_versions(bed), versions);
}

pub(crate) const NODE_CLAIMS: [&str; 3] = ["es-data-1", "es-data-2", "es-data-3"];

/// The three node disks of a gke cluster grew to `gib`: every cloud disk, and each claim's
/// request, capacity and volume.
pub(crate) fn assert_grown(bed: &TestBed, gib: u64) {
    let sizes: Vec<u64> = bed.gce.disks().iter().map(|d| d.size_gb).collect();
    assert_eq!(sizes, [gib; 3], "cloud disks");
    assert_eq!(claim_sizes(bed, &NODE_CLAIMS), all(3, &format!("{gib}Gi")));
}

/// Every node claim is of `class`.
pub(crate) fn assert_class(bed: &TestBed, class: &str) {
    for c in NODE_CLAIMS {
        assert_eq!(claim(bed, c)["spec"]["storageClassName"], class, "{c}");
    }
}

/// The plan's line for one claim's growth.
pub(crate) fn grow_line(claim: &str, node: usize, from: &str, to: &str) -> String {
    format!("~ grow    {claim} (node {node}): {from} -> {to}")
}

#[test]
fn gke_disks_grow_online_without_a_restart() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    let class = bed
        .kube
        .get("StorageClass", None, "esk.default.es")
        .expect("esk's StorageClass");
    assert_eq!(class["provisioner"], "pd.csi.storage.gke.io");
    assert_eq!(class["allowVolumeExpansion"], true);
    assert_eq!(class["reclaimPolicy"], "Retain");
    assert_class(&bed, "esk.default.es");
    let running = pods(&bed);
    assert_eq!(running.len(), 5, "3 nodes and 2 frontends: {running:?}");

    // The plan shows each claim's growth and changes nothing.
    let before = bed.mutating_requests();
    let out = esk_ok(
        &bed,
        &["create", "3", "--set", "disk.sizeGb=50", "--dry-run"],
    );
    let plan = stdout(&out);
    for (i, c) in NODE_CLAIMS.iter().enumerate() {
        assert!(
            plan.contains(&grow_line(c, i + 1, "20Gi", "50Gi")),
            "{plan}"
        );
    }
    assert!(!plan.contains("~ restart"), "{plan}");
    assert_eq!(bed.mutating_requests(), before);

    let out = esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert!(
        stdout(&out).contains("grew claims es-data-1, es-data-2, es-data-3"),
        "{}",
        text(&out)
    );
    assert_grown(&bed, 50);
    assert_eq!(pods(&bed), running, "a pod restarted");
    // status shows the size the claims now report, and each kubelet the grown file system.
    let out = esk(&bed, &["status", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{doc:#}");
    for n in nodes {
        assert_eq!(n["disk"]["size"], "50Gi", "{n:#}");
        let capacity = n["diskUse"]["capacityBytes"].as_u64().unwrap_or(0);
        assert!(capacity > 45 << 30 && capacity <= 50 << 30, "{n:#}");
    }

    // The same size again changes nothing; a smaller one is refused.
    let versions = resource_versions(&bed);
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert_eq!(resource_versions(&bed), versions);
    refused_without_change(
        &bed,
        &["create", "3", "--set", "disk.sizeGb=30"],
        "claim es-data-1 holds 50Gi and this run asks for 30Gi: a disk never shrinks",
    );
}

#[test]
fn aws_volumes_grow_through_the_ebs_driver() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    bed.moto();
    esk_ok(&bed, &["create", "3"]);
    let running = pods(&bed);
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    let v = aws_json(&bed, &["ec2", "describe-volumes"]);
    let sizes: Vec<i64> = v["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Size"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes, [50, 50, 50], "{v}");
    assert_eq!(claim_sizes(&bed, &NODE_CLAIMS), all(3, "50Gi"));
    assert_eq!(pods(&bed), running, "a pod restarted");
    let class = bed
        .kube
        .get("StorageClass", None, "esk.default.es")
        .unwrap();
    assert_eq!(class["provisioner"], "ebs.csi.aws.com");
}

fn dynamic_bed(expands: bool) -> TestBed {
    let bed = TestBed::with_context("dev");
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/disk", "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": expands,
    }));
    bed
}

const DYNAMIC_CLAIMS: [&str; 3] = ["es-disk-1", "es-disk-2", "es-disk-3"];

#[test]
fn dynamic_claims_grow_when_their_class_expands() {
    let bed = dynamic_bed(true);
    esk_ok(&bed, &["create", "3", "--cloud", "dynamic"]);
    let running = pods(&bed);
    let out = esk_ok(
        &bed,
        &[
            "create",
            "3",
            "--cloud",
            "dynamic",
            "--set",
            "disk.sizeGb=50",
            "--dry-run",
        ],
    );
    assert!(
        stdout(&out).contains(&grow_line("es-disk-2", 2, "20Gi", "50Gi")),
        "{}",
        text(&out)
    );
    esk_ok(
        &bed,
        &[
            "create",
            "3",
            "--cloud",
            "dynamic",
            "--set",
            "disk.sizeGb=50",
        ],
    );
    assert_eq!(claim_sizes(&bed, &DYNAMIC_CLAIMS), all(3, "50Gi"));
    assert_eq!(pods(&bed), running, "a pod restarted");
    refused_without_change(
        &bed,
        &[
            "create",
            "3",
            "--cloud",
            "dynamic",
            "--set",
            "disk.sizeGb=40",
        ],
        "a disk never shrinks",
    );
}

#[test]
fn dynamic_claims_of_a_class_that_does_not_expand_are_refused() {
    let bed = dynamic_bed(false);
    esk_ok(&bed, &["create", "3", "--cloud", "dynamic"]);
    refused_without_change(
        &bed,
        &[
            "create",
            "3",
            "--cloud",
            "dynamic",
            "--set",
            "disk.sizeGb=50",
        ],
        "StorageClass standard does not allow volume expansion",
    );
}

#[test]
fn kind_refuses_to_grow_local_volumes() {
    let bed = TestBed::with_context("kind-dev");
    esk_ok(&bed, &["create", "1", "--insecure"]);
    refused_without_change(
        &bed,
        &["create", "1", "--insecure", "--set", "disk.sizeGb=50"],
        "kind's local volumes",
    );
}

#[test]
fn disks_grow_is_create_with_the_recorded_size() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    let running = pods(&bed);
    let before = bed.mutating_requests();
    let out = esk_ok(&bed, &["disks", "grow", "40Gi", "--dry-run"]);
    assert!(
        stdout(&out).contains(&grow_line("es-data-3", 3, "20Gi", "40Gi")),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), before);
    for bad in ["40G", "0", "forty"] {
        refused_without_change(&bed, &["disks", "grow", bad], "whole number of GiB");
    }
    esk_ok(&bed, &["disks", "grow", "40"]);
    assert_grown(&bed, 40);
    assert_eq!(pods(&bed), running, "a pod restarted");
    refused_without_change(&bed, &["disks", "grow", "30"], "a disk never shrinks");
    // Anything else the flags would change (here a restart) is create's job.
    let before = bed.mutating_requests();
    let out = esk(
        &bed,
        &["disks", "grow", "45", "--set", "node.memoryRequest=3Gi"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("only grows disks"), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), before);
}

#[test]
fn resize_grows_the_kept_disks_and_json_lists_the_growth() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "1"]);
    let out = esk_ok(&bed, &["disks", "grow", "30", "--dry-run", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["plan"]["grow"],
        json!([{"claim": "es-data-1", "node": 1, "replica": null, "from": "20Gi", "to": "30Gi"}])
    );
    esk_ok(&bed, &["resize", "3", "--set", "disk.sizeGb=30"]);
    assert_grown(&bed, 30);
}

//! End to end with dynamic provisioning: the claims are the disks.

use crate::common::lifecycle::lifecycle;
use crate::common::*;
use serde_json::json;

fn bed_with_class(reclaim: &str) -> TestBed {
    let bed = TestBed::with_context("dev");
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/disk", "reclaimPolicy": reclaim, "volumeBindingMode": "Immediate",
    }));
    bed
}

/// Claims labelled as disks of cluster `es`, as (name, uid).
fn claims(bed: &TestBed) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = disk_claims(bed, "es")
        .iter()
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o["metadata"]["uid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_whole_lifecycle_keeps_every_claim_it_should() {
    let bed = bed_with_class("Retain");
    // Somebody else's claim in the namespace.
    bed.kube.seed(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "es-disk-9", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }));
    lifecycle(&bed, &["--cloud", "dynamic"], &|| claims(&bed));
    assert!(bed
        .kube
        .get("PersistentVolumeClaim", Some("default"), "es-disk-9")
        .is_some());
}

#[test]
fn nodes_mount_their_claims_and_no_static_volumes_are_made() {
    let bed = bed_with_class("Retain");
    let out = esk_ok(&bed, &["create", "3", "--cloud", "dynamic"]);
    assert!(
        !stderr(&out).contains("reclaimPolicy Delete"),
        "{}",
        text(&out)
    );
    for (i, d) in node_deployments(&bed, "es").iter().enumerate() {
        let claim =
            &d["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"];
        assert_eq!(claim, &json!(format!("es-disk-{}", i + 1)));
    }
    assert!(esk_objects(&bed, "PersistentVolume", "es").is_empty());
    let claim = bed
        .kube
        .get("PersistentVolumeClaim", Some("default"), "es-disk-1")
        .unwrap();
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "20Gi");
}

#[test]
fn a_deleting_storage_class_is_warned_about() {
    let bed = bed_with_class("Delete");
    let out = esk_ok(&bed, &["create", "1", "--cloud", "dynamic", "--dry-run"]);
    assert!(
        stdout(&out).contains("reclaimPolicy Delete"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), 0);
}

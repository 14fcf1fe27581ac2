//! Evacuating a zone that is down (issue 15), on a bed as strict as a real API server: node 3's
//! pod on an unreachable Kubernetes node stays Terminating when its workload is scaled to 0,
//! and its claim stays (pvc-protection) while that pod exists. `esk node replace 3` deletes that
//! one pod without its kubelet's word (its old disk is never used again) and finishes.

use crate::common::*;
use serde_json::Value;
use std::time::Duration;

const ZONES: [&str; 3] = ["us-central1-a", "us-central1-b", "us-central1-c"];

/// The pods of node `i` (any state), by name.
fn pods_of(bed: &TestBed, i: u8) -> Vec<Value> {
    bed.kube
        .pods("default")
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["esk.io/node"].as_str() == Some(&*i.to_string()))
        .collect()
}

#[test]
fn node_replace_evacuates_a_node_from_a_zone_that_is_down() {
    let bed = TestBed::with_zones(testbed::bed::GKE_CONTEXT, &ZONES, 2);
    esk_ok(&bed, &["create", "3", "--zones", &ZONES.join(",")]);
    bed.kube.set_leader("es-1");
    bed.kube.set_catch_up(Duration::from_millis(1000));
    let down = bed.kube.zone_down(ZONES[2]);
    let old_pod = pods_of(&bed, 3).remove(0);
    let old_host = old_pod["spec"]["nodeName"].as_str().unwrap_or_default();
    assert!(down.iter().any(|n| n == old_host), "{down:?} {old_pod}");

    let out = esk(
        &bed,
        &[
            "node",
            "replace",
            "3",
            "--zone",
            ZONES[0],
            "--yes",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!(
            "node 3's pod was on {old_host}, which is NotReady: deleted it without waiting for \
             its kubelet"
        )),
        "{}",
        text(&out)
    );
    assert!(said.contains("node 3 follows the leader"), "{}", text(&out));
    // Only node 3's pod was force-deleted: nodes 1 and 2 keep their pods.
    for i in [1, 2] {
        assert_eq!(pods_of(&bed, i).len(), 1, "node {i}");
    }
    // Node 3 runs in zone a on its new disk there; the old one is kept, labelled replaced.
    let pods = pods_of(&bed, 3);
    assert_eq!(pods.len(), 1, "{pods:?}");
    let pod = &pods[0];
    assert_ne!(pod["metadata"]["uid"], old_pod["metadata"]["uid"]);
    assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
    assert_eq!(pod["status"]["phase"], "Running", "{pod}");
    let host = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    assert_eq!(node_zone(&bed, host), ZONES[0]);
    let disks: Vec<_> = bed
        .gce
        .disks()
        .into_iter()
        .filter(|d| d.labels.get("esk-cluster").map(String::as_str) == Some("es"))
        .collect();
    let new = disks
        .iter()
        .find(|d| d.labels.get("esk-node").map(String::as_str) == Some("3"))
        .expect("node 3's new disk");
    assert_eq!(new.zone, ZONES[0], "{disks:?}");
    let old = disks
        .iter()
        .find(|d| d.name == "es-disk-3")
        .expect("the old disk is kept");
    assert_eq!(old.zone, ZONES[2]);
    assert_eq!(
        old.labels.get("esk-replaced").map(String::as_str),
        Some("3")
    );
    // Its claim was made again (not left Terminating) and is bound to the new volume.
    let claim_name = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .expect("node 3's claim");
    let claim = bed
        .kube
        .get("PersistentVolumeClaim", Some("default"), claim_name)
        .expect("node 3's claim");
    assert!(claim["metadata"]["deletionTimestamp"].is_null(), "{claim}");
    assert_eq!(claim["status"]["phase"], "Bound", "{claim}");

    // status: node 3 is fine again (zone c is still down, with no node of this cluster in it).
    let out = esk(&bed, &["status", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", text(&out)));
    assert_eq!(doc["nodes"][2]["ok"], true, "{doc:#}");
    assert_eq!(doc["nodes"][2]["member"]["state"], "Follower", "{doc:#}");
    let reasons = doc["reasons"].to_string();
    assert!(!reasons.contains("es-3"), "{reasons}");
}

//! The emulated external-resizer's expansion latency, through the real kubectl.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testbed::TestBed;

fn kubectl(bed: &TestBed, args: &[&str], stdin: Option<&str>) -> String {
    let out = bed.run("kubectl", args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn volume_and_claim(name: &str, size: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  \
         capacity: {{storage: 10Gi}}\n  accessModes: [ReadWriteOnce]\n  \
         persistentVolumeReclaimPolicy: Retain\n  storageClassName: growing\n  \
         claimRef: {{namespace: default, name: {name}}}\n  \
         csi: {{driver: pd.csi.storage.gke.io, volumeHandle: disk-{name}}}\n---\n\
         apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: growing\n  \
         volumeName: {name}\n  resources: {{requests: {{storage: {size}}}}}\n"
    )
}

/// Each claim's `status.capacity`, read with kubectl (a request lets due expansions finish).
fn capacities(bed: &TestBed) -> Vec<String> {
    let list: Value =
        serde_json::from_str(&kubectl(bed, &["get", "pvc", "-o", "json"], None)).expect("JSON");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            c["status"]["capacity"]["storage"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn expansions_take_the_set_latency_side_by_side() {
    let bed = TestBed::start();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = calls.clone();
    bed.kube.set_volume_expander(Arc::new(move |_, handle, _| {
        seen.lock().expect("calls").push(handle.to_string());
        Ok(())
    }));
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "growing"}, "provisioner": "pd.csi.storage.gke.io",
        "reclaimPolicy": "Retain", "allowVolumeExpansion": true
    }));
    for name in ["a", "b"] {
        kubectl(
            &bed,
            &["apply", "-f", "-"],
            Some(&volume_and_claim(name, "10Gi")),
        );
    }
    let latency = Duration::from_millis(1500);
    bed.kube.set_expansion_latency(latency);
    let started = Instant::now();
    for name in ["a", "b"] {
        kubectl(
            &bed,
            &["apply", "-f", "-"],
            Some(&volume_and_claim(name, "50Gi")),
        );
    }
    // Right after the patch nothing has grown: the cloud disk is not touched yet.
    if started.elapsed() < latency {
        assert_eq!(capacities(&bed), ["10Gi", "10Gi"]);
        assert!(calls.lock().expect("calls").is_empty());
    }
    while capacities(&bed) != ["50Gi", "50Gi"] {
        assert!(started.elapsed() < latency * 4, "{:?}", capacities(&bed));
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    assert!(took >= latency, "grown after {took:?}");
    // Both expansions ran at once: together they took one latency, not two.
    assert!(took < latency * 2, "grown after {took:?}");
    assert_eq!(*calls.lock().expect("calls"), ["disk-a", "disk-b"]);
}

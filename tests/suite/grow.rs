//! Growing disks in place (`create` re-run with a bigger `disk.sizeGb`, `esk disks grow`):
//! the claims grow through esk's expanding StorageClass, the bed's resizer grows the cloud
//! disk (GCE emulator, moto) only when the claim asks for more than its volume holds, and no
//! pod restarts.

use crate::common::*;
use serde_json::{json, Value};

const EKS_CONTEXT: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test";

/// Every pod as (name, uid, restart count): the same list before and after means nothing
/// restarted.
fn pods(bed: &TestBed) -> Vec<(String, String, i64)> {
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

fn claim(bed: &TestBed, name: &str) -> Value {
    bed.kube
        .get("PersistentVolumeClaim", Some("default"), name)
        .unwrap_or_else(|| panic!("claim {name}"))
}

/// Each node claim's (request, status.capacity, its PV's capacity).
fn claim_sizes(bed: &TestBed, claims: &[&str]) -> Vec<(String, String, String)> {
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

fn all(n: usize, size: &str) -> Vec<(String, String, String)> {
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

const NODE_CLAIMS: [&str; 3] = ["es-data-1", "es-data-2", "es-data-3"];

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
    for c in NODE_CLAIMS {
        assert_eq!(claim(&bed, c)["spec"]["storageClassName"], "esk.default.es");
    }
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
        let line = format!("~ grow    {c} (node {}): 20Gi -> 50Gi", i + 1);
        assert!(plan.contains(&line), "{plan}");
    }
    assert!(!plan.contains("~ restart"), "{plan}");
    assert_eq!(bed.mutating_requests(), before);

    let out = esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert!(
        stdout(&out).contains("grew claims es-data-1, es-data-2, es-data-3"),
        "{}",
        text(&out)
    );
    let sizes: Vec<u64> = bed.gce.disks().iter().map(|d| d.size_gb).collect();
    assert_eq!(sizes, [50, 50, 50]);
    assert_eq!(claim_sizes(&bed, &NODE_CLAIMS), all(3, "50Gi"));
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
        stdout(&out).contains("~ grow    es-disk-2 (node 2): 20Gi -> 50Gi"),
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
        stdout(&out).contains("~ grow    es-data-3 (node 3): 20Gi -> 40Gi"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), before);
    for bad in ["40G", "0", "forty"] {
        refused_without_change(&bed, &["disks", "grow", bad], "whole number of GiB");
    }
    esk_ok(&bed, &["disks", "grow", "40"]);
    let sizes: Vec<u64> = bed.gce.disks().iter().map(|d| d.size_gb).collect();
    assert_eq!(sizes, [40, 40, 40]);
    assert_eq!(claim_sizes(&bed, &NODE_CLAIMS), all(3, "40Gi"));
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

/// What the previous esk rendered for a node's volume and claim: no StorageClass.
const LEGACY_PV: &str = r#"{%- if node.disk.kind != "dynamic" %}
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {{ node.pv }}
  labels: {{ labels("storage", node.index) }}
spec:
  capacity:
    storage: {{ profile.disk.sizeGb ~ "Gi" }}
  accessModes: ["ReadWriteOnce"]
  volumeMode: Filesystem
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef:
    apiVersion: v1
    kind: PersistentVolumeClaim
    namespace: {{ cluster.namespace }}
    name: {{ node.pvc }}
  csi:
    driver: {{ node.disk.driver }}
    volumeHandle: {{ node.disk.handle }}
    fsType: {{ profile.disk.fsType }}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - key: {{ node.disk.topologyKey }}
          operator: In
          values: [{{ node.disk.topologyValue }}]
{%- endif %}
"#;
const LEGACY_PVC: &str = r#"{%- if node.disk.kind != "dynamic" %}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ node.pvc }}
  namespace: {{ cluster.namespace }}
  labels: {{ labels("storage", node.index) }}
spec:
  accessModes: ["ReadWriteOnce"]
  storageClassName: ""
  volumeName: {{ node.pv }}
  resources:
    requests:
      storage: {{ profile.disk.sizeGb ~ "Gi" }}
{%- endif %}
"#;

/// A 3-node cluster as the previous esk made it (PVs and claims without a StorageClass).
fn legacy_cluster() -> TestBed {
    legacy_cluster_with(&[])
}

fn legacy_cluster_with(flags: &[&str]) -> TestBed {
    let bed = TestBed::start();
    let dir = bed.dir().join("legacy-templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("node-pv.yaml.j2"), LEGACY_PV).unwrap();
    std::fs::write(dir.join("node-pvc.yaml.j2"), LEGACY_PVC).unwrap();
    let templates = dir.display().to_string();
    let mut args = vec!["create", "3", "--templates", &templates];
    args.extend_from_slice(flags);
    esk_ok(&bed, &args);
    for c in NODE_CLAIMS {
        assert_eq!(claim(&bed, c)["spec"]["storageClassName"], "");
    }
    bed
}

/// Each node claim's volume: (claim, PV name, PV uid, the cloud disk it names).
fn volumes(bed: &TestBed) -> Vec<(String, String, String, String)> {
    NODE_CLAIMS
        .iter()
        .map(|c| {
            let pv_name = claim(bed, c)["spec"]["volumeName"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let pv = bed
                .kube
                .get("PersistentVolume", None, &pv_name)
                .unwrap_or_else(|| panic!("volume {pv_name}"));
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                c.to_string(),
                pv_name,
                s(&pv["metadata"]["uid"]),
                s(&pv["spec"]["csi"]["volumeHandle"]),
            )
        })
        .collect()
}

/// The cloud disks as (name, id): the same list means no disk was made or deleted.
fn cloud_disks(bed: &TestBed) -> Vec<(String, u64)> {
    bed.gce
        .disks()
        .iter()
        .map(|d| (d.name.clone(), d.id))
        .collect()
}

#[test]
fn a_cluster_of_the_previous_release_keeps_working_and_growing_it_migrates_each_node() {
    let bed = legacy_cluster();
    // Today's esk re-runs it as it is: a claim's class cannot change, so it keeps none.
    let versions = resource_versions(&bed);
    esk_ok(&bed, &["create", "3"]);
    let changed: Vec<_> = resource_versions(&bed)
        .into_iter()
        .filter(|v| !versions.contains(v))
        .filter(|(k, _)| k.contains("PersistentVolume") || k.contains("Deployment"))
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
    assert_eq!(claim(&bed, "es-data-1")["spec"]["storageClassName"], "");
    let volumes_before = volumes(&bed);
    let disks_before = cloud_disks(&bed);

    // The plan names each node's migration, then the growth; it changes nothing.
    let before = bed.mutating_requests();
    let out = esk_ok(
        &bed,
        &["create", "3", "--set", "disk.sizeGb=50", "--dry-run"],
    );
    let plan = stdout(&out);
    assert!(
        plan.contains("Migrate 3 claim(s) made by an earlier esk to StorageClass esk.default.es"),
        "{plan}"
    );
    for i in 1..=3 {
        let line = format!("~ migrate es-data-{i} (node {i}): stop the node, re-make the claim");
        assert!(plan.contains(&line), "{plan}");
        assert!(plan.contains(&format!("~ grow    es-data-{i} (node {i}): 20Gi -> 50Gi")));
    }
    let out = esk_ok(&bed, &["disks", "grow", "50", "--dry-run", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["plan"]["migrate"].as_array().map(Vec::len),
        Some(3),
        "{doc}"
    );
    assert_eq!(doc["plan"]["migrate"][0]["claim"], "es-data-1");
    assert_eq!(doc["plan"]["migrate"][0]["storageClass"], "esk.default.es");
    assert_eq!(bed.mutating_requests(), before);

    // Growing it re-makes each claim, one node at a time, the leader last.
    bed.kube
        .set_pod_start_delay(std::time::Duration::from_millis(200));
    bed.kube.set_leader("es-2");
    bed.kube.reset_not_ready_max();
    let made = bed.kube.node_pods_made("default").len();
    let out = esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    let said = stdout(&out);
    assert!(
        said.contains("re-made claims es-data-1, es-data-2, es-data-3 with StorageClass"),
        "{}",
        text(&out)
    );
    assert!(
        said.contains("restarted one at a time: es-1, es-3, es-2"),
        "{said}"
    );
    assert!(
        said.contains("grew claims es-data-1, es-data-2, es-data-3"),
        "{said}"
    );
    let restarted: Vec<String> = bed.kube.node_pods_made("default")[made..]
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(restarted.len(), 3, "each node restarts once: {restarted:?}");
    assert_eq!(
        restarted.last().map(String::as_str),
        Some("es-2"),
        "leader last"
    );
    assert_eq!(
        bed.kube.max_not_ready("default", "es"),
        1,
        "one node down at a time"
    );
    for c in NODE_CLAIMS {
        assert_eq!(claim(&bed, c)["spec"]["storageClassName"], "esk.default.es");
        assert_eq!(claim(&bed, c)["status"]["phase"], "Bound");
    }
    // The same volumes on the same cloud disks, now 50 GB.
    assert_eq!(volumes(&bed), volumes_before);
    assert_eq!(cloud_disks(&bed), disks_before);
    let sizes: Vec<u64> = bed.gce.disks().iter().map(|d| d.size_gb).collect();
    assert_eq!(sizes, [50, 50, 50]);
    assert_eq!(claim_sizes(&bed, &NODE_CLAIMS), all(3, "50Gi"));

    // Migrated once: a re-run changes nothing, and growing again restarts nothing.
    let versions = resource_versions(&bed);
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert_eq!(resource_versions(&bed), versions);
    let running = pods(&bed);
    esk_ok(&bed, &["disks", "grow", "60"]);
    assert_eq!(pods(&bed), running, "a pod restarted");
    assert_eq!(claim_sizes(&bed, &NODE_CLAIMS), all(3, "60Gi"));
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
    let sizes: Vec<u64> = bed.gce.disks().iter().map(|d| d.size_gb).collect();
    assert_eq!(sizes, [30, 30, 30]);
    assert_eq!(claim_sizes(&bed, &NODE_CLAIMS), all(3, "30Gi"));
}

/// Runs kubectl against the bed, which must succeed.
fn kubectl_ok(bed: &TestBed, args: &[&str]) {
    let out = bed.command("kubectl").args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
}

#[test]
fn a_migration_interrupted_after_a_claim_went_is_finished_by_a_re_run() {
    let bed = legacy_cluster();
    let volumes_before = volumes(&bed);
    let disks_before = cloud_disks(&bed);
    // Where a run stopped between deleting node 2's claim and making it again: the workload
    // and the claim are gone, the volume Released and still reserved for the old claim.
    kubectl_ok(
        &bed,
        &[
            "delete",
            "deployment/es-2",
            "--cascade=foreground",
            "--wait=true",
        ],
    );
    kubectl_ok(
        &bed,
        &["delete", "persistentvolumeclaim/es-data-2", "--wait=true"],
    );
    let pv = &volumes_before[1].1;
    let released = bed.kube.get("PersistentVolume", None, pv).unwrap();
    assert_eq!(released["status"]["phase"], "Released");

    let out = esk_ok(
        &bed,
        &["create", "3", "--set", "disk.sizeGb=50", "--dry-run"],
    );
    assert!(
        stdout(&out).contains("~ migrate es-data-2 (node 2)"),
        "{}",
        text(&out)
    );
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    for c in NODE_CLAIMS {
        assert_eq!(claim(&bed, c)["spec"]["storageClassName"], "esk.default.es");
    }
    assert_eq!(volumes(&bed), volumes_before);
    assert_eq!(cloud_disks(&bed), disks_before);
    assert_eq!(claim_sizes(&bed, &NODE_CLAIMS), all(3, "50Gi"));
}

#[test]
fn a_volume_that_would_delete_its_disk_is_never_migrated() {
    let bed = legacy_cluster();
    let pv = volumes(&bed)[0].1.clone();
    kubectl_ok(
        &bed,
        &[
            "patch",
            &format!("persistentvolume/{pv}"),
            "-p",
            r#"{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}"#,
        ],
    );
    let before = bed.mutating_requests();
    let versions = resource_versions(&bed);
    let out = esk(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("has reclaim policy Delete, not Retain"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), before, "something changed");
    // Pod and workload statuses may still move as pods settle; the request count above
    // says esk sent nothing.
    let storage = |v: Vec<(String, String)>| -> Vec<(String, String)> {
        v.into_iter()
            .filter(|(k, _)| k.contains("PersistentVolume"))
            .collect()
    };
    assert_eq!(storage(resource_versions(&bed)), storage(versions));
    assert_eq!(claim(&bed, "es-data-1")["spec"]["storageClassName"], "");
}

#[test]
fn a_read_only_replica_of_the_previous_release_is_migrated_too() {
    let bed = legacy_cluster_with(&["--read-only-replicas", "1"]);
    let replica = "es-replica-data-1";
    let before = claim(&bed, replica);
    assert_eq!(before["spec"]["storageClassName"], "");
    let out = esk_ok(&bed, &["disks", "grow", "50", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["outcome"]["claimsMigrated"].as_array().map(Vec::len),
        Some(4),
        "{doc}"
    );
    let after = claim(&bed, replica);
    assert_eq!(after["spec"]["storageClassName"], "esk.default.es");
    assert_eq!(after["spec"]["volumeName"], before["spec"]["volumeName"]);
    assert_eq!(after["status"]["capacity"]["storage"], "50Gi");
}

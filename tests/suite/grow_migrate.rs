//! Growing a cluster an earlier esk made (PVs and claims with `storageClassName: ""`, which
//! cannot expand): each node's claim is re-made with esk's class first, one node at a time,
//! and an interrupted migration is finished by a re-run with every cloud disk grown.

use crate::common::*;
use crate::grow::{assert_class, assert_grown, claim, grow_line, pods, NODE_CLAIMS};
use serde_json::Value;

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
    assert_class(&bed, "");
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
        let claim = format!("es-data-{i}");
        assert!(
            plan.contains(&grow_line(&claim, i, "20Gi", "50Gi")),
            "{plan}"
        );
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
    assert_class(&bed, "esk.default.es");
    for c in NODE_CLAIMS {
        assert_eq!(claim(&bed, c)["status"]["phase"], "Bound");
    }
    // The same volumes on the same cloud disks, now 50 GB.
    assert_eq!(volumes(&bed), volumes_before);
    assert_eq!(cloud_disks(&bed), disks_before);
    assert_grown(&bed, 50);

    // Migrated once: a re-run changes nothing, and growing again restarts nothing.
    let versions = resource_versions(&bed);
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert_eq!(resource_versions(&bed), versions);
    let running = pods(&bed);
    esk_ok(&bed, &["disks", "grow", "60"]);
    assert_eq!(pods(&bed), running, "a pod restarted");
    assert_grown(&bed, 60);
}

/// Runs kubectl against the bed, which must succeed.
fn kubectl_ok(bed: &TestBed, args: &[&str]) {
    let out = bed.command("kubectl").args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
}

/// What a migration does first to node 2: its workload gone (its pod with it), then its claim.
fn stop_node_2_and_delete_its_claim(bed: &TestBed) {
    kubectl_ok(
        bed,
        &[
            "delete",
            "deployment/es-2",
            "--cascade=foreground",
            "--wait=true",
        ],
    );
    kubectl_ok(
        bed,
        &["delete", "persistentvolumeclaim/es-data-2", "--wait=true"],
    );
}

/// A growing migration of node 2 stopped after its claim went: the workload and the claim
/// are gone, the volume Released (and, with `volume_patched`, already of esk's class and
/// freed for the new claim). A re-run finishes it, node 2's cloud disk growing like the
/// others. With `volume_patched`, node 2 is re-made by the migration's roll: a re-run used to
/// leave it to the apply, which comes after the migration, and so waited for node 2 until the
/// roll's timeout.
fn interrupted_migration_is_finished(volume_patched: bool) {
    let bed = legacy_cluster();
    let volumes_before = volumes(&bed);
    let disks_before = cloud_disks(&bed);
    stop_node_2_and_delete_its_claim(&bed);
    let pv = &volumes_before[1].1;
    let released = bed.kube.get("PersistentVolume", None, pv).unwrap();
    assert_eq!(released["status"]["phase"], "Released");
    if volume_patched {
        let release = r#"{"spec":{"storageClassName":"esk.default.es","claimRef":{"uid":null,"resourceVersion":null}}}"#;
        kubectl_ok(
            &bed,
            &["patch", &format!("persistentvolume/{pv}"), "-p", release],
        );
    }

    let out = esk_ok(
        &bed,
        &["create", "3", "--set", "disk.sizeGb=50", "--dry-run"],
    );
    let plan = stdout(&out);
    // Re-made by the migration's roll either way: the others migrate, and it is down.
    assert!(plan.contains("~ migrate es-data-2 (node 2)"), "{plan}");
    assert!(
        plan.contains(&grow_line("es-data-2", 2, "20Gi", "50Gi")),
        "{plan}"
    );
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert_class(&bed, "esk.default.es");
    assert_eq!(volumes(&bed), volumes_before);
    assert_eq!(cloud_disks(&bed), disks_before);
    assert_grown(&bed, 50);
}

#[test]
fn a_migration_interrupted_after_a_claim_went_is_finished_by_a_re_run() {
    interrupted_migration_is_finished(false);
}

#[test]
fn a_migration_interrupted_after_its_volume_took_the_class_is_finished_by_a_re_run() {
    interrupted_migration_is_finished(true);
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

/// The last node of a migration stopped after its volume took esk's class (or any node
/// whose claim went while its volume stayed): no other node migrates, so the apply makes its
/// claim and workload again. The volume is applied with its live 20Gi, not the 50Gi asked
/// for (with which the resizer, seeing a volume holding what its claim asks, never grew the
/// cloud disk and the run waited for nothing), and the run waits for that disk to grow.
#[test]
fn a_claim_made_again_beside_its_volume_grows_the_cloud_disk() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    let pv = claim(&bed, "es-data-2")["spec"]["volumeName"]
        .as_str()
        .unwrap_or("")
        .to_string();
    stop_node_2_and_delete_its_claim(&bed);
    let release = r#"{"spec":{"claimRef":{"uid":null,"resourceVersion":null}}}"#;
    kubectl_ok(
        &bed,
        &["patch", &format!("persistentvolume/{pv}"), "-p", release],
    );
    let out = esk_ok(
        &bed,
        &["create", "3", "--set", "disk.sizeGb=50", "--dry-run"],
    );
    let plan = stdout(&out);
    assert!(
        plan.contains(&grow_line("es-data-2", 2, "20Gi", "50Gi")),
        "{plan}"
    );
    assert!(!plan.contains("~ migrate"), "{plan}");
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=50"]);
    assert_eq!(claim(&bed, "es-data-2")["spec"]["volumeName"], pv.as_str());
    assert_grown(&bed, 50);
}

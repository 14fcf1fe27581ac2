//! Read-only replicas end to end on GKE: their disks are made, kept, reused and deleted by
//! the same rules as the nodes', `status` shows them as replicas outside the quorum, and the
//! record keeps their count for re-runs without the flag.

use crate::common::*;
use serde_json::Value;

fn status(bed: &TestBed) -> (i32, Value) {
    let out = esk(bed, &["status", "-o", "json"]);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status -o json printed no JSON ({e}):\n{}", text(&out)));
    (out.status.code().unwrap_or(-1), doc)
}

fn replica_deployments(bed: &TestBed) -> Vec<Value> {
    let mut d: Vec<Value> = esk_objects(bed, "Deployment", "es")
        .into_iter()
        .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/component"] == "replica")
        .collect();
    d.sort_by_key(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string());
    d
}

fn names(disks: &[(String, u64)]) -> Vec<&str> {
    disks.iter().map(|(n, _)| n.as_str()).collect()
}

/// (name, read-only replica, gossip state) of every node status shows.
fn members(doc: &Value) -> Vec<(String, bool, String)> {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["readOnlyReplica"] == true,
                n["member"]["state"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

#[test]
fn replicas_have_their_own_disks_and_follow_the_disk_rules_through_the_lifecycle() {
    let bed = TestBed::start();
    let foreign = bed
        .gce
        .seed_disk("p", "us-central1-a", "someone-elses", &[]);
    let out = esk_ok(&bed, &["create", "3", "--read-only-replicas", "2"]);
    assert!(stdout(&out).contains("3 node(s)"), "{}", text(&out));
    let made = labelled_gce_disks(&bed, "es");
    assert_eq!(
        names(&made),
        [
            "es-disk-1",
            "es-disk-2",
            "es-disk-3",
            "es-disk-replica-1",
            "es-disk-replica-2"
        ]
    );
    let replica_disk = bed
        .gce
        .disks()
        .into_iter()
        .find(|d| d.name == "es-disk-replica-2")
        .unwrap();
    assert_eq!(replica_disk.labels["esk-node"], "r2");
    assert_eq!(replica_disk.labels["esk-cluster"], "es");

    // Three voting nodes of size 3, two replicas beside them.
    assert_eq!(node_deployments(&bed, "es").len(), 3);
    let replicas = replica_deployments(&bed);
    assert_eq!(replicas.len(), 2);
    for d in node_deployments(&bed, "es").iter().chain(&replicas) {
        assert_eq!(env_value(d, "CLUSTER_SIZE").as_deref(), Some("3"));
    }
    for d in &replicas {
        assert_eq!(env_value(d, "READ_ONLY_REPLICA").as_deref(), Some("true"));
    }
    let pdb = bed
        .kube
        .get("PodDisruptionBudget", Some("default"), "es")
        .unwrap();
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
        "node"
    );
    assert!(bed
        .kube
        .get("Secret", Some("default"), "es-replica-2-tls")
        .is_some());
    let record = bed
        .kube
        .get("ConfigMap", Some("default"), "esk.es")
        .unwrap();
    assert_eq!(record["data"]["readOnlyReplicas"], "2");

    // status: healthy, two read-only replicas, quorum from the three nodes.
    let (code, doc) = status(&bed);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["verdict"], "healthy");
    assert_eq!(doc["cluster"]["nodes"], 3);
    assert_eq!(doc["cluster"]["readOnlyReplicas"], 2);
    let m = members(&doc);
    let replicas_seen: Vec<&(String, bool, String)> = m.iter().filter(|m| m.1).collect();
    assert_eq!(replicas_seen.len(), 2, "{m:?}");
    for (name, _, state) in &replicas_seen {
        assert!(name.starts_with("es-replica-"), "{name}");
        assert_eq!(state, "ReadOnlyReplica");
    }
    assert_eq!(m.iter().filter(|m| m.2 == "Leader").count(), 1, "{m:?}");
    let table = stdout(&esk_ok(&bed, &["status"]));
    assert!(
        table.contains("3 node(s) · 2 read-only replica(s)"),
        "{table}"
    );

    // A re-run without the flag keeps the replicas and changes nothing.
    let before = resource_versions(&bed);
    esk_ok(&bed, &["create", "3"]);
    assert_eq!(resource_versions(&bed), before);

    // delete --keep-disks keeps every disk, the replicas' too; create with the same flags
    // finds the same disks.
    esk_ok(&bed, &["delete", "--keep-disks"]);
    assert_eq!(labelled_gce_disks(&bed, "es"), made);
    assert!(replica_deployments(&bed).is_empty());
    esk_ok(&bed, &["create", "3", "--read-only-replicas", "2"]);
    assert_eq!(
        labelled_gce_disks(&bed, "es"),
        made,
        "the same disks, the same data"
    );

    // resize keeps the replicas (from the record) and their disks, with the new size.
    esk_ok(&bed, &["resize", "5"]);
    let disks = labelled_gce_disks(&bed, "es");
    assert_eq!(disks.len(), 7);
    for d in &made {
        assert!(disks.contains(d), "{d:?} kept");
    }
    let replicas = replica_deployments(&bed);
    assert_eq!(replicas.len(), 2);
    for d in &replicas {
        assert_eq!(env_value(d, "CLUSTER_SIZE").as_deref(), Some("5"));
    }
    let (code, doc) = status(&bed);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["cluster"]["readOnlyReplicas"], 2);

    // Fewer replicas: the surplus replica's workload goes, its disk stays until pruned.
    esk_ok(&bed, &["resize", "5", "--read-only-replicas", "1"]);
    assert_eq!(replica_deployments(&bed).len(), 1);
    assert_eq!(labelled_gce_disks(&bed, "es").len(), 7);
    let (code, doc) = status(&bed);
    assert_eq!(code, 0, "{doc:#}");
    let warnings = doc["warnings"].to_string();
    assert!(warnings.contains("es-disk-replica-2"), "{warnings}");
    esk_ok(&bed, &["resize", "5", "--prune-disks", "--yes"]);
    let disks = labelled_gce_disks(&bed, "es");
    assert_eq!(disks.len(), 6);
    assert!(!names(&disks).contains(&"es-disk-replica-2"));
    assert!(pvs_without_their_disk(&bed).is_empty());

    // delete --yes deletes this cluster's disks, replicas' included, and nothing else.
    esk_ok(&bed, &["delete", "--yes"]);
    assert!(labelled_gce_disks(&bed, "es").is_empty());
    assert_eq!(bed.gce.disks(), vec![foreign]);
}

#[test]
fn replicas_are_refused_where_they_cannot_run_before_any_change() {
    let bed = TestBed::start();
    for (args, says) in [
        (
            &[
                "create",
                "3",
                "--read-only-replicas",
                "1",
                "--profile",
                "eventstore-5",
            ][..],
            "20.10 or newer",
        ),
        (
            &["create", "3", "--read-only-replicas", "x"][..],
            "whole number",
        ),
        (
            &["create", "1", "--read-only-replicas", "1"][..],
            "3 or more nodes",
        ),
        (
            &[
                "create",
                "3",
                "--read-only-replicas",
                "1",
                "--workload",
                "statefulset",
            ][..],
            "--workload deployment",
        ),
    ] {
        let out = esk(&bed, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(bed.gce.mutating_requests(), 0);
    assert!(all_esk_objects(&bed, "es").is_empty());
}

//! End to end on GKE: the real esk binary driving the real gcloud and kubectl against the
//! test bed's emulators.

use crate::common::*;

#[test]
fn create_is_complete_and_rerunning_it_changes_nothing() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "5"]);

    let disks = labelled_gce_disks(&bed, "es");
    let names: Vec<&str> = disks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "es-disk-1",
            "es-disk-2",
            "es-disk-3",
            "es-disk-4",
            "es-disk-5"
        ]
    );
    for d in bed.gce.disks() {
        assert_eq!(d.labels.get("managed-by").map(String::as_str), Some("esk"));
        assert_eq!(
            d.labels.get("esk-namespace").map(String::as_str),
            Some("default")
        );
        assert_eq!(d.size_gb, 20);
    }

    let nodes = node_deployments(&bed, "es");
    assert_eq!(nodes.len(), 5);
    for (i, d) in nodes.iter().enumerate() {
        assert_eq!(env_value(d, "CLUSTER_SIZE").as_deref(), Some("5"), "{d}");
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["hostname"], format!("es-{}", i + 1));
        assert_eq!(pod["subdomain"], "es");
        assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
        assert_eq!(d["spec"]["replicas"], 1);
    }
    // Each node's claim is pre-bound to a PV whose CSI handle names that node's disk.
    for i in 1..=5 {
        let pvc = bed
            .kube
            .get(
                "PersistentVolumeClaim",
                Some("default"),
                &format!("es-data-{i}"),
            )
            .expect("pvc");
        let pv_name = pvc["spec"]["volumeName"]
            .as_str()
            .expect("volumeName")
            .to_string();
        let pv = bed
            .kube
            .get("PersistentVolume", None, &pv_name)
            .expect("pv");
        assert_eq!(
            pv["spec"]["csi"]["volumeHandle"],
            format!("projects/p/zones/us-central1-a/disks/es-disk-{i}")
        );
        assert_eq!(pv["spec"]["csi"]["driver"], "pd.csi.storage.gke.io");
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    }
    let svc = bed
        .kube
        .get("Service", Some("default"), "es")
        .expect("headless service");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["publishNotReadyAddresses"], true);
    let cm = bed
        .kube
        .get("ConfigMap", Some("default"), "es-frontend")
        .expect("nginx config");
    // The frontend proxies to the client Service: one stable address over the ready nodes.
    assert!(cm["data"]["nginx.conf"]
        .as_str()
        .unwrap()
        .contains("server es-client.default.svc.cluster.local:2113"));
    let client = bed
        .kube
        .get("Service", Some("default"), "es-client")
        .expect("client service");
    assert_eq!(
        client["spec"]["selector"]["app.kubernetes.io/component"],
        "node"
    );
    assert!(bed
        .kube
        .get("Deployment", Some("default"), "es-frontend")
        .is_some());
    assert!(bed
        .kube
        .get("Service", Some("default"), "es-frontend")
        .is_some());
    let record = bed
        .kube
        .get("ConfigMap", Some("default"), "esk.es")
        .expect("cluster record");
    assert_eq!(record["data"]["nodes"], "5");
    assert_eq!(record["data"]["cloud"], "gke");

    // Every object carries the recommended labels (but what the cluster came with).
    for o in bed.kube.objects() {
        if ["Namespace", "Node", "CSIDriver"].contains(&o["kind"].as_str().unwrap_or("")) {
            continue;
        }
        let l = &o["metadata"]["labels"];
        for key in [
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
        ] {
            assert!(l[key].is_string(), "{} lacks {key}", o["metadata"]["name"]);
        }
    }

    let before_versions = resource_versions(&bed);
    let before_gce = bed.gce.mutating_requests();
    let again = esk_ok(&bed, &["create", "5"]);
    assert_eq!(
        bed.gce.mutating_requests(),
        before_gce,
        "a re-run created or deleted disks"
    );
    assert_eq!(labelled_gce_disks(&bed, "es"), disks);
    assert_eq!(
        resource_versions(&bed),
        before_versions,
        "a re-run changed objects"
    );
    assert!(stdout(&again).contains("0 created"), "{}", text(&again));
}

#[test]
fn delete_keep_disks_then_create_binds_the_same_disks() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "5"]);
    let disks = labelled_gce_disks(&bed, "es");
    assert_eq!(disks.len(), 5);

    let out = esk_ok(&bed, &["delete", "--keep-disks"]);
    assert_eq!(all_esk_objects(&bed, "es"), KEPT_WITH_DISKS, "objects left");
    assert_eq!(
        labelled_gce_disks(&bed, "es"),
        disks,
        "disks changed: {}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("kept disks: es-disk-1"),
        "{}",
        text(&out)
    );

    let inserts_before = bed
        .gce
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST") && r.ends_with("/disks"))
        .count();
    esk_ok(&bed, &["create", "5"]);
    let inserts_after = bed
        .gce
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST") && r.ends_with("/disks"))
        .count();
    assert_eq!(
        inserts_after, inserts_before,
        "create after keep-disks made new disks"
    );
    assert_eq!(
        labelled_gce_disks(&bed, "es"),
        disks,
        "not the same disk ids"
    );
    assert_eq!(node_deployments(&bed, "es").len(), 5);
}

#[test]
fn resize_grows_and_shrinks_and_delete_yes_removes_only_this_clusters_disks() {
    let bed = TestBed::start();
    // Somebody else's disk with an esk-like name, and another esk cluster's disk.
    bed.gce.seed_disk("p", "us-central1-a", "es-disk-9", &[]);
    bed.gce.seed_disk(
        "p",
        "us-central1-a",
        "other-disk-1",
        &[
            ("managed-by", "esk"),
            ("esk-cluster", "other"),
            ("esk-namespace", "default"),
        ],
    );
    esk_ok(&bed, &["create", "5"]);
    let five = labelled_gce_disks(&bed, "es");

    esk_ok(&bed, &["resize", "7"]);
    let seven = labelled_gce_disks(&bed, "es");
    assert_eq!(seven.len(), 7);
    assert_eq!(&seven[..5], &five[..], "resize replaced existing disks");
    let nodes = node_deployments(&bed, "es");
    assert_eq!(nodes.len(), 7);
    for d in &nodes {
        assert_eq!(env_value(d, "CLUSTER_SIZE").as_deref(), Some("7"));
    }
    assert_eq!(
        bed.kube
            .get("ConfigMap", Some("default"), "esk.es")
            .unwrap()["data"]["nodes"],
        "7"
    );

    let out = esk_ok(&bed, &["resize", "3"]);
    assert!(
        stderr(&out).contains("not used by any node and are kept"),
        "{}",
        text(&out)
    );
    let nodes = node_deployments(&bed, "es");
    assert_eq!(nodes.len(), 3);
    for d in &nodes {
        assert_eq!(env_value(d, "CLUSTER_SIZE").as_deref(), Some("3"));
    }
    assert_eq!(esk_objects(&bed, "PersistentVolume", "es").len(), 3);
    assert_eq!(
        labelled_gce_disks(&bed, "es"),
        seven,
        "shrinking lost disks"
    );

    // Pruning deletes only the surplus disks esk made for this cluster.
    esk_ok(&bed, &["resize", "3", "--prune-disks", "--yes"]);
    assert_eq!(labelled_gce_disks(&bed, "es"), seven[..3]);

    let out = esk_ok(&bed, &["delete", "--yes"]);
    assert!(labelled_gce_disks(&bed, "es").is_empty(), "{}", text(&out));
    let left: Vec<String> = bed.gce.disks().into_iter().map(|d| d.name).collect();
    assert_eq!(left, ["es-disk-9", "other-disk-1"]);
    assert!(all_esk_objects(&bed, "es").is_empty());
}

#[test]
fn dry_runs_print_the_plan_and_change_nothing() {
    let bed = TestBed::start();
    let out = esk_ok(&bed, &["create", "3", "--dry-run"]);
    let plan = stdout(&out);
    assert!(plan.contains("+ create  es-disk-3"), "{plan}");
    assert!(plan.contains("~ apply   Deployment/es-3"), "{plan}");
    assert!(plan.contains("Dry run: nothing was changed."), "{plan}");
    assert_eq!(bed.mutating_requests(), 0);
    assert!(bed.gce.disks().is_empty());

    esk_ok(&bed, &["create", "3"]);
    let before = bed.mutating_requests();
    let out = esk_ok(&bed, &["resize", "5", "--dry-run"]);
    let plan = stdout(&out);
    assert!(plan.contains("= keep    es-disk-1"), "{plan}");
    assert!(plan.contains("+ create  es-disk-5"), "{plan}");
    assert!(plan.contains("- delete  Deployment/es-1"), "{plan}");
    let out = esk_ok(&bed, &["delete", "--dry-run"]);
    let plan = stdout(&out);
    assert!(plan.contains("- delete  es-disk-2"), "{plan}");
    assert!(
        plan.contains("- delete  PersistentVolume/default.es-disk-2"),
        "{plan}"
    );
    let out = esk_ok(&bed, &["delete", "--keep-disks", "--dry-run"]);
    assert!(
        !stdout(&out).contains("- delete  es-disk"),
        "{}",
        text(&out)
    );
    assert_eq!(
        bed.mutating_requests(),
        before,
        "a dry run mutated something"
    );
    assert_eq!(labelled_gce_disks(&bed, "es").len(), 3);
}

#[test]
fn an_adopting_create_stopped_before_labelling_its_new_disk_is_finished_by_a_rerun() {
    let bed = TestBed::start();
    for i in 1..=2 {
        bed.gce
            .seed_disk("p", "us-central1-a", &format!("esdisk-{i}"), &[]);
    }
    // esdisk-3 is made with the cluster's labels, then its node label fails to arrive.
    bed.gce.inject_fault(testbed::gce::Fault {
        method: Some("POST".into()),
        path_contains: "/disks/esdisk-3/setLabels".into(),
        status: 403,
        reason: "forbidden".into(),
        times: 1,
    });
    let args = ["create", "3", "--adopt-disks", "esdisk-{i}"];
    let out = esk(&bed, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let made = bed.gce.disks().into_iter().find(|d| d.name == "esdisk-3");
    let made = made.expect("esdisk-3 was created before the failure");
    assert!(!made.labels.contains_key("esk-node"), "{:?}", made.labels);

    esk_ok(&bed, &args);
    let d = bed
        .gce
        .disks()
        .into_iter()
        .find(|d| d.name == "esdisk-3")
        .expect("disk");
    assert_eq!(d.id, made.id, "the disk was made again");
    assert_eq!(d.labels.get("esk-node").map(String::as_str), Some("3"));
    assert!(
        !d.labels.contains_key("esk-adopted"),
        "esk made it: it is not adopted"
    );
    assert_eq!(bed.gce.disks().len(), 3);
    // Found by its labels from now on.
    let before = bed.gce.mutating_requests();
    esk_ok(&bed, &["create", "3"]);
    assert_eq!(bed.gce.mutating_requests(), before);
}

#[test]
fn adopt_disks_takes_over_the_old_scripts_disks_without_recreating_them() {
    let bed = TestBed::start();
    let old: Vec<u64> = (1..=3)
        .map(|i| {
            bed.gce
                .seed_disk("p", "us-central1-a", &format!("esdisk-{i}"), &[])
                .id
        })
        .collect();
    esk_ok(&bed, &["create", "4", "--adopt-disks", "esdisk-{i}"]);
    let disks = bed.gce.disks();
    for (i, id) in old.iter().enumerate() {
        let d = disks
            .iter()
            .find(|d| d.name == format!("esdisk-{}", i + 1))
            .expect("adopted disk");
        assert_eq!(d.id, *id, "adopted disk was recreated");
        assert_eq!(d.labels.get("esk-cluster").map(String::as_str), Some("es"));
        assert_eq!(
            d.labels.get("esk-node").map(String::as_str),
            Some(&*(i + 1).to_string())
        );
    }
    // The missing fourth one is created under the same pattern.
    assert!(disks.iter().any(|d| d.name == "esdisk-4"));
    let pv = bed
        .kube
        .get("PersistentVolume", None, "default.es-disk-2")
        .expect("pv");
    assert_eq!(
        pv["spec"]["csi"]["volumeHandle"],
        "projects/p/zones/us-central1-a/disks/esdisk-2"
    );

    // Later runs find them by label, without the flag.
    let before = bed.gce.mutating_requests();
    esk_ok(&bed, &["create", "4"]);
    assert_eq!(bed.gce.mutating_requests(), before);

    // esk never deletes a disk it did not create: the adopted ones stay, the one it made goes.
    let out = esk_ok(&bed, &["delete", "--yes"]);
    assert!(
        stderr(&out).contains("adopted disk(s) esdisk-1, esdisk-2, esdisk-3 are kept"),
        "{}",
        text(&out)
    );
    let left: Vec<(String, u64)> = bed
        .gce
        .disks()
        .into_iter()
        .map(|d| (d.name, d.id))
        .collect();
    let expected: Vec<(String, u64)> = (1..=3)
        .map(|i| (format!("esdisk-{i}"), old[i - 1]))
        .collect();
    assert_eq!(left, expected);
}

#[test]
fn disks_of_the_same_cluster_name_in_another_kubernetes_cluster_are_not_ours() {
    let bed = TestBed::start();
    // Same name and namespace, made by esk for another Kubernetes cluster in this project.
    let twin = bed.gce.seed_disk(
        "p",
        "us-central1-a",
        "es-disk-1",
        &[
            ("managed-by", "esk"),
            ("esk-cluster", "es"),
            ("esk-namespace", "default"),
            ("esk-kube", "0000-other"),
            ("esk-node", "1"),
        ],
    );
    let out = esk(&bed, &["create", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("another Kubernetes cluster"),
        "{}",
        text(&out)
    );
    assert_eq!(bed.mutating_requests(), 0);
    esk_ok(&bed, &["delete", "--yes"]);
    assert_eq!(bed.gce.disks(), vec![twin]);
}

#[test]
fn a_foreign_disk_with_the_wanted_name_is_never_used_or_deleted() {
    let bed = TestBed::start();
    let foreign = bed.gce.seed_disk("p", "us-central1-a", "es-disk-2", &[]);
    let out = esk(&bed, &["create", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("es-disk-2 exists but is not labelled"),
        "{}",
        text(&out)
    );
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", text(&out));
    assert_eq!(bed.mutating_requests(), 0);

    let out = esk(&bed, &["delete", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bed.gce.disks(), vec![foreign]);
}

#[test]
fn deleting_disks_needs_yes_when_not_interactive() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "1"]);
    let before = bed.mutating_requests();
    let out = esk(&bed, &["delete"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("without --yes"), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), before);
    assert_eq!(labelled_gce_disks(&bed, "es").len(), 1);
    assert_eq!(node_deployments(&bed, "es").len(), 1);
}

#[test]
fn a_failed_create_reports_and_a_rerun_resumes() {
    let bed = TestBed::start();
    bed.kube.inject_fault(testbed::kube::Fault {
        method: Some("PATCH".into()),
        path_contains: "/deployments/es-2".into(),
        status: 500,
        // As many as esk's tries (esk::adapters::retry::ATTEMPTS): a failure that lasts.
        times: esk::adapters::retry::ATTEMPTS as usize,
    });
    let out = esk(&bed, &["create", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("kubectl"), "{}", text(&out));
    assert!(
        stderr(&out).contains("done before that: created disks es-disk-1, es-disk-2, es-disk-3"),
        "{}",
        text(&out)
    );
    // The disks were made before the failure and are kept.
    assert_eq!(labelled_gce_disks(&bed, "es").len(), 3);

    let before_gce = bed.gce.mutating_requests();
    let out = esk_ok(&bed, &["create", "3", "--wait"]);
    assert!(
        stderr(&out).contains("waiting for 3 node(s) to be ready: done"),
        "{}",
        text(&out)
    );
    assert_eq!(
        bed.gce.mutating_requests(),
        before_gce,
        "the re-run made disks again"
    );
    assert_eq!(node_deployments(&bed, "es").len(), 3);
}

#[path = "gke/replicas.rs"]
mod replicas;

#[test]
fn a_smaller_disk_size_is_refused_before_any_change() {
    // (A bigger one grows the disks in place: tests/suite/grow.rs.)
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    let before = resource_versions(&bed);
    // The lock is taken and released around the refused plan; nothing else is written.
    let gce = bed.gce.mutating_requests();
    for size in ["5", "19"] {
        let set = format!("disk.sizeGb={size}");
        let out = esk(&bed, &["create", "3", "--set", &set]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("claim es-data-1 holds 20Gi and this run asks for")
                && err.contains("--set disk.sizeGb"),
            "{err}"
        );
    }
    let out = esk(&bed, &["resize", "4", "--set", "disk.sizeGb=10"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(resource_versions(&bed), before);
    assert_eq!(bed.gce.mutating_requests(), gce);
}

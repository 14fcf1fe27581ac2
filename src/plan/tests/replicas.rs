//! Read-only replicas in plans: their own disks beside the nodes', kept, pruned and deleted by
//! the same rules, never counted in the cluster size.

use super::*;
use crate::spec::REPLICA_BASE;

fn with_replicas(n: &str, k: u8) -> Spec {
    let mut s = spec(n);
    s.set_replicas(k).unwrap();
    s
}

/// `running(n)` plus k replicas as `observe` sees them.
fn running_with_replicas(n: u8, k: u8) -> Observed {
    let mut o = running(n);
    for j in 1..=k {
        let i = Some(REPLICA_BASE + j);
        o.objects
            .push(object("Deployment", &format!("es-replica-{j}"), i));
        o.objects.push(object(
            "PersistentVolume",
            &format!("default.es-disk-replica-{j}"),
            i,
        ));
        o.objects.push(object(
            "PersistentVolumeClaim",
            &format!("es-replica-data-{j}"),
            i,
        ));
        o.objects
            .push(object("Secret", &format!("es-replica-{j}-tls"), i));
        o.disks
            .push(disk(&format!("es-disk-replica-{j}"), i, Owner::This));
    }
    o
}

fn refs(plan: &Plan) -> Vec<String> {
    plan.delete.iter().map(ToString::to_string).collect()
}

#[test]
fn replicas_get_their_own_disks_and_objects() {
    let plan = create(&with_replicas("3", 2), &Observed::default(), None).unwrap();
    assert_eq!(
        names(&plan, created),
        [
            "es-disk-1",
            "es-disk-2",
            "es-disk-3",
            "es-disk-replica-1",
            "es-disk-replica-2"
        ]
    );
    let applied: Vec<String> = plan.apply.iter().map(ToString::to_string).collect();
    for o in [
        "Deployment/es-replica-2",
        "Service/es-replica",
        "Secret/es-replica-2-tls",
        "PersistentVolumeClaim/es-replica-data-2",
    ] {
        assert!(applied.contains(&o.to_string()), "{o} in {applied:?}");
    }
    assert!(plan.title.contains("3 node(s) and 2 read-only replica(s)"));
    let shown = plan.to_string();
    assert!(
        shown.contains("+ create  es-disk-replica-2 (read-only replica 2)"),
        "{shown}"
    );
    assert!(shown.contains("+ create  es-disk-3 (node 3)"), "{shown}");
    let doc = super::super::json::document(&with_replicas("3", 2), &plan, None);
    let steps = doc["plan"]["disks"].as_array().unwrap();
    assert_eq!(steps[2]["node"], 3);
    assert!(steps[2].get("replica").is_none());
    assert_eq!(steps[4]["node"], serde_json::Value::Null);
    assert_eq!(steps[4]["replica"], 2);
    assert_eq!(doc["cluster"]["readOnlyReplicas"], 2);
    // --adopt-disks names the nodes' disks; replicas keep esk's names.
    let adopt = AdoptPattern::parse("esdisk-{i}").unwrap();
    let wanted = wanted_disk_names(&with_replicas("3", 1), Some(&adopt));
    assert_eq!(
        wanted,
        ["esdisk-1", "esdisk-2", "esdisk-3", "es-disk-replica-1"]
    );
}

#[test]
fn replicas_are_not_counted_in_the_cluster_size() {
    let mut observed = running_with_replicas(3, 2);
    assert_eq!(observed.current_size(), Some(3));
    // A re-run with the same count changes nothing.
    let plan = create(&with_replicas("3", 2), &observed, None).unwrap();
    assert!(plan.is_noop(), "{plan:?}");
    observed.objects.push(object("Deployment", "es-4", Some(4)));
    assert_eq!(observed.current_size(), Some(4));
}

#[test]
fn fewer_replicas_drop_their_objects_and_keep_their_disks() {
    let plan = create(&with_replicas("3", 1), &running_with_replicas(3, 2), None).unwrap();
    assert_eq!(
        refs(&plan),
        [
            "Deployment/es-replica-2",
            "PersistentVolume/default.es-disk-replica-2",
            "PersistentVolumeClaim/es-replica-data-2",
            "Secret/es-replica-2-tls"
        ]
    );
    assert!(plan.disks_to_delete().is_empty());
    assert_eq!(names(&plan, surplus), ["es-disk-replica-2"]);
    // More replicas on a re-run: only the new one's disk is made.
    let plan = create(&with_replicas("3", 3), &running_with_replicas(3, 2), None).unwrap();
    assert_eq!(names(&plan, created), ["es-disk-replica-3"]);
    assert!(plan.delete.is_empty());
}

#[test]
fn resize_recreates_the_nodes_not_the_replicas_and_prunes_only_surplus() {
    let plan = resize(&with_replicas("5", 2), &running_with_replicas(3, 2), false).unwrap();
    let gone = refs(&plan);
    assert!(gone.contains(&"Deployment/es-1".to_string()));
    assert!(!gone.iter().any(|o| o.contains("replica")), "{gone:?}");
    assert_eq!(names(&plan, created), ["es-disk-4", "es-disk-5"]);

    let plan = resize(&with_replicas("3", 0), &running_with_replicas(5, 2), true).unwrap();
    assert_eq!(
        names(&plan, deleted),
        [
            "es-disk-4",
            "es-disk-5",
            "es-disk-replica-1",
            "es-disk-replica-2"
        ]
    );
    let gone = refs(&plan);
    assert!(gone.contains(&"Deployment/es-replica-1".to_string()));
    assert!(gone.contains(&"Secret/es-replica-2-tls".to_string()));
    let plan = resize(&with_replicas("3", 0), &running_with_replicas(3, 2), false).unwrap();
    assert!(plan.disks_to_delete().is_empty());
    assert_eq!(
        names(&plan, surplus),
        ["es-disk-replica-1", "es-disk-replica-2"]
    );
}

#[test]
fn delete_takes_the_replicas_disks_unless_kept() {
    let observed = running_with_replicas(3, 2);
    let plan = plan_delete(&spec("1"), &observed, false);
    assert_eq!(names(&plan, deleted).len(), 5);
    assert!(names(&plan, deleted).contains(&"es-disk-replica-2".to_string()));
    let plan = plan_delete(&spec("1"), &observed, true);
    assert!(plan.disks_to_delete().is_empty());
    assert_eq!(names(&plan, surplus).len(), 5);
}

//! The planning rules, without any process: idempotency, keep-disks, adoption, resize.

use clap::Parser;

use super::*;
use crate::cli::{node_count, Cli};
use crate::domain::Owner;
use crate::error::Refused;
use crate::render::Templates;
use crate::spec::{Cloud, Spec};

fn spec(n: &str) -> Spec {
    let cli =
        Cli::try_parse_from(["esk", "render", n, "--project", "p", "--zone", "z-a-1"]).unwrap();
    cli.global
        .spec(node_count(n).unwrap(), Some(Cloud::Gke))
        .unwrap()
}

fn source(name: &str) -> DiskSource {
    DiskSource {
        kind: "csi".into(),
        driver: "pd.csi.storage.gke.io".into(),
        handle: format!("projects/p/zones/z-a-1/disks/{name}"),
        path: String::new(),
        topology_key: "topology.gke.io/zone".into(),
        topology_value: "z-a-1".into(),
    }
}

fn disk(name: &str, node: Option<u8>, owner: Owner) -> Disk {
    Disk {
        name: name.into(),
        id: format!("id-{name}"),
        node,
        replaced: None,
        owner,
        source: source(name),
    }
}

fn owned(n: u8) -> Vec<Disk> {
    (1..=n)
        .map(|i| disk(&format!("es-disk-{i}"), Some(i), Owner::This))
        .collect()
}

fn object(kind: &str, name: &str, node: Option<u8>) -> (ObjectRef, Option<u8>) {
    (
        ObjectRef {
            kind: kind.into(),
            name: name.into(),
        },
        node,
    )
}

/// What a running cluster of `n` nodes looks like to `observe`.
fn running(n: u8) -> Observed {
    let mut objects = vec![
        object("Service", "es", None),
        object("Deployment", "es-frontend", None),
    ];
    for i in 1..=n {
        objects.push(object("Deployment", &format!("es-{i}"), Some(i)));
        objects.push(object(
            "PersistentVolume",
            &format!("default.es-disk-{i}"),
            Some(i),
        ));
        objects.push(object(
            "PersistentVolumeClaim",
            &format!("es-data-{i}"),
            Some(i),
        ));
    }
    Observed {
        disks: owned(n),
        objects,
        namespace_exists: true,
        ..Default::default()
    }
}

fn create(spec: &Spec, observed: &Observed, adopt: Option<&AdoptPattern>) -> anyhow::Result<Plan> {
    let templates = Templates::load(None).unwrap();
    plan_create(spec, observed, adopt, &|name, _| source(name), &|nodes| {
        templates.render(spec, nodes)
    })
}

fn resize(spec: &Spec, observed: &Observed, prune: bool) -> anyhow::Result<Plan> {
    let templates = Templates::load(None).unwrap();
    plan_resize(spec, observed, prune, &|name, _| source(name), &|nodes| {
        templates.render(spec, nodes)
    })
}

fn names(plan: &Plan, pick: fn(&DiskStep) -> Option<&str>) -> Vec<String> {
    plan.disks
        .iter()
        .filter_map(pick)
        .map(str::to_string)
        .collect()
}

fn created(s: &DiskStep) -> Option<&str> {
    match s {
        DiskStep::Create { name, .. } => Some(name),
        _ => None,
    }
}

fn deleted(s: &DiskStep) -> Option<&str> {
    match s {
        DiskStep::Delete { disk } => Some(&disk.name),
        _ => None,
    }
}

fn surplus(s: &DiskStep) -> Option<&str> {
    match s {
        DiskStep::KeepSurplus { disk } => Some(&disk.name),
        _ => None,
    }
}

#[test]
fn an_empty_project_gets_every_disk_and_object() {
    let plan = create(&spec("3"), &Observed::default(), None).unwrap();
    assert_eq!(
        names(&plan, created),
        ["es-disk-1", "es-disk-2", "es-disk-3"]
    );
    assert!(plan.create_namespace);
    let applied: Vec<String> = plan.apply.iter().map(ToString::to_string).collect();
    for want in [
        "Deployment/es-3",
        "Service/es",
        "PersistentVolume/default.es-disk-2",
        "ConfigMap/esk.es",
    ] {
        assert!(
            applied.contains(&want.to_string()),
            "{want} missing from {applied:?}"
        );
    }
    assert!(!plan.is_noop());
}

#[test]
fn an_existing_cluster_plans_nothing_new() {
    let plan = create(&spec("3"), &running(3), None).unwrap();
    assert!(names(&plan, created).is_empty());
    assert!(plan.is_noop(), "{plan}");
    assert!(plan.delete.is_empty());
}

#[test]
fn a_disk_with_a_wanted_name_but_not_our_labels_is_refused() {
    let mut observed = Observed::default();
    observed.disks.push(disk("es-disk-2", None, Owner::Foreign));
    let err = create(&spec("3"), &observed, None).unwrap_err();
    assert!(err.downcast_ref::<Refused>().is_some(), "{err}");
    observed.disks[0].owner = Owner::Other("prod/es".into());
    let err = create(&spec("3"), &observed, None).unwrap_err();
    assert!(
        err.to_string().contains("belongs to esk cluster prod/es"),
        "{err}"
    );
}

#[test]
fn adoption_labels_old_disks_and_creates_the_missing_ones_under_the_pattern() {
    let pattern = AdoptPattern::parse("esdisk-{i}").unwrap();
    let mut observed = Observed::default();
    observed.disks.push(disk("esdisk-1", None, Owner::Foreign));
    observed.disks.push(disk("esdisk-2", None, Owner::Foreign));
    let plan = create(&spec("3"), &observed, Some(&pattern)).unwrap();
    let adopted: Vec<(u8, &str)> = plan
        .disks
        .iter()
        .filter_map(|s| match s {
            DiskStep::Adopt { node, disk } => Some((*node, disk.name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(adopted, [(1, "esdisk-1"), (2, "esdisk-2")]);
    assert_eq!(names(&plan, created), ["esdisk-3"]);
    assert!(plan.disks_to_delete().is_empty());
}

#[test]
fn adopt_patterns_are_checked() {
    for bad in ["esdisk", "es-{i}-{i}", "Es-{i}", "es;{i}", "{i}"] {
        assert!(AdoptPattern::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        AdoptPattern::parse("old-{i}-data").unwrap().name(4),
        "old-4-data"
    );
}

#[test]
fn create_with_another_size_points_at_resize() {
    let err = create(&spec("3"), &running(5), None).unwrap_err();
    assert!(err.to_string().contains("esk resize 3"), "{err}");
}

#[test]
fn growing_keeps_every_disk_and_recreates_every_node() {
    let plan = resize(&spec("5"), &running(3), false).unwrap();
    assert_eq!(names(&plan, created), ["es-disk-4", "es-disk-5"]);
    let kept = plan
        .disks
        .iter()
        .filter(|s| matches!(s, DiskStep::Keep { .. }))
        .count();
    assert_eq!(kept, 3);
    let deleted_objects: Vec<String> = plan.delete.iter().map(ToString::to_string).collect();
    assert_eq!(
        deleted_objects,
        ["Deployment/es-1", "Deployment/es-2", "Deployment/es-3"]
    );
}

#[test]
fn shrinking_keeps_surplus_disks_unless_pruning_and_drops_their_objects() {
    let plan = resize(&spec("3"), &running(7), false).unwrap();
    assert_eq!(
        names(&plan, surplus),
        ["es-disk-4", "es-disk-5", "es-disk-6", "es-disk-7"]
    );
    assert!(plan.disks_to_delete().is_empty());
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("4 disk(s)") && w.contains("kept")));
    let gone: Vec<String> = plan.delete.iter().map(ToString::to_string).collect();
    assert!(gone.contains(&"PersistentVolume/default.es-disk-7".to_string()));
    assert!(
        gone.contains(&"Deployment/es-1".to_string()),
        "recreate: every node goes"
    );
    assert!(!gone
        .iter()
        .any(|o| o == "PersistentVolumeClaim/es-data-1" || o.contains("frontend")));

    let mut observed = running(7);
    observed.disks.push(disk("es-disk-9", None, Owner::Foreign));
    let plan = resize(&spec("3"), &observed, true).unwrap();
    assert_eq!(
        names(&plan, deleted),
        ["es-disk-4", "es-disk-5", "es-disk-6", "es-disk-7"]
    );
}

#[test]
fn resizing_nothing_is_an_error() {
    assert!(resize(&spec("3"), &Observed::default(), false).is_err());
}

#[test]
fn delete_touches_only_this_clusters_disks_and_none_with_keep_disks() {
    let mut observed = running(3);
    observed.disks.push(disk("es-disk-9", None, Owner::Foreign));
    observed.disks.push(disk(
        "other-disk-1",
        Some(1),
        Owner::Other("default/other".into()),
    ));
    observed.objects.push(object("Secret", "es-ca", None));
    observed
        .objects
        .push(object("Secret", "es-credentials", None));
    observed
        .objects
        .push(object("Secret", "es-node-1-tls", Some(1)));

    let plan = plan_delete(&spec("1"), &observed, false);
    assert_eq!(
        names(&plan, deleted),
        ["es-disk-1", "es-disk-2", "es-disk-3"]
    );
    assert!(plan.delete.iter().any(|o| o.name == "es-ca"));

    let plan = plan_delete(&spec("1"), &observed, true);
    assert!(plan.disks_to_delete().is_empty());
    assert_eq!(names(&plan, surplus).len(), 3);
    let gone: Vec<&str> = plan.delete.iter().map(|o| o.name.as_str()).collect();
    assert!(
        !gone.contains(&"es-ca") && !gone.contains(&"es-credentials"),
        "{gone:?}"
    );
    assert!(gone.contains(&"es-node-1-tls"));
    // Workloads go before the storage they use.
    let position = |name: &str| gone.iter().position(|g| *g == name).unwrap();
    assert!(position("es-1") < position("es-data-1"));
}

#[test]
fn the_dry_run_output_names_every_step() {
    let plan = resize(&spec("3"), &running(4), true).unwrap();
    let text = plan.to_string();
    assert!(
        text.contains("= keep    es-disk-1 (node 1, exists)"),
        "{text}"
    );
    assert!(text.contains("- delete  es-disk-4"), "{text}");
    assert!(text.contains("- delete  Deployment/es-4"), "{text}");
    assert!(text.contains("~ apply   Deployment/es-3"), "{text}");
}

#[test]
fn adopted_disks_are_used_but_never_deleted() {
    let mut observed = running(3);
    observed.disks[0].owner = Owner::Adopted;
    observed
        .disks
        .push(disk("es-disk-4", Some(4), Owner::Adopted));
    let plan = plan_delete(&spec("1"), &observed, false);
    assert_eq!(names(&plan, deleted), ["es-disk-2", "es-disk-3"]);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("es-disk-1, es-disk-4 are kept")),
        "{:?}",
        plan.warnings
    );
    let plan = resize(&spec("3"), &observed, true).unwrap();
    assert!(names(&plan, deleted).is_empty(), "pruned an adopted disk");
    let plan = create(&spec("3"), &observed, None).unwrap();
    assert!(names(&plan, created).is_empty());
}

mod growth;
mod replicas;

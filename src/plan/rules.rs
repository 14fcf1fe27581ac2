//! The rules: what to do given what the user asked for and what exists. Idempotency,
//! keep-disks, adoption, resize and delete live here and nowhere else.

use std::collections::BTreeMap;

use super::{Action, DiskStep, Observed, Plan, Restart};
use crate::domain::{Disk, DiskSource, Owner};
use crate::error::{Refused, UsageError};
use crate::manifest::{Manifest, ObjectRef};
use crate::render::NodeDisk;
use crate::spec::Spec;

/// How `create` names the disk of node i when it has none: the default scheme, or the
/// `--adopt-disks` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdoptPattern(String);

impl AdoptPattern {
    pub fn parse(raw: &str) -> Result<AdoptPattern, UsageError> {
        let probe = raw.replace("{i}", "7");
        let valid = raw.matches("{i}").count() == 1
            && crate::spec::Name::parse("adopted disk name", &probe, 63).is_ok();
        if valid {
            Ok(AdoptPattern(raw.to_string()))
        } else {
            Err(UsageError::new(format!(
                "--adopt-disks pattern \"{}\" must contain {{i}} once and otherwise be a valid \
                 disk name, e.g. 'esdisk-{{i}}'",
                raw.escape_debug()
            )))
        }
    }

    pub fn name(&self, i: u8) -> String {
        self.0.replace("{i}", &i.to_string())
    }
}

/// The disk names `create`/`resize` would look for besides the labelled ones.
pub fn wanted_disk_names(spec: &Spec, adopt: Option<&AdoptPattern>) -> Vec<String> {
    spec.members()
        .map(|i| wanted_name(spec, adopt, i))
        .collect()
}

/// The name member i's disk gets when it has none: --adopt-disks patterns name the voting
/// nodes' disks (the old scripts had no replicas); replicas always get esk's own names.
fn wanted_name(spec: &Spec, adopt: Option<&AdoptPattern>, i: u8) -> String {
    match adopt {
        Some(p) if crate::spec::replica_of(i).is_none() => p.name(i),
        _ => spec.disk_name(i),
    }
}

/// Objects of read-only replicas beyond the requested count (their Deployment, claim, volume
/// and certificate): they go, their disks stay as surplus.
fn surplus_replica_objects(spec: &Spec, observed: &Observed) -> Vec<ObjectRef> {
    let mut out: Vec<ObjectRef> = observed
        .objects
        .iter()
        .filter(|(_, node)| {
            node.is_some_and(|i| crate::spec::replica_of(i).is_some() && !spec.is_member(i))
        })
        .map(|(o, _)| o.clone())
        .collect();
    out.sort();
    out
}

/// Renders the manifests for a set of node disks; the plan only needs their names.
pub type Renderer<'a> = &'a dyn Fn(&[NodeDisk]) -> Result<Vec<Manifest>, UsageError>;

pub fn plan_create(
    spec: &Spec,
    observed: &Observed,
    adopt: Option<&AdoptPattern>,
    planned_source: &dyn Fn(&str, u8) -> DiskSource,
    render: Renderer,
) -> anyhow::Result<Plan> {
    if let Some(current) = observed.current_size() {
        if current != spec.nodes.get() {
            return Err(UsageError::new(format!(
                "cluster {} in namespace {} has {current} nodes; use `esk resize {}` to change it",
                spec.name, spec.namespace, spec.nodes
            ))
            .into());
        }
    }
    let mut plan = plan_nodes(spec, observed, adopt, planned_source, false)?;
    plan.action = Action::Create;
    plan.title = title("create", spec);
    plan.delete = surplus_replica_objects(spec, observed);
    plan.apply = refs(spec, &render(&plan.node_disks())?);
    plan.create_namespace = !observed.namespace_exists;
    Ok(plan)
}

pub fn plan_resize(
    spec: &Spec,
    observed: &Observed,
    prune_disks: bool,
    planned_source: &dyn Fn(&str, u8) -> DiskSource,
    render: Renderer,
) -> anyhow::Result<Plan> {
    let Some(current) = observed.current_size() else {
        return Err(UsageError::new(format!(
            "no cluster {} in namespace {}: use `esk create {}`",
            spec.name, spec.namespace, spec.nodes
        ))
        .into());
    };
    let mut plan = plan_nodes(spec, observed, None, planned_source, prune_disks)?;
    plan.action = Action::Resize;
    plan.title = format!("{} (from {current} nodes)", title("resize", spec));
    // Recreate: every node workload goes, then comes back with the new cluster size; the
    // storage objects of nodes beyond the new size go too (their disks stay unless pruned).
    // Read-only replicas are not recreated: the apply gives them the new cluster size.
    plan.delete = observed
        .objects
        .iter()
        .filter(|(o, node)| match node {
            Some(i) if !spec.is_member(*i) => true,
            Some(i) if crate::spec::replica_of(*i).is_some() => false,
            _ => o.kind == "Deployment" && node.is_some() || o.kind == "StatefulSet",
        })
        .map(|(o, _)| o.clone())
        .collect();
    plan.delete.sort();
    plan.apply = refs(spec, &render(&plan.node_disks())?);
    plan.create_namespace = !observed.namespace_exists;
    Ok(plan)
}

pub fn plan_delete(spec: &Spec, observed: &Observed, keep_disks: bool) -> Plan {
    // Only disks esk created are ever deleted; adopted ones stay, whatever the flags.
    let disks: Vec<DiskStep> = observed
        .disks
        .iter()
        .filter(|d| d.owner.is_ours())
        .map(|d| {
            if keep_disks || d.owner == Owner::Adopted {
                DiskStep::KeepSurplus { disk: d.clone() }
            } else {
                DiskStep::Delete { disk: d.clone() }
            }
        })
        .collect();
    // The CA and the passwords stay with the disks: the data on them was written under them.
    let mut delete: Vec<ObjectRef> = observed
        .objects
        .iter()
        .map(|(o, _)| o.clone())
        .filter(|o| !(keep_disks && crate::secrets::kept_with_disks(spec, o)))
        .collect();
    delete.sort_by_key(|o| std::cmp::Reverse(crate::manifest::kind_rank(&o.kind)));
    let mut warnings = adopted_warning(&disks);
    if delete.is_empty() {
        warnings.push(format!(
            "no objects of cluster {} found in namespace {}",
            spec.name, spec.namespace
        ));
    }
    Plan {
        action: Action::Delete,
        title: format!(
            "delete cluster {} in namespace {}",
            spec.name, spec.namespace
        ),
        disks,
        delete,
        create_namespace: false,
        apply: Vec::new(),
        restart: Restart::default(),
        grow: Vec::new(),
        migrate: Vec::new(),
        claims: BTreeMap::new(),
        volumes: BTreeMap::new(),
        pod_monitor: None,
        warnings,
    }
}

/// Assigns a disk to every node 1..=N and classifies the rest.
fn plan_nodes(
    spec: &Spec,
    observed: &Observed,
    adopt: Option<&AdoptPattern>,
    planned_source: &dyn Fn(&str, u8) -> DiskSource,
    prune_surplus: bool,
) -> anyhow::Result<Plan> {
    let n = spec.nodes.get();
    let mut owned: BTreeMap<u8, &Disk> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut warnings = spec_warnings(spec);
    let mut used = std::collections::BTreeSet::new();
    // Replaced disks (`esk node replace`) serve no node: kept until pruned.
    for d in observed
        .disks
        .iter()
        .filter(|d| d.owner.is_ours() && d.replaced.is_none())
    {
        // A disk esk made under an --adopt-disks pattern gets its node label only after the
        // create; a run stopped in between left it with the cluster's labels and its name.
        let by_name = || {
            let p = adopt?;
            spec.nodes.indices().find(|i| p.name(*i) == d.name)
        };
        match d.node.or_else(by_name) {
            Some(i) if !owned.contains_key(&i) => {
                owned.insert(i, d);
            }
            _ => warnings.push(format!(
                "disk {} is labelled for this cluster but not as a node's only disk; left alone",
                d.name
            )),
        }
    }
    for i in spec.members() {
        if let Some(disk) = owned.get(&i) {
            used.insert(disk.name.clone());
            steps.push(DiskStep::Keep {
                node: i,
                disk: (*disk).clone(),
            });
            continue;
        }
        let name = wanted_name(spec, adopt, i);
        match observed.disks.iter().find(|d| d.name == name) {
            Some(d) if d.owner.is_ours() && d.replaced.is_some() => {
                return Err(Refused::new(format!(
                    "node {i} has no disk, and disk {name} was replaced (label esk-replaced): \
                     finish the replacement with `esk node replace {i}` (a re-run resumes it)"
                ))
                .into())
            }
            Some(d) if d.owner.is_ours() => {
                return Err(Refused::new(format!(
                    "disk {name} is labelled for node {:?} of this cluster, not node {i}; fix its labels first",
                    d.node
                ))
                .into())
            }
            Some(d) => match (&d.owner, adopt) {
                (Owner::Foreign, Some(_)) => {
                    used.insert(name.clone());
                    steps.push(DiskStep::Adopt { node: i, disk: d.clone() })
                }
                (Owner::Foreign, None) => {
                    return Err(Refused::new(format!(
                        "disk {name} exists but is not labelled for cluster {}; refusing to use \
                         it (pass --adopt-disks '{}-disk-{{i}}' to take over such disks, or pick \
                         another --name)",
                        spec.name, spec.name
                    ))
                    .into())
                }
                (Owner::Other(who), _) => {
                    return Err(Refused::new(format!(
                        "disk {name} belongs to esk cluster {who}; refusing to use it"
                    ))
                    .into())
                }
                (Owner::This | Owner::Adopted, _) => unreachable!("handled above"),
            },
            None => steps.push(DiskStep::Create {
                node: i,
                source: planned_source(&name, i),
                name,
            }),
        }
    }
    for d in observed.disks.iter().filter(|d| d.owner.is_ours()) {
        if used.contains(&d.name) {
            continue;
        }
        if prune_surplus && d.owner == Owner::This && d.node.is_some_and(|i| !spec.is_member(i)) {
            steps.push(DiskStep::Delete { disk: d.clone() });
        } else {
            steps.push(DiskStep::KeepSurplus { disk: d.clone() });
        }
    }
    let surplus = steps
        .iter()
        .filter(|s| matches!(s, DiskStep::KeepSurplus { disk } if disk.replaced.is_none()))
        .count();
    let replaced = steps.len() - steps.iter().filter(|s| !is_replaced(s)).count();
    if replaced > 0 {
        warnings.push(format!(
            "{replaced} replaced disk(s) of this cluster are kept (`esk disks prune` deletes \
             them)"
        ));
    }
    if surplus > 0 {
        warnings.push(format!(
            "{surplus} disk(s) of this cluster are not used by any node and are kept \
             (`esk resize {n} --prune-disks` deletes those esk created)"
        ));
    }
    if prune_surplus {
        warnings.extend(adopted_warning(&steps));
    }
    Ok(Plan {
        action: Action::Create,
        title: String::new(),
        disks: steps,
        delete: Vec::new(),
        create_namespace: false,
        apply: Vec::new(),
        restart: Restart::default(),
        grow: Vec::new(),
        migrate: Vec::new(),
        claims: BTreeMap::new(),
        volumes: BTreeMap::new(),
        pod_monitor: None,
        warnings,
    })
}

fn is_replaced(step: &DiskStep) -> bool {
    matches!(step, DiskStep::KeepSurplus { disk } if disk.replaced.is_some())
}

/// Adopted disks are kept even where deletion was asked for: say so.
fn adopted_warning(steps: &[DiskStep]) -> Vec<String> {
    let adopted: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            DiskStep::KeepSurplus { disk } if disk.owner == Owner::Adopted => {
                Some(disk.name.as_str())
            }
            _ => None,
        })
        .collect();
    if adopted.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "adopted disk(s) {} are kept: esk deletes only disks it created",
        adopted.join(", ")
    )]
}

fn title(verb: &str, spec: &Spec) -> String {
    let replicas = match spec.replicas {
        0 => String::new(),
        k => format!(" and {k} read-only replica(s)"),
    };
    format!(
        "{verb} cluster {} in namespace {} with {} node(s){replicas} on {} (profile {})",
        spec.name, spec.namespace, spec.nodes, spec.cloud, spec.profile.name
    )
}

/// What an apply will touch: the rendered objects, the TLS material and the record.
fn refs(spec: &Spec, manifests: &[Manifest]) -> Vec<ObjectRef> {
    let mut out: Vec<ObjectRef> = crate::secrets::object_refs(spec);
    out.extend(manifests.iter().map(|m| m.object.clone()));
    out.push(ObjectRef {
        kind: "ConfigMap".into(),
        name: crate::names::record_name(spec),
    });
    out
}

/// Warnings about the requested shape itself, shown with every plan and render.
pub fn spec_warnings(spec: &Spec) -> Vec<String> {
    let mut w: Vec<String> = spec.nodes.quorum_warning().into_iter().collect();
    if !spec.security.tls {
        if spec.generation() >= 20 {
            w.push(
                "warning: --insecure: no TLS and no authentication; never use this in production"
                    .into(),
            );
        } else {
            w.push("warning: EventStore 5 runs without TLS; keep it on a private network".into());
        }
    }
    if spec.security.public {
        w.push(format!(
            "warning: the frontend is public (a LoadBalancer) for {}",
            spec.security.allow_cidrs.join(", ")
        ));
    }
    w
}

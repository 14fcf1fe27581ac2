//! `-o json` for create, resize and delete: the plan (and, after a run, what was done) as one
//! JSON document on stdout. Field names are documented in README.md ("JSON output").

use serde_json::{json, Value};

use super::Outcome;
use super::{Action, DiskStep, Plan};
use crate::metrics::PodMonitorStep;
use crate::spec::Spec;

fn disk_step(step: &DiskStep, zones: &std::collections::BTreeMap<u8, String>) -> Value {
    let (action, node, name, id) = match step {
        DiskStep::Create { node, name, .. } => ("create", Some(*node), name.as_str(), ""),
        DiskStep::Keep { node, disk } => {
            ("keep", Some(*node), disk.name.as_str(), disk.id.as_str())
        }
        DiskStep::Adopt { node, disk } => {
            ("adopt", Some(*node), disk.name.as_str(), disk.id.as_str())
        }
        DiskStep::KeepSurplus { disk } => {
            ("keep-unused", None, disk.name.as_str(), disk.id.as_str())
        }
        DiskStep::Delete { disk } => ("delete", disk.node, disk.name.as_str(), disk.id.as_str()),
    };
    let mut doc = json!({
        "action": action,
        "node": node.filter(|i| crate::spec::replica_of(*i).is_none()),
        "name": name,
        "id": if id.is_empty() { Value::Null } else { id.into() },
    });
    // A read-only replica's disk says which replica (`node` is null): only then is it there.
    if let Some(j) = node.and_then(crate::spec::replica_of) {
        doc["replica"] = j.into();
    }
    // Only a cluster spread over zones has the field, so other documents stay as they were.
    if let Some(zone) = node.and_then(|i| zones.get(&i)) {
        doc["zone"] = zone.clone().into();
    }
    doc
}

/// The document: `outcome` is null for `--dry-run`.
pub fn document(spec: &Spec, plan: &Plan, outcome: Option<&Outcome>) -> Value {
    let command = match plan.action {
        Action::Create => "create",
        Action::Resize => "resize",
        Action::Delete => "delete",
    };
    let names = |refs: &[crate::manifest::ObjectRef]| -> Vec<String> {
        refs.iter().map(ToString::to_string).collect()
    };
    let zones = plan.node_zones();
    let mut doc = json!({
        "command": command,
        "cluster": {
            "name": spec.name.as_str(),
            "namespace": spec.namespace.as_str(),
            "cloud": spec.cloud.to_string(),
            "profile": spec.profile.name,
            "nodes": (plan.action != Action::Delete).then_some(spec.nodes.get()),
        },
        "dryRun": outcome.is_none(),
        "plan": {
            "disks": plan.disks.iter().map(|d| disk_step(d, &zones)).collect::<Vec<_>>(),
            "createNamespace": plan.create_namespace,
            "delete": names(&plan.delete),
            "apply": names(&plan.apply),
            "restart": {
                "nodes": plan.restart.nodes,
                "rolling": plan.restart.rolling,
                "rotationPhase": plan.restart.rotation,
            },
            "grow": plan.grow.iter().map(|g| json!({
                "claim": g.claim,
                "node": crate::spec::replica_of(g.node).is_none().then_some(g.node),
                "replica": crate::spec::replica_of(g.node),
                "from": g.from,
                "to": g.to,
            })).collect::<Vec<_>>(),
            "migrate": plan.migrate.iter().map(|m| json!({
                "claim": m.claim,
                "node": m.node,
                "volume": m.pv,
                "storageClass": m.class,
            })).collect::<Vec<_>>(),
            "podMonitor": plan.pod_monitor.as_ref().map(|m| match m {
                PodMonitorStep::Apply { name } => json!({"action": "apply", "name": name}),
                PodMonitorStep::Delete { name } => json!({"action": "delete", "name": name}),
            }),
            "warnings": plan.warnings,
        },
        "outcome": outcome.map(|o| json!({
            "disksCreated": o.disks_created,
            "disksAdopted": o.disks_adopted,
            "disksKept": o.disks_kept,
            "disksDeleted": o.disks_deleted,
            "disksGrown": o.disks_grown,
            "claimsMigrated": o.claims_migrated,
            "objectsApplied": o.objects_applied,
            "objectsDeleted": o.objects_deleted,
        })),
    });
    // Only a cluster with read-only replicas has the field, so other documents stay as they were.
    if spec.replicas > 0 && plan.action != Action::Delete {
        doc["cluster"]["readOnlyReplicas"] = spec.replicas.into();
    }
    doc
}

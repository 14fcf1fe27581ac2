//! Growing node disks in place: which claims ask for more than they hold, and whether they
//! can. A claim grows online through its StorageClass's CSI driver (the external-resizer grows
//! the cloud disk, the kubelet the filesystem, without a pod restart), so this is only about
//! the claims: they are patched, and the run waits until each one's `status.capacity` says so.
//!
//! Why volume expansion rather than the cloud CLI plus a filesystem step: it is online and
//! needs no privileged Job to run `resize2fs` on a mounted disk; the driver already knows the
//! disk and the node it is attached to; and the API server refuses what cannot be done.

use super::{DiskStep, Observed, Plan};
use crate::error::UsageError;
use crate::quantity;
use crate::spec::{Cloud, Spec};

/// One claim that grows: `from` what the volume holds now to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Growth {
    pub node: u8,
    pub claim: String,
    pub from: String,
    pub to: String,
}

/// A node claim an earlier esk made without a StorageClass (`storageClassName: ""`), re-made
/// with esk's expanding class before it can grow: a claim's class cannot change, so the node
/// stops (its workload deleted), the claim is deleted (its volume is Retain: the disk stays),
/// the volume takes the class and is released for the new claim, which binds it by name, and
/// the node starts again — one restart per node, once, one node at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    pub node: u8,
    pub claim: String,
    pub pv: String,
    pub class: String,
}

/// Fills `plan.claims` (each node's live claim, which the render keeps) and `plan.grow`.
/// Refused in one line (exit 2, before any change): a smaller size (claims never shrink), a
/// bigger one on kind (local volumes do not expand), on a claim of another class, or on a
/// dynamic claim whose class does not allow expansion. A claim an earlier esk made without a
/// class is migrated first (`plan.migrate`); so is a node whose claim is missing while its
/// volume exists (a migration interrupted between deleting and re-making the claim).
pub fn plan_growth(spec: &Spec, observed: &Observed, plan: &mut Plan) -> Result<(), UsageError> {
    let size_gb = spec.profile.u64("disk.sizeGb")?;
    let wanted = format!("{size_gb}Gi");
    let wanted_bytes = size_gb as f64 * f64::from(1u32 << 30);
    let keep_size = |live: &str| {
        format!("pass --set disk.sizeGb with the size the cluster has ({live}) to keep it")
    };
    // Nodes whose claim is missing beside a volume of esk's class: see below the loop.
    let mut unclaimed: Vec<Migration> = Vec::new();
    for step in &plan.disks {
        let (node, disk) = match step {
            DiskStep::Keep { node, disk } | DiskStep::Adopt { node, disk } => (*node, disk),
            _ => continue,
        };
        let claim = if spec.cloud == Cloud::Dynamic {
            disk.name.clone()
        } else {
            crate::names::pvc_name(spec, node)
        };
        let class = crate::names::storage_class(spec);
        let pv = crate::names::pv_name(spec, node);
        let csi = matches!(spec.cloud, Cloud::Gke | Cloud::Aws);
        let volume = observed.volume_capacities.get(&pv).filter(|_| csi);
        if let Some(capacity) = volume {
            plan.volumes.insert(node, capacity.clone());
        }
        let Some(live) = observed.claims.get(&claim) else {
            // Only a volume still without a class is a migration interrupted between deleting
            // the claim and patching the volume; one of esk's class (a create stopped between
            // applying a volume and its claim) just gets its claim from the apply.
            let volume_left = observed.classless_volumes.contains(&pv);
            // (A StatefulSet's claims come from its templates: nothing esk re-makes by hand.)
            let deployment = spec.workload == crate::spec::Workload::Deployment;
            let kept = csi && deployment && matches!(step, DiskStep::Keep { .. });
            let migration = Migration {
                node,
                claim: claim.clone(),
                pv,
                class,
            };
            if kept && volume_left {
                plan.migrate.push(migration);
            } else if kept && volume.is_some() {
                unclaimed.push(migration);
            }
            // The claim made again binds its volume as it is (pre-bound both ways, the binder
            // checks no size) and asks for the new size: the resizer grows a volume holding
            // less, and the run waits for it like any growth.
            let held = volume.and_then(|c| quantity::parse_str(c));
            if let (Some(capacity), Some(held)) = (volume, held) {
                if held < wanted_bytes {
                    plan.grow.push(Growth {
                        node,
                        claim,
                        from: capacity.clone(),
                        to: wanted.clone(),
                    });
                }
            }
            continue;
        };
        let mut live = live.clone();
        let legacy = csi && live.class.as_deref() == Some("");
        plan.claims.insert(node, live.clone());
        let bytes = |q: &str| quantity::parse_str(q);
        let Some(request) = bytes(&live.request) else {
            continue;
        };
        let capacity = live.capacity.as_deref().and_then(bytes);
        if wanted_bytes < request {
            return Err(UsageError::new(format!(
                "claim {claim} holds {} and this run asks for {wanted}: a disk never shrinks; {}",
                live.request,
                keep_size(&live.request)
            )));
        }
        let asks_more = wanted_bytes > request;
        if asks_more && spec.workload == crate::spec::Workload::StatefulSet {
            // Its volumeClaimTemplates hold the size and cannot change (the API server
            // refuses any update to a StatefulSet's spec but replicas, template and a few).
            return Err(UsageError::new(format!(
                "claim {claim} holds {} and this run asks for {wanted}: growing the disks of a \
                 StatefulSet cluster is not built (its volumeClaimTemplates cannot change); {}",
                live.request,
                keep_size(&live.request)
            )));
        }
        // A growth interrupted after its patch: the request says so, the volume not yet.
        let still_growing = capacity.is_some_and(|c| c < wanted_bytes);
        if !asks_more && !still_growing {
            continue;
        }
        if asks_more && legacy {
            // Rendered (and linted) as it will be once re-made: of esk's class.
            live.class = Some(class.clone());
            plan.claims.insert(node, live.clone());
            plan.migrate.push(Migration {
                node,
                claim: claim.clone(),
                pv,
                class,
            });
        } else if asks_more {
            refuse_unexpandable(spec, observed, &claim, &live.request, &wanted, &live)?;
        }
        plan.grow.push(Growth {
            node,
            claim,
            from: live
                .capacity
                .clone()
                .unwrap_or_else(|| live.request.clone()),
            to: wanted.clone(),
        });
    }
    // A migration interrupted after the volume took esk's class (and before its claim and
    // workload were made again) left the node down: while other nodes still migrate, it is
    // re-made with them, first, by the roll (which waits for every node to be back before it
    // stops the next one; the apply that would bring it back comes after the migration). With
    // no other node migrating, the apply makes its claim and workload again.
    if !plan.migrate.is_empty() {
        plan.migrate.extend(unclaimed);
        plan.migrate.sort_by_key(|m| m.node);
    }
    Ok(())
}

fn refuse_unexpandable(
    spec: &Spec,
    observed: &Observed,
    claim: &str,
    live: &str,
    wanted: &str,
    claim_now: &crate::domain::LiveClaim,
) -> Result<(), UsageError> {
    let class = claim_now.class.as_deref().unwrap_or("");
    let why = match spec.cloud {
        Cloud::Kind => Some(
            "kind's local volumes (a directory on a node) cannot grow in place: their size is \
             the node's filesystem"
                .to_string(),
        ),
        Cloud::Gke | Cloud::Aws if class != crate::names::storage_class(spec) => Some(format!(
            "its StorageClass {class} is not esk's ({}), which expands volumes",
            crate::names::storage_class(spec)
        )),
        Cloud::Dynamic if !observed.expandable_classes.contains(class) => Some(format!(
            "its StorageClass {} does not allow volume expansion (allowVolumeExpansion: true)",
            if class.is_empty() { "(none)" } else { class }
        )),
        _ => None,
    };
    match why {
        Some(why) => Err(UsageError::new(format!(
            "claim {claim} holds {live} and this run asks for {wanted}, but {why}; pass --set \
             disk.sizeGb with the size the cluster has ({live}) to keep it"
        ))),
        None => Ok(()),
    }
}

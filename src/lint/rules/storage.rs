//! Where the database lives: a disk of its own per server (ES001, ES014), not one lost with
//! the pod (ES002), big enough (ES003), a claim that binds (ES025), not an in-tree cloud disk
//! (ES022), and a volume kept when its claim goes (ES012, ES013).

use serde_yaml::Value;

use super::Push;
use crate::lint::inventory::Inventory;
use crate::lint::model::{at, seq, text, Item};
use crate::lint::node::{csi_of, shared_fs, Data, Node, Workload, IN_TREE};
use crate::quantity::{self, GI};

/// A claim spec's access modes and size: ES001 and ES003. True when it is ReadWriteMany or
/// ReadOnlyMany.
fn claim_spec(spec: Option<&Value>, what: &str, push: &mut Push) -> bool {
    claim_spec_on(spec, what, None, push)
}

/// [`claim_spec`], the size being the bound volume's capacity when the input has the volume
/// (a claim may ask for less than its volume has; the database gets the whole volume).
fn claim_spec_on(spec: Option<&Value>, what: &str, volume: Option<&Item>, push: &mut Push) -> bool {
    let modes: Vec<String> = seq(spec.and_then(|s| s.get("accessModes")))
        .iter()
        .filter_map(|m| text(Some(m)))
        .collect();
    let shared = modes
        .iter()
        .any(|m| m == "ReadWriteMany" || m == "ReadOnlyMany");
    if shared {
        push(
            "ES001",
            format!(
                "the database is on {what} with access modes {}: several pods can mount it at once",
                modes.join(", ")
            ),
        );
    }
    let capacity = volume.and_then(|v| v.at(&["spec", "capacity", "storage"]));
    let (size, what) = match (capacity, volume) {
        (Some(c), Some(v)) => (Some(c), format!("{what} (volume {})", v.object.name)),
        _ => (
            spec.and_then(|s| at(s, &["resources", "requests", "storage"])),
            what.to_string(),
        ),
    };
    if let Some(bytes) = size.and_then(quantity::parse) {
        if bytes < 10.0 * GI {
            let shown = text(size).unwrap_or_default();
            push(
                "ES003",
                format!("the database is on {what} of only {shown}"),
            );
        }
    }
    shared
}

/// ES025: a claim asking for more than its volume has stays Pending.
pub fn claim_fits(claim: &Item, volume: &Item) -> Option<String> {
    let asked = claim.at(&["spec", "resources", "requests", "storage"]);
    let has = volume.at(&["spec", "capacity", "storage"]);
    let (a, h) = (quantity::parse(asked?)?, quantity::parse(has?)?);
    (a > h).then(|| {
        format!(
            "requests {} but volume {} has {}: the claim never binds and the node never starts",
            text(asked).unwrap_or_default(),
            volume.object.name,
            text(has).unwrap_or_default()
        )
    })
}

/// ES001, ES002, ES003 and ES014: where the database lives.
pub fn storage(inv: &Inventory, node: &Node, push: &mut Push) {
    let data = node.data();
    let mut shared = false;
    let mut file_system = match &data {
        Data::Shared(kind) => Some(*kind),
        _ => None,
    };
    match &data {
        Data::Ephemeral(what) => push(
            "ES002",
            format!("the database is on {what}: it is lost (or stranded on one machine) when the pod moves"),
        ),
        Data::Claim(name) => {
            if let Some(claim) = inv.claim(node, name) {
                let volume = inv.bound_volume(claim);
                let fits = volume.and_then(|v| claim_fits(claim, v));
                // A claim that does not fit gets no volume: its size says nothing.
                let sized = volume.filter(|_| fits.is_none());
                shared = claim_spec_on(claim.at(&["spec"]), &format!("claim {name}"), sized, push);
                file_system = volume.and_then(|v| v.at(&["spec"])).and_then(shared_fs);
            }
        }
        Data::ClaimTemplate(t) => {
            let name = text(at(t, &["metadata", "name"])).unwrap_or_default();
            claim_spec(t.get("spec"), &format!("volumeClaimTemplate {name}"), push);
        }
        Data::InTree(_) | Data::Shared(_) | Data::Other => {}
    }
    let one_disk = match (&data, file_system) {
        (Data::Claim(name), Some(fs)) => Some(format!("claim {name} (a shared {fs} file system)")),
        (_, Some(fs)) => Some(format!("one shared {fs} file system")),
        (Data::Claim(name), None) if !shared => Some(format!("claim {name}")),
        (Data::InTree(kind), None) => Some(format!("one {kind}")),
        _ => None,
    };
    let Some(disk) = one_disk else {
        return;
    };
    let message = match node.workload {
        Workload::Deployment | Workload::StatefulSet | Workload::Controller
            if node.replicas > 1 =>
        {
            Some(format!(
            "{} replicas run on {disk}: two servers on one database",
            node.replicas
            ))
        }
        Workload::Deployment if rolls(node.item.value) => Some(format!(
            "strategy RollingUpdate (the default when unset) starts the new pod before the old one stops, both on {disk}"
        )),
        _ => None,
    };
    if let Some(m) = message {
        push("ES014", m);
    }
}

/// Whether a Deployment's update runs an old and a new pod at once (the default
/// RollingUpdate, unless maxSurge is 0).
fn rolls(deployment: &Value) -> bool {
    let strategy = at(deployment, &["spec", "strategy"]);
    let kind = text(strategy.and_then(|s| s.get("type")));
    if kind.as_deref().is_some_and(|k| k != "RollingUpdate") {
        return false;
    }
    let surge = text(strategy.and_then(|s| at(s, &["rollingUpdate", "maxSurge"])));
    !matches!(surge.as_deref(), Some("0" | "0%"))
}

/// ES022's message and fix for an in-tree volume: current Kubernetes still accepts it but
/// hands it to the CSI driver (CSI migration), which must be installed.
fn in_tree(what: &str, kind: &str) -> (String, String) {
    let (driver, handle) = csi_of(kind);
    (
        format!(
            "{what} is an in-tree {kind}: current Kubernetes serves it only by migrating it to the CSI driver {driver}"
        ),
        format!(
            "use a PersistentVolume with csi: {{driver: {driver}, volumeHandle: {handle}}} and a claim bound to it"
        ),
    )
}

/// ES022 on a node's pod volumes.
pub fn in_tree_volumes(node: &Node) -> Vec<(String, String)> {
    seq(node.pod.get("volumes"))
        .iter()
        .filter_map(|v| {
            let kind = IN_TREE.iter().find(|k| v.get(**k).is_some())?;
            let name = text(v.get("name")).unwrap_or_default();
            Some(in_tree(&format!("volume {name}"), kind))
        })
        .collect()
}

/// ES022 on a PersistentVolume.
pub fn in_tree_pv(pv: &Item) -> Option<(String, String)> {
    let kind = IN_TREE.iter().find(|k| pv.at(&["spec", k]).is_some())?;
    Some(in_tree("the volume", kind))
}

/// ES012 on a PersistentVolume. An unset reclaim policy is Retain for a volume created by
/// hand, so only an explicit Delete or Recycle is reported.
pub fn persistent_volume(pv: &Item, push: &mut Push) {
    let policy = text(pv.at(&["spec", "persistentVolumeReclaimPolicy"]));
    if let Some(p) = policy.filter(|p| p == "Delete" || p == "Recycle") {
        push(
            "ES012",
            format!("persistentVolumeReclaimPolicy {p}: deleting the claim destroys the data"),
        );
    }
}

/// ES013: a StorageClass's reclaimPolicy defaults to Delete.
pub fn storage_class(sc: &Item, push: &mut Push) {
    let policy = text(sc.at(&["reclaimPolicy"]));
    if policy.as_deref().is_none_or(|p| p == "Delete") {
        let shown = policy.unwrap_or_else(|| "unset (Delete)".into());
        push(
            "ES013",
            format!("reclaimPolicy {shown}: a volume it provisions dies with its claim"),
        );
    }
}

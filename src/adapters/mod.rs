//! Adapters: the only code that runs programs. A disk adapter owns one kind of persistent
//! disk (GCE PD, EBS, a local directory, a dynamically provisioned PVC); kubectl owns the
//! cluster objects.

pub mod aws;
pub mod dynamic;
pub mod gcloud;
pub mod kube_proxy;
pub mod kubectl;
pub mod local;
pub mod probe;
pub mod process;
pub mod retry;

use anyhow::Result;

use crate::spec::{Cloud, Spec};

use crate::domain::{Backup, Disk, DiskSource, Owner, Placement};

/// The labels (GCE) or tags (AWS) that tie a disk to its cluster and node.
pub const CLUSTER_KEY: &str = "esk-cluster";
pub const NAMESPACE_KEY: &str = "esk-namespace";
pub const NODE_KEY: &str = "esk-node";
pub const MANAGED_KEY: &str = "managed-by";
/// The Kubernetes cluster (kube-system's uid): two clusters in one project never share disks.
pub const KUBE_KEY: &str = "esk-kube";
/// Set on disks taken over with --adopt-disks, which esk never deletes.
pub const ADOPTED_KEY: &str = "esk-adopted";
/// Set, with the node's number, on a disk `esk node replace` took its node off (its node
/// label removed): kept until `esk disks prune` or `esk delete --yes`.
pub const REPLACED_KEY: &str = "esk-replaced";

pub trait DiskAdapter: Sync {
    /// Disks labelled for this cluster, plus any disk named in `names` (to detect collisions).
    fn list(&self, names: &[String]) -> Result<Vec<Disk>>;
    /// How a disk that does not exist yet will appear in its PV (the handle may be unknown).
    fn planned_source(&self, name: &str, node: u8) -> DiskSource;
    /// Creates the disks, labelled for the cluster; returns them as observed.
    fn create(&self, disks: &[(u8, String)]) -> Result<Vec<Disk>>;
    /// Labels existing foreign disks for the cluster, never touching their data.
    fn adopt(&self, disks: &[(u8, Disk)]) -> Result<()>;
    /// Gives this cluster's disks that lack it their node label (a create stopped between
    /// making a pattern-named disk and labelling it). Adapters that label at creation have
    /// nothing to do.
    fn label_nodes(&self, _disks: &[(u8, Disk)]) -> Result<()> {
        Ok(())
    }
    /// Takes `disk` off node `node` for good (`esk node replace`): its node label (tag) goes
    /// and `esk-replaced=<node>` comes, so later runs find the node by its new disk. Safe to
    /// repeat.
    fn mark_replaced(&self, _disk: &Disk, _node: u8) -> Result<()> {
        Err(crate::error::Refused::new("this kind of disk cannot be replaced by esk").into())
    }
    /// Deletes disks, waiting up to `detach` for any the cloud still reports attached.
    /// Callers pass only disks whose owner is `Owner::This`.
    fn delete(&self, disks: &[Disk], detach: std::time::Duration) -> Result<()>;

    /// Snapshots node `node`'s disk as backup `name`, labelled for the cluster (backup.rs).
    fn snapshot(&self, _disk: &Disk, _node: u8, _name: &str) -> Result<Backup> {
        Err(self.no_backups().into())
    }
    /// The snapshots esk made for this cluster, and no others.
    fn list_backups(&self) -> Result<Vec<Backup>> {
        Err(self.no_backups().into())
    }
    /// Deletes backups; callers pass only what `list_backups` returned.
    fn delete_backups(&self, _backups: &[Backup]) -> Result<()> {
        Err(self.no_backups().into())
    }
    /// Makes every disk `create` makes from now on from this backup's snapshot.
    fn restore_from(&self, _backup: &Backup) -> Result<()> {
        Err(self.no_backups().into())
    }
    /// Where each node's disk is or goes (`--zones`): new disks are made, and existing ones
    /// listed, in these zones. Adapters of clouds without zones ignore it.
    fn place(&self, _placement: &Placement) {}
    /// Why this kind of disk has no backups.
    fn no_backups(&self) -> crate::error::Refused {
        crate::error::Refused::new("this kind of disk has no snapshots")
    }
}

/// The snapshot every disk made from now on starts from (`create --from-backup`); set once.
#[derive(Debug, Default)]
pub struct RestoreSource(std::sync::OnceLock<String>);

impl RestoreSource {
    pub fn set(&self, backup: &Backup) -> Result<()> {
        self.0
            .set(backup.id.clone())
            .map_err(|_| anyhow::anyhow!("internal error: two backups to restore from"))
    }

    /// The snapshot's id (GCE name, EBS `snap-…`, VolumeSnapshot name), once set.
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The placement a zonal adapter holds (set again when a run plans again under its lock).
#[derive(Debug, Default)]
pub struct HeldPlacement(std::sync::RwLock<Placement>);

impl HeldPlacement {
    pub fn set(&self, placement: &Placement) {
        if let Ok(mut p) = self.0.write() {
            *p = placement.clone();
        }
    }

    /// Node `i`'s zone, if placed.
    pub fn zone_of(&self, i: u8) -> Option<String> {
        self.0.read().ok().and_then(|p| p.nodes.get(&i).cloned())
    }

    /// Every zone the cluster's disks may be in.
    pub fn zones(&self) -> Vec<String> {
        self.0.read().map(|p| p.zones.clone()).unwrap_or_default()
    }
}

/// The labels (tags) of a snapshot of node `i`'s disk: the disk's, plus the backup's name
/// and when it was made.
pub fn snapshot_labels(spec: &Spec, i: u8, name: &str) -> Vec<(&'static str, String)> {
    let mut labels = disk_labels(spec, i, false);
    labels.push((crate::domain::BACKUP_KEY, name.to_string()));
    let now = crate::clock::now_micros() / 1_000_000;
    labels.push((crate::domain::CREATED_KEY, now.to_string()));
    labels
}

/// A backup from a snapshot's labels (tags), if they say it is one of this cluster's.
pub fn backup_of(
    spec: &Spec,
    id: String,
    status: String,
    get: impl Fn(&str) -> Option<String>,
) -> Option<Backup> {
    let (owner, node) = owner_of(spec, &get);
    let name = get(crate::domain::BACKUP_KEY)?;
    (owner == Owner::This).then(|| Backup {
        name,
        id,
        node,
        created: get(crate::domain::CREATED_KEY)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        status,
    })
}

/// The node a disk served before it was replaced (`esk-replaced`), if it was.
pub fn replaced_of(get: impl Fn(&str) -> Option<String>) -> Option<u8> {
    get(REPLACED_KEY).and_then(|n| crate::spec::parse_member(&n))
}

/// Reads ownership from a disk's labels or tags.
pub fn owner_of(spec: &Spec, get: impl Fn(&str) -> Option<String>) -> (Owner, Option<u8>) {
    let node = get(NODE_KEY).and_then(|n| crate::spec::parse_member(&n));
    match (get(MANAGED_KEY), get(CLUSTER_KEY), get(NAMESPACE_KEY)) {
        (Some(m), Some(c), Some(ns)) if m == "esk" => {
            let same_kube = get(KUBE_KEY).as_deref() == Some(spec.kube_id.as_str());
            if c == spec.name.as_str() && ns == spec.namespace.as_str() && same_kube {
                if get(ADOPTED_KEY).as_deref() == Some("true") {
                    (Owner::Adopted, node)
                } else {
                    (Owner::This, node)
                }
            } else if same_kube {
                (Owner::Other(format!("{ns}/{c}")), node)
            } else {
                (
                    Owner::Other(format!("{ns}/{c} of another Kubernetes cluster")),
                    node,
                )
            }
        }
        _ => (Owner::Foreign, None),
    }
}

/// The label set written on a disk for node `i` (`adopted` for --adopt-disks).
pub fn disk_labels(spec: &Spec, i: u8, adopted: bool) -> Vec<(&'static str, String)> {
    let mut labels = vec![
        (MANAGED_KEY, "esk".to_string()),
        (CLUSTER_KEY, spec.name.to_string()),
        (NAMESPACE_KEY, spec.namespace.to_string()),
        (KUBE_KEY, spec.kube_id.clone()),
        (NODE_KEY, crate::spec::member_label(i)),
    ];
    if adopted {
        labels.push((ADOPTED_KEY, "true".to_string()));
    }
    labels
}

/// Refuses, as a last line of defence, to delete any disk esk does not own.
pub fn assert_owned(disks: &[Disk]) -> Result<()> {
    if let Some(d) = disks.iter().find(|d| d.owner != Owner::This) {
        anyhow::bail!(
            "internal error: refusing to delete disk {} that this cluster does not own",
            d.name
        );
    }
    Ok(())
}

/// A connected disk adapter, the zone its disks are in (for the record), and anything the
/// user should know before the plan runs.
pub struct Connected {
    pub disks: Box<dyn DiskAdapter>,
    pub zone: String,
    pub notes: Vec<String>,
}

/// The disk adapter for `spec.cloud`, with its CLI found and its location resolved.
pub fn connect(
    spec: &Spec,
    context: Option<&str>,
    kubectl: &kubectl::Kubectl,
) -> Result<Connected> {
    let mut notes = Vec::new();
    let (disks, zone): (Box<dyn DiskAdapter>, String) = match spec.cloud {
        Cloud::Gke => {
            let g = gcloud::Gcloud::new(spec, context)?;
            let zone = g.zone().to_string();
            (Box::new(g), zone)
        }
        Cloud::Aws => {
            let a = aws::Aws::new(spec, context)?;
            let zone = a.zone().to_string();
            (Box::new(a), zone)
        }
        Cloud::Kind => {
            if let Some(name) = context.and_then(|c| c.strip_prefix("kind-")) {
                if which::which("kind").is_ok() {
                    notes.push(format!("target: kind cluster {name} (context kind-{name})"));
                }
            }
            (Box::new(local::Local::new(spec, kubectl)?), String::new())
        }
        Cloud::Dynamic => {
            let d = dynamic::Dynamic::new(spec, kubectl);
            notes.extend(d.class_notes()?);
            (Box::new(d), String::new())
        }
    };
    Ok(Connected { disks, zone, notes })
}

/// The adapter `render` uses: it only says how disks would appear, and runs nothing.
pub fn offline(spec: &Spec) -> Result<Box<dyn DiskAdapter>> {
    Ok(match spec.cloud {
        Cloud::Gke => Box::new(gcloud::Gcloud::offline(spec, None)?),
        Cloud::Aws => Box::new(aws::Aws::offline(spec, None)?),
        Cloud::Kind => Box::new(local::Local::offline(spec)),
        Cloud::Dynamic => Box::new(dynamic::Dynamic::offline(spec)),
    })
}

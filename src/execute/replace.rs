//! `esk node replace I` carried out (the plan is `plan::replace`). Every step is safe to
//! repeat and the record names the new disk before it is made, so a run stopped anywhere is
//! finished by the same command, on the same disk:
//!
//! 1. the record says which disk replaces node I (and from what);
//! 2. a fresh snapshot is taken when the plan asks for one (skipped when it exists);
//! 3. the old disk loses its node label and gets `esk-replaced=I` (it is never deleted here);
//! 4. the new disk is made in its zone (from the snapshot, or empty), labelled for node I;
//! 5. node I stops (its Deployment scaled to 0, so its pod template and stamps stay what
//!    `create` renders); its claim and volume are made again on the new disk (a volume's
//!    source cannot change, and its Retain policy keeps the old disk); a disk from a snapshot
//!    gets the vendor's restore step; node I starts again;
//! 6. gossip is read until node I follows the leader (its lag shown while it catches up);
//! 7. the record forgets the replacement.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::adapters::kubectl::Kubectl;
use crate::adapters::DiskAdapter;
use crate::domain::{Backup, Disk, Placement};
use crate::health::{self, clock, observe};
use crate::lock::ClusterLock;
use crate::manifest::{Manifest, ObjectRef};
use crate::plan::replace::{Contents, ReplacePlan};
use crate::record::Record;
use crate::report::Reporter;
use crate::spec::Spec;

/// How often node I's volume users and gossip are read.
const POLL: Duration = Duration::from_millis(300);

pub struct Replacer<'a> {
    pub spec: &'a Spec,
    pub kubectl: &'a Kubectl,
    pub disks: &'a dyn DiskAdapter,
    pub report: &'a Reporter,
    pub timeout: Duration,
    pub lock: Option<&'a ClusterLock>,
    /// The record as it is (written again at each step that changes it).
    pub record: Record,
    /// Where every node is now (node I's zone is set to the plan's before its disk is made).
    pub placement: Placement,
}

/// Renders node I's PersistentVolume and claim for a disk (the command owns the templates).
pub type Storage<'a> = &'a dyn Fn(&Disk) -> Result<Vec<Manifest>>;
/// The vendor's restore step on node I's new claim (the command's `--from-backup` step).
pub type Restore<'a> = &'a dyn Fn(&Backup, &[Manifest]) -> Result<()>;

impl Replacer<'_> {
    fn check(&self) -> Result<()> {
        self.lock.map_or(Ok(()), ClusterLock::check)
    }

    fn save_record(&self) -> Result<()> {
        self.kubectl.apply(&[self.record.manifest(self.spec)])
    }

    /// Runs the plan; returns the new disk.
    pub fn run(
        mut self,
        plan: &ReplacePlan,
        disks: &[Disk],
        storage: Storage,
        restore: Restore,
    ) -> Result<Disk> {
        let i = plan.node;
        self.check()?;
        if self.record.replacing.as_ref() != Some(&plan.replacing()) {
            self.record.replacing = Some(plan.replacing());
            self.save_record()?;
        }
        // The backup the disk is made from, made first when it is a fresh snapshot.
        let backup = match &plan.contents {
            Contents::Empty => None,
            Contents::Backup(name) | Contents::Snapshot { name, .. } => {
                let backups = self.disks.list_backups()?;
                match backups.into_iter().find(|b| b.name == *name) {
                    Some(b) => Some(b),
                    None if plan.new_exists => None,
                    None => match &plan.contents {
                        Contents::Snapshot { of, name } => {
                            let source = disks
                                .iter()
                                .find(|d| d.owner.is_ours() && d.node == Some(*of))
                                .with_context(|| format!("node {of} has no disk to snapshot"))?;
                            self.check()?;
                            Some(self.report.step(
                                &format!("snapshotting node {of}'s disk {}", source.name),
                                || self.disks.snapshot(source, *of, name),
                            )?)
                        }
                        _ => anyhow::bail!(
                            "no backup {name} of cluster {} (`esk backup list`)",
                            self.spec.name
                        ),
                    },
                }
            }
        };
        if let Some(old) = &plan.old {
            self.check()?;
            self.report.step(
                &format!("labelling the old disk {} esk-replaced={i}", old.name),
                || self.disks.mark_replaced(old, i),
            )?;
        }
        if !plan.zone.is_empty() {
            self.placement.nodes.insert(i, plan.zone.clone());
            if !self.placement.zones.contains(&plan.zone) {
                self.placement.zones.push(plan.zone.clone());
            }
            self.disks.place(&self.placement);
        }
        let new = match disks.iter().find(|d| d.name == plan.new_disk) {
            // Made by a run stopped before it labelled the disk for its node.
            Some(d) if d.node != Some(i) => {
                self.check()?;
                self.disks.label_nodes(&[(i, d.clone())])?;
                Disk {
                    node: Some(i),
                    ..d.clone()
                }
            }
            Some(d) => d.clone(),
            None => {
                if let Some(b) = &backup {
                    self.disks.restore_from(b)?;
                }
                self.check()?;
                let made = self.report.step(
                    &format!("creating disk {} for node {i}", plan.new_disk),
                    || self.disks.create(&[(i, plan.new_disk.clone())]),
                )?;
                made.into_iter()
                    .find(|d| d.name == plan.new_disk)
                    .with_context(|| format!("disk {} was not made", plan.new_disk))?
            }
        };
        // The record lists each node's disk: node I's is the new one now.
        let gone = |name: &String| {
            plan.old.as_ref().is_some_and(|d| d.name == *name)
                || disks
                    .iter()
                    .any(|d| d.name == *name && d.replaced == Some(i))
        };
        for name in &mut self.record.disks {
            if gone(name) {
                name.clone_from(&new.name);
            }
        }
        if !self.record.disks.contains(&new.name) {
            self.record.disks.push(new.name.clone());
        }
        if !self.record.node_zones.is_empty() || !self.record.zones.is_empty() {
            self.record
                .node_zones
                .insert(i, new.source.topology_value.clone());
        }
        self.save_record()?;
        let objects = storage(&new)?;
        self.rebind(i, &objects, backup.as_ref(), restore)?;
        self.wait_following(i)?;
        self.record.replacing = None;
        self.save_record()?;
        Ok(new)
    }

    /// Node I stopped, its volume and claim made again on the new disk, node I started.
    fn rebind(
        &self,
        i: u8,
        objects: &[Manifest],
        backup: Option<&Backup>,
        restore: Restore,
    ) -> Result<()> {
        let workload = self.spec.node_name(i);
        let claim = crate::names::pvc_name(self.spec, i);
        let pv = crate::names::pv_name(self.spec, i);
        let wanted = objects
            .iter()
            .find(|m| m.object.kind == "PersistentVolume")
            .map(|m| serde_json::to_value(&m.value).unwrap_or_default());
        let handle = |v: &serde_json::Value| v["spec"]["csi"]["volumeHandle"].clone();
        let live = self.kubectl.get_json(&[
            "persistentvolumes".into(),
            pv.clone(),
            "--ignore-not-found".into(),
        ])?;
        let bound = !live.is_null() && wanted.as_ref().map(handle) == Some(handle(&live));
        self.check()?;
        self.kubectl
            .patch_merge("Deployment", &workload, r#"{"spec":{"replicas":0}}"#)?;
        if !bound {
            self.release_unreachable_pod(i, &claim)?;
            self.wait_unmounted(&claim)?;
            self.report.step(
                &format!("moving node {i}'s volume and claim to its new disk"),
                || {
                    self.kubectl.delete(&[ObjectRef {
                        kind: "PersistentVolumeClaim".into(),
                        name: claim.clone(),
                    }])?;
                    self.kubectl.delete(&[ObjectRef {
                        kind: "PersistentVolume".into(),
                        name: pv.clone(),
                    }])?;
                    self.kubectl.apply(objects)
                },
            )?;
        } else {
            // Interrupted after the move: the objects are right, apply changes nothing.
            self.kubectl.apply(objects)?;
        }
        if let Some(b) = backup {
            self.check()?;
            self.report
                .step(&format!("restore step on node {i}'s new disk"), || {
                    restore(b, objects)
                })?;
        }
        self.check()?;
        self.kubectl
            .patch_merge("Deployment", &workload, r#"{"spec":{"replicas":1}}"#)
    }

    /// Node I's pod on a Kubernetes node that is not Ready (its zone down) stays Terminating
    /// until its kubelet confirms, which never happens while the node is unreachable: delete
    /// it at once. Safe: the old disk is never used again (node I gets a new one). Only the
    /// pod mounting node I's claim; never another.
    fn release_unreachable_pod(&self, i: u8, claim: &str) -> Result<()> {
        let pods = self.kubectl.get_json(&["pods".into()])?;
        let on_claim: Vec<(&str, &str)> = pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["spec"]["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
            })
            .filter_map(|p| {
                Some((
                    p["metadata"]["name"].as_str()?,
                    p["spec"]["nodeName"].as_str()?,
                ))
            })
            .collect();
        if on_claim.is_empty() {
            return Ok(());
        }
        let nodes = self.kubectl.get_json(&["nodes".into()])?;
        for (pod, host) in on_claim {
            let node = nodes["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["metadata"]["name"] == host);
            if !node.is_some_and(not_ready) {
                continue;
            }
            self.check()?;
            self.report.info(&format!(
                "node {i}'s pod was on {host}, which is NotReady: deleted it without waiting for \
                 its kubelet"
            ));
            self.kubectl.force_delete_pod(pod)?;
        }
        Ok(())
    }

    /// Waits until no pod mounts the claim (a new volume must never be made under a pod).
    fn wait_unmounted(&self, claim: &str) -> Result<()> {
        let started = Instant::now();
        loop {
            let users = self
                .kubectl
                .volume_users(&[], std::slice::from_ref(&claim.to_string()))?;
            if users.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= self.timeout {
                anyhow::bail!(
                    "claim {claim} still in use after {}s: {}; re-running resumes",
                    self.timeout.as_secs(),
                    users.join(", ")
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Reads gossip until node I is a Follower that is alive and healthy, showing its lag
    /// behind the leader each time it changes (stderr: stdout keeps the plan and summary).
    fn wait_following(&self, i: u8) -> Result<()> {
        let proxy = self.kubectl.proxy()?;
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let obs = observe::observe(self.kubectl, &proxy, self.spec)?;
            let h = health::assess(self.spec, &obs, clock::now());
            let node = h
                .nodes
                .iter()
                .find(|n| n.index == i && !n.read_only_replica);
            let member = node.and_then(|n| n.member.as_ref());
            let line = match member {
                Some(m) if m.state == "Follower" || m.state == "Slave" => {
                    if node.is_some_and(|n| n.ok) && m.alive {
                        self.report.info(&format!("node {i} follows the leader"));
                        return Ok(());
                    }
                    format!("node {i}: {}", m.state)
                }
                Some(m) => match m.lag {
                    Some(lag) => format!("node {i}: {}, {lag} bytes behind the leader", m.state),
                    None => format!("node {i}: {}", m.state),
                },
                None => format!("node {i}: starting (not in gossip yet)"),
            };
            if line != last {
                self.report.info(&line);
                last = line;
            }
            if started.elapsed() >= self.timeout {
                anyhow::bail!(
                    "node {i} did not follow the leader within {}s ({last}); re-running resumes",
                    self.timeout.as_secs()
                );
            }
            self.check()?;
            std::thread::sleep(POLL);
        }
    }
}

/// Whether a Kubernetes node's Ready condition is False or Unknown (kubectl shows both as
/// NotReady); a node reporting no conditions counts as Ready.
fn not_ready(node: &serde_json::Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] != "True")
}

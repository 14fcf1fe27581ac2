//! Carries out a `Plan` through the adapters, in an order that is safe to interrupt: disks
//! first (a re-run finds them), then objects, the record last; disks are deleted only after
//! the objects that used them.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::adapters::kubectl::Kubectl;
use crate::adapters::DiskAdapter;
use crate::domain::{Disk, LiveTemplate};
use crate::lock::ClusterLock;
use crate::manifest::{Manifest, ObjectRef};
use crate::plan::{DiskStep, Outcome, Plan};
use crate::record::Record;
use crate::render::{NodeDisk, Templates};
use crate::report::Reporter;
use crate::rotation::Phase;
use crate::secrets::{self, SecretData};
use crate::spec::Spec;

mod detach;
mod grow;
mod migrate;
mod progress;
pub mod replace;
mod restarts;

pub use progress::progress;
use progress::set_progress;

/// A step run with the manifests just before they are applied.
pub type BeforeApply<'a> = dyn Fn(&[Manifest]) -> Result<()> + Sync + 'a;

pub struct Executor<'a> {
    pub spec: &'a Spec,
    pub disks: &'a dyn DiskAdapter,
    pub kubectl: &'a Kubectl,
    pub templates: &'a Templates,
    pub report: &'a Reporter,
    /// Recorded with the cluster (the zone or region the disks are in).
    pub zone: String,
    /// TLS material and passwords already in the cluster.
    pub secrets: &'a SecretData,
    pub rotate_certs: bool,
    /// Wait this long for every node to be ready after applying.
    pub wait: Option<std::time::Duration>,
    /// How long a doomed disk may stay attached before esk stops (a re-run finishes).
    pub detach_timeout: std::time::Duration,
    /// The cluster lock this run holds (checked before every step: a lost lock stops the run).
    pub lock: Option<&'a ClusterLock>,
    /// The hashes stamped on the live node workloads (what a roll compares with).
    pub live: &'a BTreeMap<String, LiveTemplate>,
    /// Restart changed nodes one at a time (else they restart together, as applied).
    pub rolling: bool,
    /// How long a rolled node may take to be back.
    pub roll_timeout: std::time::Duration,
    /// The certificate rotation phase this run starts from (None: no rotation in phases).
    pub rotation: Option<Phase>,
    /// Runs just before the apply, given what it will apply: `create --from-backup` runs the
    /// vendor's restore step on every new disk there, before any server starts.
    pub before_apply: Option<&'a BeforeApply<'a>>,
}

impl Executor<'_> {
    pub fn run(&self, plan: &Plan) -> Result<Outcome> {
        // Key generation (RSA, one per node) takes a while; it runs while the cloud makes the
        // disks, which is mostly waiting.
        std::thread::scope(|s| {
            let material = s.spawn(|| {
                if plan.apply.is_empty() {
                    return Ok(Default::default());
                }
                secrets::material(self.spec, self.secrets, self.rotate_certs, self.rotation)
            });
            self.run_with(plan, || {
                material
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
        })
    }

    fn run_with(
        &self,
        plan: &Plan,
        material: impl FnOnce() -> Result<(Vec<Manifest>, secrets::Issued)>,
    ) -> Result<Outcome> {
        let mut outcome = Outcome::default();
        let mut created: BTreeMap<String, Disk> = BTreeMap::new();

        // First: the kind and dynamic adapters keep their disks as objects in the namespace.
        if plan.create_namespace {
            let label = format!("creating namespace {}", self.spec.namespace);
            let ns = [namespace_manifest(self.spec)];
            self.step(&label, &outcome, || self.kubectl.apply(&ns))?;
        }

        let to_create: Vec<(u8, String)> = plan
            .disks
            .iter()
            .filter_map(|s| match s {
                DiskStep::Create { node, name, .. } => Some((*node, name.clone())),
                _ => None,
            })
            .collect();
        if !to_create.is_empty() {
            let label = format!("creating {} disk(s)", to_create.len());
            let disks = self.step(&label, &outcome, || self.disks.create(&to_create))?;
            for d in disks {
                created.insert(d.name.clone(), d);
            }
            outcome.disks_created = to_create.iter().map(|(_, n)| n.clone()).collect();
            set_progress(outcome.describe());
        }

        let to_adopt: Vec<(u8, Disk)> = plan
            .disks
            .iter()
            .filter_map(|s| match s {
                DiskStep::Adopt { node, disk } => Some((*node, disk.clone())),
                _ => None,
            })
            .collect();
        if !to_adopt.is_empty() {
            let label = format!("labelling {} adopted disk(s)", to_adopt.len());
            self.step(&label, &outcome, || self.disks.adopt(&to_adopt))?;
            outcome.disks_adopted = to_adopt.iter().map(|(_, d)| d.name.clone()).collect();
            set_progress(outcome.describe());
        }

        let unlabelled: Vec<(u8, Disk)> = plan
            .disks
            .iter()
            .filter_map(|s| match s {
                DiskStep::Keep { node, disk } if disk.node.is_none() => Some((*node, disk.clone())),
                _ => None,
            })
            .collect();
        if !unlabelled.is_empty() {
            let label = format!("labelling {} disk(s) with their node", unlabelled.len());
            self.step(&label, &outcome, || self.disks.label_nodes(&unlabelled))?;
        }

        if !plan.delete.is_empty() {
            let label = format!("deleting {} object(s)", plan.delete.len());
            self.step(&label, &outcome, || self.kubectl.delete(&plan.delete))?;
            outcome.objects_deleted = plan.delete.len();
            set_progress(outcome.describe());
        }

        if !plan.apply.is_empty() {
            let manifests = self.final_manifests(plan, &created, material()?, self.rotation)?;
            if let Some(hook) = self.before_apply {
                let label = "running the restore step on each disk";
                self.step(label, &outcome, || hook(&manifests))?;
            }
            if !plan.migrate.is_empty() {
                self.migrate(plan, &manifests, &mut outcome)?;
            }
            let (manifests, roll) = if self.rolling {
                crate::roll::split(manifests, self.live)
            } else {
                (manifests, Vec::new())
            };
            let label = format!("applying {} object(s)", manifests.len());
            self.step(&label, &outcome, || self.kubectl.apply(&manifests))?;
            outcome.objects_applied = manifests.len();
            set_progress(outcome.describe());
            if !plan.grow.is_empty() {
                let label = format!("growing {} disk(s) online", plan.grow.len());
                self.step(&label, &outcome, || self.grow(plan))?;
                outcome.disks_grown = plan.grow.iter().map(|g| g.claim.clone()).collect();
                set_progress(outcome.describe());
            }
            if !roll.is_empty() {
                self.roll(roll, &mut outcome)?;
            }
            if let Some(first) = self.rotation {
                self.rotate(plan, &created, first, &mut outcome)?;
            }
            if let Some(timeout) = self.wait {
                // Healthy, not just Ready; it draws its own per-node progress, so no spinner.
                let label = format!("waiting for {} node(s) to be ready", self.spec.nodes);
                crate::health::wait::wait_healthy(
                    self.spec,
                    self.kubectl,
                    timeout,
                    self.report,
                    &label,
                )
                .map_err(|e| {
                    e.context(format!(
                        "{label} failed; done before that: {}; re-running resumes",
                        outcome.describe()
                    ))
                })?;
            }
        }

        let doomed: Vec<Disk> = plan.disks_to_delete().into_iter().cloned().collect();
        if !doomed.is_empty() {
            let started = std::time::Instant::now();
            let label = format!("waiting for {} disk(s) to be released", doomed.len());
            self.step(&label, &outcome, || self.wait_released(plan))?;
            let left = self.detach_timeout.saturating_sub(started.elapsed());
            let label = format!("deleting {} disk(s)", doomed.len());
            self.step(&label, &outcome, || self.disks.delete(&doomed, left))?;
            outcome.disks_deleted = doomed.iter().map(|d| d.name.clone()).collect();
            set_progress(outcome.describe());
        }
        outcome.disks_kept = plan
            .disks
            .iter()
            .filter_map(|s| match s {
                DiskStep::Keep { disk, .. } | DiskStep::KeepSurplus { disk } => {
                    Some(disk.name.clone())
                }
                _ => None,
            })
            .collect();
        Ok(outcome)
    }

    /// One reported step; a failure says what the run had already done (a re-run resumes).
    fn step<T>(&self, label: &str, done: &Outcome, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(lock) = self.lock {
            lock.check()?;
        }
        set_progress(format!("{}; interrupted while {label}", done.describe()));
        self.report.step(label, f).map_err(|e| {
            e.context(format!(
                "{label} failed; done before that: {}; re-running resumes",
                done.describe()
            ))
        })
    }

    /// Renders with the real disk handles (new disks may have handles only now) and adds the
    /// namespace and the record.
    fn final_manifests(
        &self,
        plan: &Plan,
        created: &BTreeMap<String, Disk>,
        material: (Vec<Manifest>, secrets::Issued),
        phase: Option<Phase>,
    ) -> Result<Vec<Manifest>> {
        let mut nodes: Vec<NodeDisk> = plan.node_disks();
        let names = disk_names_by_node(plan);
        for n in &mut nodes {
            if let Some(d) = names.get(&n.index).and_then(|name| created.get(name)) {
                n.source = d.source.clone();
            }
            if n.source.kind == "csi" && n.source.handle.is_empty() {
                anyhow::bail!(
                    "no volume id known for node {} after creating its disk",
                    n.index
                );
            }
        }
        let mut manifests = Vec::new();
        let (material, issued) = material;
        if issued.new_ca {
            self.report.info("generated a new cluster CA");
        }
        if !issued.new_node_certs.is_empty() {
            self.report.info(&format!(
                "issued certificates for node(s) [{}]",
                issued
                    .new_node_certs
                    .iter()
                    .map(|i| crate::spec::member_label(*i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        manifests.extend(material);
        manifests.extend(self.templates.render(self.spec, &nodes)?);
        manifests.push(self.record(plan, phase));
        crate::roll::stamp::stamp(&mut manifests);
        Ok(manifests)
    }

    /// The cluster record, with the certificate rotation phase reached (None: none running).
    fn record(&self, plan: &Plan, phase: Option<Phase>) -> Manifest {
        let names = disk_names_by_node(plan);
        Record {
            generation: self.spec.generation(),
            nodes: self.spec.nodes.get(),
            cloud: self.spec.cloud.to_string(),
            profile: self.spec.profile.name.clone(),
            zone: self.zone.clone(),
            disks: names.values().cloned().collect(),
            workload: self.spec.workload.as_str().to_string(),
            tls: self.spec.security.tls,
            anti_affinity: if self.spec.security.required_anti_affinity {
                "required".into()
            } else {
                "preferred".into()
            },
            replicas: self.spec.replicas,
            zones: self.spec.location.zones.clone(),
            node_zones: if self.spec.location.zones.is_empty() {
                BTreeMap::new()
            } else {
                plan.node_disks()
                    .into_iter()
                    .map(|n| (n.index, n.source.topology_value))
                    .collect()
            },
            rotation: phase.map(|p| p.as_str().to_string()).unwrap_or_default(),
            // A run of create or resize finishes no node replacement: that is `node replace`'s.
            replacing: None,
        }
        .manifest(self.spec)
    }
}

fn disk_names_by_node(plan: &Plan) -> BTreeMap<u8, String> {
    plan.disks
        .iter()
        .filter_map(|s| match s {
            DiskStep::Create { node, name, .. } => Some((*node, name.clone())),
            DiskStep::Keep { node, disk } | DiskStep::Adopt { node, disk } => {
                Some((*node, disk.name.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The namespace, created when missing and never deleted by esk (other things may live there).
pub fn namespace_manifest(spec: &Spec) -> Manifest {
    let value = serde_yaml::from_str(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n  labels:\n    {}: esk\n",
        spec.namespace,
        crate::manifest::MANAGED_BY
    ))
    .unwrap_or_default();
    Manifest {
        source: "namespace".into(),
        object: ObjectRef {
            kind: "Namespace".into(),
            name: spec.namespace.to_string(),
        },
        value,
    }
}

//! What every cluster command sets up (the Session: spec, templates, kubectl, the disk
//! adapter), observes and plans under the cluster lock; `finish` carries the plan out.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::adapters;
use crate::adapters::kubectl::Kubectl;
use crate::adapters::DiskAdapter;
use crate::cli::Global;
use crate::error::{Refused, UsageError};
use crate::lint;
use crate::lock::{self, ClusterLock};
use crate::manifest::Manifest;
use crate::plan::{self, Observed, Plan};
use crate::render::Templates;
use crate::report::Reporter;
use crate::spec::{Cloud, NodeCount, Spec, Workload};

use super::confirm::command_line;

/// Waits for a scoped thread, passing its panic on.
pub(super) fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// How a command runs once planned.
#[derive(Clone, Copy)]
pub(super) struct Run {
    pub(super) dry_run: bool,
    pub(super) yes: bool,
    pub(super) rotate_certs: bool,
    pub(super) wait: Option<std::time::Duration>,
    /// Restart changed nodes one at a time (create; resize recreates them).
    pub(super) rolling: bool,
    /// How long each restarted node may take to be back.
    pub(super) roll_timeout: Duration,
    /// How long a disk may stay attached after its pod is gone before esk gives up deleting it.
    pub(super) detach_timeout: Duration,
    /// Print one JSON document instead of the plan text and summary line.
    pub(super) json: bool,
}

impl Run {
    /// How create and resize run.
    pub(super) fn apply(
        g: &Global,
        dry_run: bool,
        rotate_certs: bool,
        wait: bool,
        timeout: u64,
        json: bool,
    ) -> Run {
        Run {
            dry_run,
            yes: g.yes,
            rotate_certs,
            wait: wait.then(|| std::time::Duration::from_secs(timeout)),
            rolling: false,
            roll_timeout: Duration::from_secs(timeout),
            detach_timeout: Duration::from_secs(g.detach_timeout),
            json,
        }
    }
}

/// What every cluster command sets up before it looks at anything.
pub(super) struct Session<'a> {
    pub(super) spec: Spec,
    pub(super) templates: Templates,
    pub(super) kubectl: Kubectl,
    pub(super) disks: Box<dyn DiskAdapter>,
    pub(super) zone: String,
    pub(super) notes: Vec<String>,
    /// --profile was given (changing a cluster's profile must be deliberate).
    pub(super) profile_given: bool,
    /// --read-only-replicas was given; otherwise the record's count is kept.
    pub(super) replicas_given: bool,
    /// Why this run must not make disks or pods (no Kubernetes node in the zone, no CSI
    /// driver); checked once the plan is known, so input errors are reported first.
    pub(super) refusal: Option<String>,
    pub(super) report: &'a Reporter,
    /// `create --from-backup`: the backup every new disk is made from.
    pub(super) restore: Option<crate::domain::Backup>,
    /// Zones to spread over: `--zones`, else (a new cluster) the zones of the Kubernetes
    /// nodes when they are several; empty for one zone. The record's win for a cluster made
    /// spread and run without `--zones`.
    pub(super) zones: Zones,
}

/// Where the zones of a run come from, before the record is read.
#[derive(Clone, Debug, Default)]
pub(super) struct Zones {
    /// `--zones`, as given.
    pub(super) requested: Vec<String>,
    /// The zones of the Kubernetes nodes (only when no --zone or --zones was given).
    pub(super) default: Vec<String>,
    /// The zones the disk adapter lists now.
    listed: Vec<String>,
}

impl<'a> Session<'a> {
    /// `preflight`: the run makes disks and pods (create, resize), so the zone's nodes and
    /// the CSI driver are checked.
    pub(super) fn open(
        g: &Global,
        nodes: NodeCount,
        report: &'a Reporter,
        preflight: bool,
    ) -> Result<Session<'a>> {
        // Everything that can be checked without a process is checked first.
        let explicit = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
        g.spec(nodes, explicit.or(Some(Cloud::Gke)))?;
        let templates = Templates::load(g.templates.as_deref())?;
        let mut kubectl = Kubectl::new(g.context.clone(), &g.namespace)?;
        let context = kubectl.current_context()?;
        kubectl.pin_context(context.clone());
        let detected = explicit.or_else(|| context.as_deref().and_then(Cloud::from_context));
        let mut spec = g.spec(nodes, detected)?;
        if spec.workload == Workload::StatefulSet && spec.cloud == Cloud::Dynamic {
            return Err(UsageError::new(
                "--workload statefulset binds pre-provisioned disks (gke, aws, kind); with \
                 --cloud dynamic use the default workload",
            )
            .into());
        }
        let mut notes = Vec::new();
        let csi = preflight && matches!(spec.cloud, Cloud::Gke | Cloud::Aws);
        let (kube_id, cluster) = std::thread::scope(|s| {
            let nodes = s.spawn(|| kubectl.cluster_nodes(csi));
            (kubectl.cluster_id(), join(nodes))
        });
        spec.kube_id = kube_id?;
        let cluster = cluster?;
        if spec.cloud == Cloud::Dynamic {
            spec.location.kube_zones = crate::doctor::kube_zones(&cluster.nodes);
        }
        let connected = adapters::connect(&spec, context.as_deref(), &kubectl)?;
        let zones = Zones {
            requested: spec.location.zones.clone(),
            default: if spec.location.zone.is_none() {
                crate::doctor::node_zones(spec.cloud, &connected.zone, &cluster.nodes)
            } else {
                Vec::new()
            },
            listed: vec![connected.zone.clone()],
        };
        let mut zones = zones;
        // The zones a new cluster's nodes go to: each must have Ready Kubernetes nodes.
        let chosen = if zones.requested.len() > 1 {
            zones.requested.clone()
        } else if zones.default.len() > 1 {
            zones.default.clone()
        } else {
            vec![connected.zone.clone()]
        };
        if chosen.len() > 1 {
            // The first list of the disks reads every zone they may be in.
            connected.disks.place(&crate::domain::Placement {
                zones: chosen.clone(),
                nodes: Default::default(),
            });
            zones.listed.extend(chosen.iter().cloned());
        }
        if spec.profile.str("node.antiAffinity")? == "auto" {
            let available =
                crate::doctor::usable_nodes(spec.cloud, &chosen, spec.nodes.get(), &cluster.nodes);
            if available < usize::from(spec.nodes.get()) {
                spec.security.required_anti_affinity = false;
                let zone = crate::doctor::topology_key(spec.cloud)
                    .map(|_| match &chosen[..] {
                        [one] => format!(" in zone {one}"),
                        many => format!(" usable in zones {}", many.join(", ")),
                    })
                    .unwrap_or_default();
                notes.push(format!(
                    "warning: the cluster has {available} Kubernetes node(s){zone} for {} \
                     EventStore nodes, so spreading them is only preferred: one machine \
                     failing can take down more than one node",
                    spec.nodes
                ));
            }
        }
        let refusal = preflight
            .then(|| crate::doctor::create_refusal(spec.cloud, &chosen, &cluster))
            .flatten();
        if let (true, Err(e)) = (csi, &cluster.csi_drivers) {
            notes.push(format!("warning: could not check the CSI driver: {e}"));
        }
        Ok(Session {
            spec,
            templates,
            kubectl,
            disks: connected.disks,
            zone: connected.zone,
            notes: [notes, connected.notes].concat(),
            profile_given: g.profile.is_some(),
            replicas_given: false,
            refusal,
            report,
            restore: None,
            zones,
        })
    }

    /// The replica count asked for; without the flag the record's is used once observed.
    pub(super) fn set_replicas(&mut self, replicas: Option<u8>) -> Result<()> {
        if let Some(k) = replicas {
            self.spec.set_replicas(k)?;
            self.replicas_given = true;
        }
        Ok(())
    }

    /// The cluster's objects and record, then its disks (by label, plus `names`).
    /// `deleting`: any workload may be deleted without naming it.
    pub(super) fn observe(&mut self, names: &[String], deleting: bool) -> Result<Observed> {
        // Independent looks, at once: the disks' list is the slow one. With --cloud dynamic
        // the claims are the disks (no cluster labels) and their classes decide growth.
        let dynamic = self.spec.cloud == Cloud::Dynamic && !deleting;
        let (state, namespace_exists, disks, dynamic_claims) = std::thread::scope(|s| {
            let ns = s.spawn(|| self.kubectl.namespace_exists());
            let disks = s.spawn(|| self.disks.list(names));
            let claims = s.spawn(|| -> Result<_> {
                if !dynamic {
                    return Ok(Default::default());
                }
                Ok((
                    self.kubectl.namespace_claims()?,
                    self.kubectl.expandable_classes()?,
                ))
            });
            let state = self.kubectl.cluster_state(&self.spec);
            (state, join(ns), join(disks), join(claims))
        });
        let mut state = state?;
        let (dynamic_claims, expandable_classes) = dynamic_claims?;
        state.claims.extend(dynamic_claims);
        if let Some(r) = &state.record {
            if !self.replicas_given && !deleting {
                self.spec.set_replicas(r.replicas)?;
            }
            let warnings = r.check(&self.spec, &self.zone, deleting, self.profile_given)?;
            self.notes.extend(warnings);
            let auto = self.spec.profile.str("node.antiAffinity")? == "auto";
            if auto && !r.anti_affinity.is_empty() {
                // Decided when the cluster was made; a changed node count must not restart it.
                self.spec.security.required_anti_affinity = r.anti_affinity == "required";
                self.notes
                    .retain(|n| !n.contains("spreading them is only preferred"));
            }
        }
        let mut disks = disks?;
        self.place(state.record.as_ref(), names, &mut disks)?;
        Ok(Observed {
            disks,
            objects: state.objects,
            record: state.record,
            namespace_exists: namespace_exists?,
            secrets: state.secrets,
            live: state.live,
            claims: state.claims,
            classless_volumes: state.classless_volumes,
            volume_capacities: state.volume_capacities,
            expandable_classes,
        })
    }

    /// Decides each node's zone (see `domain::zones`) and tells the disk adapter, listing the
    /// disks again when the record names zones the first list did not read. Clusters in one
    /// zone are left as they were: the adapter's one zone.
    fn place(
        &mut self,
        record: Option<&crate::record::Record>,
        names: &[String],
        disks: &mut Vec<crate::domain::Disk>,
    ) -> Result<()> {
        if !matches!(self.spec.cloud, Cloud::Gke | Cloud::Aws) {
            return Ok(());
        }
        let recorded = record.map(|r| r.zones.clone()).unwrap_or_default();
        let (zones, by_default) = if !self.zones.requested.is_empty() {
            (self.zones.requested.clone(), false)
        } else if !recorded.is_empty() {
            (recorded, false)
        } else if record.is_none() && self.zones.default.len() > 1 {
            // Only a new cluster spreads by default: an existing one-zone cluster keeps its
            // shape unless --zones asks.
            (self.zones.default.clone(), true)
        } else {
            (Vec::new(), false)
        };
        let spread_before = record.is_some_and(|r| !r.zones.is_empty());
        if zones.len() < 2 && !spread_before {
            self.spec.location.zones.clear();
            return Ok(());
        }
        // The disks are listed in every zone they may be in: the chosen ones and wherever the
        // record says the cluster's disks are (a one-zone cluster's zone, each node's zone).
        let mut list = zones.clone();
        if let Some(r) = record {
            for z in std::iter::once(&r.zone)
                .chain(&r.zones)
                .chain(r.node_zones.values())
            {
                if !z.is_empty() && !list.contains(z) {
                    list.push(z.clone());
                }
            }
        }
        if list.iter().any(|z| !self.zones.listed.contains(z)) {
            self.disks.place(&crate::domain::Placement {
                zones: list.clone(),
                nodes: Default::default(),
            });
            // GCE lists disks per zone (EBS per region, all of them already).
            if self.spec.cloud == Cloud::Gke {
                *disks = self.disks.list(names)?;
            }
            self.zones.listed = list;
        }
        let members: Vec<u8> = self.spec.members().collect();
        let node_zones = record.map(|r| r.node_zones.clone()).unwrap_or_default();
        let (placement, notes) = crate::domain::place_nodes(&zones, &members, disks, &node_zones);
        self.disks.place(&placement);
        let mut notes = notes;
        if by_default {
            notes.push(format!(
                "zones: the Kubernetes nodes are in {} zones, so the nodes spread over {} \
                 (pass --zones to choose, or --zone for one)",
                zones.len(),
                zones.join(", ")
            ));
        }
        for n in notes {
            if !self.notes.contains(&n) {
                self.notes.push(n);
            }
        }
        // The record keeps the zones chosen; each node's own zone (maybe outside them, where
        // its disk already was) is kept per node.
        self.spec.location.zones = zones;
        Ok(())
    }

    /// Observes and plans (`make`) under the cluster lock; --dry-run takes none. A missing
    /// namespace holds no cluster and no Lease: there the plan is made first, so every usage
    /// error and refusal comes before any change; only a plan that changes something then
    /// creates the namespace, takes the lock and is made again under it. Disks are never
    /// deleted without the lock: a delete that would (its namespace gone, its disks kept) is
    /// refused.
    pub(super) fn plan_locked(
        &mut self,
        g: &Global,
        dry_run: bool,
        make: &dyn Fn(&mut Session) -> Result<(Plan, Observed)>,
    ) -> Result<(Plan, Observed, Option<ClusterLock>)> {
        if dry_run {
            let (plan, observed) = make(self)?;
            return Ok((plan, observed, None));
        }
        if let Some(lock) = self.try_lock(g)? {
            let (plan, observed) = make(self)?;
            return Ok((plan, observed, Some(lock)));
        }
        let (plan, observed) = make(self)?;
        self.check_refusal()?;
        if plan.action == plan::Action::Delete && !plan.disks_to_delete().is_empty() {
            return Err(Refused::new(format!(
                "namespace {} does not exist, so the cluster lock cannot be taken; its disks are \
                 kept: create the namespace (kubectl create namespace {}) and re-run to delete \
                 them",
                self.spec.namespace, self.spec.namespace
            ))
            .into());
        }
        if plan.is_noop() || plan.action == plan::Action::Delete {
            return Ok((plan, observed, None));
        }
        self.kubectl
            .apply(&[crate::execute::namespace_manifest(&self.spec)])?;
        let lock = self.try_lock(g)?.with_context(|| {
            format!(
                "namespace {} is still missing after creating it",
                self.spec.namespace
            )
        })?;
        let (plan, observed) = make(self)?;
        Ok((plan, observed, Some(lock)))
    }

    /// The lock, or `None` when the namespace (and so any cluster in it) does not exist.
    pub(super) fn try_lock(&self, g: &Global) -> Result<Option<ClusterLock>> {
        try_lock(&self.kubectl, &self.spec, g, self.report)
    }

    /// Lints what the plan would apply (with --templates that matters): errors refuse unless
    /// --force, warnings join the plan's.
    /// Returns the render too, for what else is read from it. Growing volumes are linted as
    /// grown (their capacity is the resizer's to raise, so mid-growth a claim asks for more).
    pub(super) fn linted(&self, mut plan: Plan, force: bool) -> Result<(Plan, Vec<Manifest>)> {
        let rendered = self
            .templates
            .render(&self.spec, &plan.node_disks_grown())?;
        plan.warnings
            .extend(lint::refuse_on_errors(&rendered, force)?);
        Ok((plan, rendered))
    }

    /// The running nodes this plan restarts, and whether one at a time: only the per-node
    /// Deployments roll (resize recreates; a StatefulSet rolls by its own controller).
    pub(super) fn restarts(
        &self,
        rendered: &[Manifest],
        observed: &Observed,
        rolling: bool,
    ) -> plan::Restart {
        plan::Restart {
            nodes: crate::roll::restarts(rendered, observed),
            rolling: rolling && self.spec.workload == Workload::Deployment,
            rotation: None,
        }
    }

    /// The preflight's refusal (no Kubernetes node in the disks' zone, no CSI driver).
    pub(super) fn check_refusal(&self) -> Result<()> {
        match &self.refusal {
            Some(why) => Err(Refused::new(why.clone()).into()),
            None => Ok(()),
        }
    }
}

/// The cluster lock for a run of this command line, or `None` when the namespace (and so any
/// cluster in it) does not exist.
pub(super) fn try_lock(
    kubectl: &Kubectl,
    spec: &Spec,
    g: &Global,
    report: &Reporter,
) -> Result<Option<ClusterLock>> {
    let me = lock::Holder::me(&command_line());
    let timeout = Duration::from_secs(g.lock_timeout);
    Ok(match lock::acquire(kubectl, spec, &me, timeout, report)? {
        lock::Acquired::Held(l) => Some(l),
        lock::Acquired::NoNamespace => None,
    })
}

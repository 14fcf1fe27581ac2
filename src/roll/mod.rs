//! Rolling changes: the node workloads a change restarts are applied one at a time, followers
//! first and the leader last, each only while every other node is healthy, and each awaited
//! until its new pod is Ready and back in gossip as a member of a healthy cluster. Quorum is
//! held throughout; a node that does not come back stops the roll (the rest keep the old
//! version) and a re-run resumes, since what is left is exactly what still differs.

mod handover;
pub mod order;
pub mod reclaim;
pub mod resign;
pub mod restart_plan;
pub mod stamp;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use crate::adapters::kube_proxy::KubeProxy;
use crate::adapters::kubectl::Kubectl;
use crate::domain::LiveTemplate;
use crate::error::Unhealthy;
use crate::health::{assess, clock, observe, Health, Observation};
use crate::lock::ClusterLock;
use crate::manifest::{Manifest, COMPONENT, NODE_LABEL};
use crate::plan::Observed;
use crate::report::Reporter;
use crate::spec::Spec;

pub use order::next_node;

/// Set on a node Deployment's pod template by `esk restart` / `esk node restart` (as
/// `kubectl rollout restart` sets `kubectl.kubernetes.io/restartedAt`): a new pod template, so
/// the Deployment replaces the pod; esk's own apply never sets it, so a re-run of `create` keeps
/// it and restarts nothing.
pub const RESTARTED_AT: &str = "esk.io/restarted-at";

/// One node to restart.
#[derive(Clone, Debug)]
pub struct Step {
    pub index: u8,
    pub change: Change,
}

/// How a node is restarted.
#[derive(Clone, Debug)]
pub enum Change {
    /// Its workload is applied as rendered; its new pods carry `esk.io/template` = `template`.
    Apply {
        manifest: Manifest,
        template: String,
    },
    /// Its Deployment `workload`, otherwise unchanged, gets [`RESTARTED_AT`] = `at` on its pod
    /// template (a merge patch).
    Restart { workload: String, at: String },
    /// Its claim is re-made with esk's StorageClass on the same volume (`reclaim`), its
    /// workload deleted and applied again; its new pod carries `esk.io/template` = `template`.
    Reclaim {
        reclaim: Box<reclaim::Reclaim>,
        template: String,
    },
}

impl Step {
    /// The annotation and value every new pod of the node carries.
    fn marker(&self) -> (&'static str, &str) {
        match &self.change {
            Change::Apply { template, .. } | Change::Reclaim { template, .. } => {
                (stamp::TEMPLATE, template)
            }
            Change::Restart { at, .. } => (RESTARTED_AT, at),
        }
    }
}

/// The node workloads, among `rendered` (stamped or not), whose pod spec differs from the live
/// one: what `--dry-run` lists. New nodes are not restarts.
pub fn restarts(rendered: &[Manifest], observed: &Observed) -> Vec<String> {
    rendered
        .iter()
        .filter_map(|m| {
            let hash = stamp::pod_spec_hash(m)?;
            let live = observed.live.get(&m.object.name)?;
            (live.pod_spec != hash).then(|| m.object.name.clone())
        })
        .collect()
}

/// Splits stamped manifests into what is applied at once and the node workloads to roll:
/// those live with another `esk.io/template` than the one they are to have.
pub fn split(
    manifests: Vec<Manifest>,
    live: &BTreeMap<String, LiveTemplate>,
) -> (Vec<Manifest>, Vec<Step>) {
    let mut now = Vec::new();
    let mut steps = Vec::new();
    for m in manifests {
        let template = m.value["metadata"]["annotations"][stamp::TEMPLATE]
            .as_str()
            .map(str::to_string);
        let live = live.get(&m.object.name);
        match (stamp::is_node_workload(&m), template, live, m.node()) {
            (true, Some(t), Some(l), Some(index)) if l.template != t => steps.push(Step {
                index,
                change: Change::Apply {
                    manifest: m,
                    template: t,
                },
            }),
            _ => now.push(m),
        }
    }
    (now, steps)
}

pub struct Roller<'a> {
    pub spec: &'a Spec,
    pub kubectl: &'a Kubectl,
    pub report: &'a Reporter,
    /// How long one node may take to be back, and the others to be healthy before it.
    pub timeout: Duration,
    pub lock: Option<&'a ClusterLock>,
}

/// Looks between observations: quick at first, as a restart usually is.
fn pause(elapsed: Duration) -> Duration {
    match elapsed.as_secs() {
        0..=4 => Duration::from_millis(250),
        5..=29 => Duration::from_secs(1),
        _ => Duration::from_secs(2),
    }
}

/// Whether node `index` runs only pods carrying annotation `key` = `value`.
fn on_template(obs: &Observation, index: u8, (key, value): (&str, &str)) -> bool {
    let pods: Vec<&Value> = obs
        .objects
        .iter()
        .filter(|o| {
            // A read-only replica's pods: component `replica`, node label `r<j>`.
            o["kind"] == "Pod"
                && matches!(
                    o["metadata"]["labels"][COMPONENT].as_str(),
                    Some("node" | "replica")
                )
                && o["metadata"]["labels"][NODE_LABEL].as_str()
                    == Some(crate::spec::member_label(index).as_str())
                && o["metadata"]["deletionTimestamp"].is_null()
        })
        .collect();
    // An empty value (a re-made read-only replica, whose workload carries no stamp): any pod
    // will do, as the old one was gone before the workload came back.
    !pods.is_empty()
        && pods
            .iter()
            .all(|p| value.is_empty() || p["metadata"]["annotations"][key] == value)
}

/// The merge patch that restarts a node Deployment's pod.
pub fn restart_patch(at: &str) -> Value {
    serde_json::json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}})
}

impl Roller<'_> {
    /// Restarts every step's node, one at a time; returns the node names in the order rolled.
    pub fn run(&self, mut left: Vec<Step>) -> Result<Vec<String>> {
        let proxy = self.kubectl.proxy()?;
        let total = left.len();
        let mut done: Vec<String> = Vec::new();
        while !left.is_empty() {
            if let Some(lock) = self.lock {
                lock.check()?;
            }
            let indices: Vec<u8> = left.iter().map(|s| s.index).collect();
            let (health, index) = self.ready_for_next(&proxy, &indices, &done)?;
            let pos = left.iter().position(|s| s.index == index).unwrap_or(0);
            let step = left.remove(pos);
            let name = self.spec.node_name(step.index);
            let mut role = health
                .nodes
                .iter()
                .find(|n| n.index == step.index)
                .and_then(|n| n.member.as_ref())
                .map_or("not in gossip".to_string(), |m| m.state.clone());
            if health.leader.as_deref() == Some(name.as_str()) {
                role = self.hand_over(&proxy, step.index, &name)?;
            }
            self.report.info(&format!(
                "restarting {name} ({role}), {} of {total}",
                done.len() + 1
            ));
            let started = Instant::now();
            match &step.change {
                Change::Apply { manifest, .. } => {
                    self.kubectl.apply(std::slice::from_ref(manifest))?
                }
                Change::Restart { workload, at } => self.kubectl.patch_merge(
                    "Deployment",
                    workload,
                    &restart_patch(at).to_string(),
                )?,
                Change::Reclaim { reclaim, .. } => reclaim.run(self.kubectl, self.timeout)?,
            }
            self.wait_back(&proxy, &step, &done, &left)?;
            self.report.info(&format!(
                "{name} is back in the cluster ({:.1}s)",
                started.elapsed().as_secs_f64()
            ));
            done.push(name);
        }
        Ok(done)
    }

    fn look(&self, proxy: &KubeProxy) -> Result<(Health, Observation)> {
        let obs = observe::observe(self.kubectl, proxy, self.spec)?;
        Ok((assess(self.spec, &obs, clock::now()), obs))
    }

    /// Waits until restarting one more node keeps quorum (every other node healthy), and says
    /// which: broken ones first, then followers, the leader last.
    fn ready_for_next(
        &self,
        proxy: &KubeProxy,
        left: &[u8],
        done: &[String],
    ) -> Result<(Health, u8)> {
        let started = Instant::now();
        loop {
            let (health, _) = self.look(proxy)?;
            if let Some(index) = next_node(&health, left) {
                return Ok((health, index));
            }
            if started.elapsed() >= self.timeout {
                let why = order::blocking(&health, left).join("; ");
                let message = format!(
                    "rolling restart stopped: restarting another node now would leave the \
                     cluster without quorum ({why}) after {}s; {}",
                    self.timeout.as_secs(),
                    self.where_it_stands(done, left)
                );
                return Err(Unhealthy::new(health.exit_code.max(1), message).into());
            }
            std::thread::sleep(pause(started.elapsed()));
        }
    }

    /// Waits until the node runs its new pod, Ready, and the cluster is healthy with it.
    fn wait_back(
        &self,
        proxy: &KubeProxy,
        step: &Step,
        done: &[String],
        left: &[Step],
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            let (health, obs) = self.look(proxy)?;
            let node_ok = health.nodes.iter().any(|n| n.index == step.index && n.ok);
            if on_template(&obs, step.index, step.marker())
                && node_ok
                && health.verdict == crate::health::Verdict::Healthy
            {
                return Ok(());
            }
            if started.elapsed() >= self.timeout {
                let name = self.spec.node_name(step.index);
                let why = health
                    .nodes
                    .iter()
                    .find(|n| n.index == step.index)
                    .and_then(|n| n.problem.clone())
                    .or_else(|| health.reasons.first().cloned())
                    .unwrap_or_else(|| "its new pod is not running yet".into());
                let rest: Vec<u8> = left.iter().map(|s| s.index).collect();
                let message = format!(
                    "rolling restart stopped: {name} did not come back within {}s: {}; {}",
                    self.timeout.as_secs(),
                    why.lines().next().unwrap_or(""),
                    self.where_it_stands(done, &rest)
                );
                return Err(Unhealthy::new(health.exit_code.max(1), message).into());
            }
            std::thread::sleep(pause(started.elapsed()));
        }
    }

    fn where_it_stands(&self, done: &[String], left: &[u8]) -> String {
        let left: Vec<String> = left.iter().map(|i| self.spec.node_name(*i)).collect();
        let done = if done.is_empty() {
            "none".to_string()
        } else {
            done.join(", ")
        };
        if left.is_empty() {
            format!("restarted: {done}; re-running resumes")
        } else {
            format!(
                "restarted: {done}; still on the old version: {}; re-running resumes",
                left.join(", ")
            )
        }
    }
}

//! The cluster as it was made, for the verbs that read it (status, connection-string, ca-cert,
//! backup): the flags validated, the kube context pinned, and the spec taken from the cluster's
//! record, so none of them needs the flags it was created with.

use anyhow::Result;

use crate::adapters::kubectl::Kubectl;
use crate::cli::Global;
use crate::error::{exit, Unhealthy};
use crate::health::{self, observe, Observation};
use crate::manifest::COMPONENT;
use crate::profile::Profile;
use crate::spec::{Cloud, NodeCount, Spec, Workload};

/// Validates the flags (nothing runs before), then pins the kube context.
pub(super) fn open(g: &Global) -> Result<(Spec, Kubectl, Option<String>)> {
    let explicit = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
    g.spec(NodeCount::new(1)?, explicit.or(Some(Cloud::Gke)))?;
    let mut kubectl = Kubectl::new(g.context.clone(), &g.namespace)?;
    let context = kubectl.current_context()?;
    kubectl.pin_context(context.clone());
    let detected = explicit.or_else(|| context.as_deref().and_then(Cloud::from_context));
    let spec = g.spec(NodeCount::new(1)?, detected)?;
    Ok((spec, kubectl, context))
}

/// The spec of the cluster as it was made: the record's size, profile, workload, cloud and
/// TLS mode (flags given now win for profile and cloud).
pub(super) fn resolve(g: &Global, mut spec: Spec, obs: &Observation) -> Result<Spec> {
    let node_workloads: Vec<&serde_json::Value> = obs
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        .filter(|o| o["metadata"]["labels"][COMPONENT] == "node")
        .collect();
    match health::recorded(&spec, obs) {
        Some(r) => {
            if g.profile.is_none() && !r.profile.is_empty() && r.profile != spec.profile.name {
                // A profile file that is gone now: the default's settings are the best guess.
                if let Ok(mut p) = Profile::load(&r.profile) {
                    for assignment in &g.set {
                        p.set(assignment)?;
                    }
                    spec.profile = p;
                }
            }
            if let Ok(n) = NodeCount::new(r.nodes) {
                spec.nodes = n;
            }
            spec.workload = r.workload.parse().unwrap_or(spec.workload);
            if g.cloud.is_none() {
                spec.cloud = r.cloud.parse().unwrap_or(spec.cloud);
            }
            spec.security.tls = r.tls;
            spec.security.required_anti_affinity = r.anti_affinity != "preferred";
            spec.replicas = r.replicas;
        }
        None => {
            let set = node_workloads.iter().find(|w| w["kind"] == "StatefulSet");
            let count = match set {
                Some(s) => {
                    spec.workload = Workload::StatefulSet;
                    s["spec"]["replicas"].as_u64().unwrap_or(1) as u8
                }
                None => node_workloads.len().min(usize::from(NodeCount::MAX)) as u8,
            };
            if let Ok(n) = NodeCount::new(count) {
                spec.nodes = n;
            }
            spec.replicas = obs
                .objects
                .iter()
                .filter(|o| o["kind"] == "Deployment")
                .filter(|o| o["metadata"]["labels"][COMPONENT] == "replica")
                .count()
                .min(usize::from(NodeCount::MAX)) as u8;
        }
    }
    Ok(spec)
}

pub(super) fn not_found(spec: &Spec) -> anyhow::Error {
    Unhealthy::new(
        exit::NOT_FOUND,
        format!("no cluster {} in namespace {}", spec.name, spec.namespace),
    )
    .into()
}

/// The cluster's objects, its spec from the record, or exit 12 when there is no such cluster.
pub(super) fn existing(g: &Global) -> Result<(Spec, Observation)> {
    let (base, kubectl, _) = open(g)?;
    let obs = observe::read_objects(&kubectl, &base)?;
    let spec = found(g, base, &obs)?;
    Ok((spec, obs))
}

/// The cluster's spec from its record among `obs`, or exit 12 when there is no such cluster.
pub(super) fn found(g: &Global, base: Spec, obs: &Observation) -> Result<Spec> {
    let spec = resolve(g, base, obs)?;
    if !health::found(&spec, obs) {
        return Err(not_found(&spec));
    }
    Ok(spec)
}

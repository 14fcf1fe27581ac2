//! Reading the running cluster: one observation of everything (objects, pods, events, each
//! node's gossip through the API server's pod proxy), folded by the pure [`assess`] into a
//! [`Health`]: a verdict, each node's state and what is wrong with it, and warnings with their
//! fixes. `esk status`, every `--wait` and later rolling changes read the cluster through it.

pub mod clock;
mod diagnose;
pub mod disk_use;
mod facts;
mod nodes;
pub mod observe;
pub mod output;
mod value;
mod verdict;
pub mod wait;
mod warnings;
mod zones;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::Disk;
use crate::manifest::COMPONENT;
use crate::names::member_fqdn;
use crate::record::Record;
use crate::spec::{replica_of, Spec, Workload};
pub use disk_use::DiskUse;
use facts::{label, name_of, parse_gossip, phase_of, status_message};
use nodes::{cluster_info, disk_row, gather, record_of, Node};

pub use value::{
    ClusterInfo, DiskRow, Health, LastBackup, MemberRow, NodeHealth, ObjectPhase, PodRow, Verdict,
};
pub use verdict::state_hint;
pub use warnings::not_after as certificate_expiry;
pub use zones::ZoneSpread;

/// Everything read from the cluster in one look.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// Objects carrying the cluster's labels: workloads, pods, ConfigMaps, Secrets.
    pub objects: Vec<Value>,
    /// The namespace's claims and events, and the cluster's volumes and Nodes.
    pub claims: Vec<Value>,
    pub volumes: Vec<Value>,
    pub events: Vec<Value>,
    pub nodes: Vec<Value>,
    /// Pod name → its `/gossip` body, or why there is none.
    pub gossip: BTreeMap<String, Result<String, String>>,
    /// Pod name → the last lines its previous container printed.
    pub previous_logs: BTreeMap<String, String>,
    /// The cluster's disks as the disk adapter lists them (None: not listed).
    pub disks: Option<Result<Vec<Disk>, String>>,
    /// Claim name → how full its file system is, from the kubelets (None: not read).
    pub disk_use: Option<Result<BTreeMap<String, DiskUse>, String>>,
}

/// The cluster's record, if the observation holds one.
pub fn recorded(spec: &Spec, obs: &Observation) -> Option<Record> {
    record_of(spec, &obs.objects).map(|(r, _)| r)
}

/// Whether the observation shows the cluster at all: its record, or a node workload or pod.
pub fn found(spec: &Spec, obs: &Observation) -> bool {
    recorded(spec, obs).is_some()
        || obs.objects.iter().any(|o| {
            matches!(
                o["kind"].as_str(),
                Some("Deployment" | "StatefulSet" | "Pod")
            ) && label(o, COMPONENT) == Some("node")
        })
}

/// Folds an observation into the cluster's health, as of `now` (seconds since the epoch).
pub fn assess(spec: &Spec, obs: &Observation, now: i64) -> Health {
    let nodes = gather(spec, obs);
    let workloads: Vec<&Value> = nodes.iter().filter_map(|n| n.workload).collect();
    let cluster = cluster_info(spec, obs, &workloads, now);
    if !found(spec, obs) {
        return Health {
            cluster,
            verdict: Verdict::NotFound,
            exit_code: Verdict::NotFound.exit_code(),
            leader: None,
            reasons: vec![format!(
                "no cluster {} in namespace {}",
                spec.name, spec.namespace
            )],
            warnings: Vec::new(),
            nodes: Vec::new(),
            zones: None,
        };
    }
    let expected = spec.nodes.get();
    let peers: Vec<verdict::Peer> = nodes
        .iter()
        .map(|n| verdict::Peer {
            index: n.index,
            name: n.name.clone(),
            fqdn: member_fqdn(spec, n.index),
            ip: n.pod.as_ref().and_then(|p| p.ip.clone()),
            uptime: n
                .pod
                .as_ref()
                .and_then(|p| p.running_since)
                .map(|t| now - t),
        })
        .collect();
    let mut views = Vec::new();
    let mut unreachable = BTreeMap::new();
    for n in &nodes {
        let Some(pod) = &n.pod else { continue };
        match obs.gossip.get(&pod.name) {
            Some(Ok(body)) => match parse_gossip(body) {
                Ok(doc) => views.push(verdict::View { from: n.index, doc }),
                Err(e) => {
                    unreachable.insert(n.index, e);
                }
            },
            Some(Err(e)) => {
                unreachable.insert(n.index, status_message(e));
            }
            None => {}
        }
    }
    let judged = verdict::judge(expected, spec.replicas, &peers, &views, &unreachable);
    let mut rows = Vec::new();
    for n in &nodes {
        let events = n
            .pod
            .as_ref()
            .map(|p| facts::pod_events(&obs.events, p))
            .unwrap_or_default();
        let claim_phase = n.claim.map(phase_of);
        let pod_problem = match &n.pod {
            None if n.workload.is_none() => Some(match spec.workload {
                Workload::Deployment => format!("no Deployment {}", n.name),
                Workload::StatefulSet => format!("no StatefulSet replica {}", n.name),
            }),
            None => Some("no pod".to_string()),
            Some(p) => diagnose::pod_problem(
                p,
                &events,
                claim_phase.as_deref().map(|ph| (n.claim_name.as_str(), ph)),
                obs.previous_logs.get(&p.name).map(String::as_str),
            ),
        };
        let rolling = n
            .workload
            .filter(|w| !facts::workload_current(w))
            .map(|_| "rolling out (its workload has not caught up with its spec)".to_string());
        let beyond = (!spec.is_member(n.index)).then(|| match replica_of(n.index) {
            Some(_) => format!(
                "beyond the cluster's {} read-only replica(s)",
                spec.replicas
            ),
            None => format!("beyond the cluster's {expected} node(s)"),
        });
        let problem = beyond
            .or(pod_problem)
            .or(rolling)
            .or_else(|| judged.trouble.get(&n.index).cloned())
            .or_else(|| {
                let member = judged.members.get(&n.index);
                match member {
                    None if judged.leader.is_some() => Some("not in the cluster's gossip".into()),
                    _ => None,
                }
            });
        rows.push(NodeHealth {
            index: n.index,
            name: n.name.clone(),
            read_only_replica: replica_of(n.index).is_some(),
            ok: problem.is_none(),
            problem,
            disk: disk_row(n),
            disk_use: match &obs.disk_use {
                Some(Ok(found)) => found.get(&n.claim_name).copied(),
                _ => None,
            },
            claim: n.claim.map(|c| ObjectPhase {
                name: n.claim_name.clone(),
                phase: phase_of(c),
            }),
            volume: n.volume.map(|v| ObjectPhase {
                name: name_of(v).to_string(),
                phase: phase_of(v),
            }),
            pod: n.pod.as_ref().map(|p| PodRow {
                name: p.name.clone(),
                phase: p.phase.clone(),
                ready: p.ready,
                restarts: p.restarts,
                node: p.node_name.clone(),
                age_seconds: p.created.map(|c| now - c),
            }),
            member: judged.members.get(&n.index).cloned(),
        });
    }
    let spread = zones::spread(&rows, &obs.nodes, u64::from(expected));
    let mut reasons = judged.reasons;
    if let Some(s) = &spread {
        reasons.extend(zones::reasons(s));
    }
    let verdict = judged
        .verdict
        .unwrap_or(if rows.iter().all(|r| r.ok) && reasons.is_empty() {
            Verdict::Healthy
        } else {
            Verdict::Degraded
        });
    Health {
        warnings: collect_warnings(spec, obs, &nodes, &cluster, now),
        cluster,
        verdict,
        exit_code: verdict.exit_code(),
        leader: judged.leader,
        reasons,
        nodes: rows,
        zones: spread,
    }
}

fn collect_warnings(
    spec: &Spec,
    obs: &Observation,
    nodes: &[Node],
    cluster: &ClusterInfo,
    now: i64,
) -> Vec<String> {
    let secrets: Vec<Value> = obs
        .objects
        .iter()
        .filter(|o| o["kind"] == "Secret")
        .cloned()
        .collect();
    let mut out = warnings::certificates(spec, &secrets, now);
    out.extend(crate::credentials5::default_credentials_warning(
        spec, &secrets,
    ));
    out.extend(warnings::node_count(spec.nodes));
    if let Some(a) = &cluster.anti_affinity {
        out.extend(warnings::spreading(a, spec.nodes));
    }
    match &obs.disks {
        Some(Ok(disks)) => out.extend(warnings::surplus_disks(disks, spec)),
        Some(Err(e)) => out.push(format!(
            "warning: the disks could not be listed, so surplus disks are not shown: {}",
            e.lines().next().unwrap_or("")
        )),
        None => {}
    }
    let volumes: Vec<warnings::Placement> = nodes
        .iter()
        .filter(|n| spec.is_member(n.index))
        .filter_map(|n| {
            let v = n.volume?;
            Some(warnings::Placement {
                node: n.index,
                disk: disk_row(n).map_or_else(|| name_of(v).to_string(), |d| d.name),
                affinity: facts::volume_affinity(v),
            })
        })
        .collect();
    out.extend(warnings::zones_without_nodes(&volumes, &obs.nodes));
    match &obs.disk_use {
        Some(Ok(found)) => out.extend(nodes.iter().filter_map(|n| {
            let size = disk_row(n).and_then(|d| d.size);
            disk_use::warning(&n.name, size.as_deref(), found.get(&n.claim_name)?)
        })),
        Some(Err(e)) => out.push(format!(
            "warning: how full the disks are is not known: {}",
            e.lines().next().unwrap_or("")
        )),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests;

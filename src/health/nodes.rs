//! Each node's pieces before judging: its workload, newest pod, claim, volume and disk, found
//! by the node label, the StatefulSet ordinal or the names esk gives them; and what the record
//! says about the cluster.

use std::collections::BTreeMap;

use serde_json::Value;

use super::facts::{self, label, name_of, PodFacts};
use super::{ClusterInfo, DiskRow, LastBackup, Observation};
use crate::domain::{Disk, Owner, LAST_BACKUP_NAME_KEY, LAST_BACKUP_TIME_KEY};
use crate::manifest::{COMPONENT, NODE_LABEL};
use crate::names::{last_backup_name, pvc_name, record_name};
use crate::record::Record;
use crate::spec::{replica_of, Spec, Workload, REPLICA_BASE};

/// The pieces of one node before judging.
pub struct Node<'a> {
    pub index: u8,
    pub name: String,
    pub workload: Option<&'a Value>,
    pub pod: Option<PodFacts>,
    pub claim: Option<&'a Value>,
    pub claim_name: String,
    pub volume: Option<&'a Value>,
    pub disk: Option<&'a Disk>,
}

fn owner_text(owner: &Owner) -> String {
    match owner {
        Owner::This => "this cluster".into(),
        Owner::Adopted => "adopted".into(),
        Owner::Other(o) => o.clone(),
        Owner::Foreign => "foreign".into(),
    }
}

/// The node (1-based) a node workload or pod belongs to.
fn node_index(spec: &Spec, v: &Value) -> Option<u8> {
    if let Some(i) = label(v, NODE_LABEL).and_then(crate::spec::parse_member) {
        return Some(i);
    }
    // StatefulSet pods: <set>-<ordinal>.
    let ordinal: u8 = name_of(v)
        .strip_prefix(&format!("{}-", spec.name))?
        .parse()
        .ok()?;
    ordinal.checked_add(1)
}

pub fn record_of<'a>(spec: &Spec, objects: &'a [Value]) -> Option<(Record, &'a Value)> {
    let cm = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && name_of(o) == record_name(spec))?;
    let data: BTreeMap<String, String> =
        serde_json::from_value(cm["data"].clone()).unwrap_or_default();
    Record::from_data(&data).map(|r| (r, cm))
}

pub fn cluster_info(spec: &Spec, obs: &Observation, workloads: &[&Value], now: i64) -> ClusterInfo {
    let record = record_of(spec, &obs.objects);
    let stamp = |v: &Value, path: &str| v["metadata"][path].as_str().map(String::from);
    let changed = record.as_ref().and_then(|(_, cm)| {
        cm["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["time"].as_str())
            .max()
            .map(String::from)
            .or_else(|| stamp(cm, "creationTimestamp"))
    });
    let image = workloads
        .iter()
        .find_map(|w| w["spec"]["template"]["spec"]["containers"][0]["image"].as_str());
    let r = record.as_ref().map(|(r, _)| r);
    ClusterInfo {
        name: spec.name.to_string(),
        namespace: spec.namespace.to_string(),
        nodes: r.map_or(spec.nodes.get(), |r| r.nodes),
        read_only_replicas: r.map_or(spec.replicas, |r| r.replicas),
        profile: r.map(|r| r.profile.clone()).filter(|p| !p.is_empty()),
        server_version: image
            .and_then(|i| i.rsplit_once(':'))
            .map(|(_, tag)| tag.trim_start_matches("release-").to_string()),
        cloud: r.map(|r| r.cloud.clone()),
        zone: r.map(|r| r.zone.clone()).filter(|z| !z.is_empty()),
        workload: r.map(|r| r.workload.clone()),
        tls: r.map(|r| r.tls),
        anti_affinity: r.map(|r| r.anti_affinity.clone()).filter(|a| !a.is_empty()),
        created: record
            .as_ref()
            .and_then(|(_, cm)| stamp(cm, "creationTimestamp")),
        changed,
        last_backup: last_backup(spec, obs, now),
    }
}

/// The last backup esk made, from its note (see `backup::last`).
fn last_backup(spec: &Spec, obs: &Observation, now: i64) -> Option<LastBackup> {
    let note = last_backup_name(spec);
    let data = &obs
        .objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && name_of(o) == note)?["data"];
    let name = data[LAST_BACKUP_NAME_KEY]
        .as_str()
        .filter(|n| !n.is_empty())?;
    let created = data[LAST_BACKUP_TIME_KEY].as_str().map(String::from);
    let age_seconds = created
        .as_deref()
        .and_then(super::clock::parse_rfc3339)
        .map(|t| (now - t).max(0));
    Some(LastBackup {
        name: name.to_string(),
        created,
        age_seconds,
    })
}

pub fn gather<'a>(spec: &Spec, obs: &'a Observation) -> Vec<Node<'a>> {
    // Voting nodes and read-only replicas alike: each has a workload, a pod, a disk.
    let is_node = |o: &&Value| matches!(label(o, COMPONENT), Some("node" | "replica"));
    let workloads: Vec<&Value> = obs
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        .filter(is_node)
        .collect();
    let mut pods: BTreeMap<u8, Vec<&Value>> = BTreeMap::new();
    for p in obs
        .objects
        .iter()
        .filter(|o| o["kind"] == "Pod")
        .filter(is_node)
    {
        if let Some(i) = node_index(spec, p) {
            pods.entry(i).or_default().push(p);
        }
    }
    let set = workloads
        .iter()
        .find(|w| w["kind"] == "StatefulSet")
        .copied();
    let set_size = set.map_or(0, |s| s["spec"]["replicas"].as_u64().unwrap_or(0)) as u8;
    let seen: Vec<u8> = workloads
        .iter()
        .filter_map(|w| node_index(spec, w))
        .chain(pods.keys().copied())
        .collect();
    let voting = |i: &u8| replica_of(*i).is_none();
    let highest = seen
        .iter()
        .copied()
        .filter(voting)
        .chain(std::iter::once(set_size))
        .max()
        .unwrap_or(0)
        .max(spec.nodes.get());
    let highest_replica = seen
        .iter()
        .filter_map(|i| replica_of(*i))
        .max()
        .unwrap_or(0)
        .max(spec.replicas);
    let disks: Vec<&Disk> = match &obs.disks {
        Some(Ok(d)) => d.iter().filter(|d| d.owner.is_ours()).collect(),
        _ => Vec::new(),
    };
    (1..=highest)
        .chain((1..=highest_replica).map(|j| REPLICA_BASE + j))
        .map(|i| {
            let workload = match spec.workload {
                Workload::StatefulSet if voting(&i) => set.filter(|_| i <= set_size),
                _ => workloads
                    .iter()
                    .find(|w| w["kind"] == "Deployment" && node_index(spec, w) == Some(i))
                    .copied(),
            };
            // The newest pod that is not going away.
            let pod = pods.get(&i).and_then(|list| {
                let mut facts: Vec<PodFacts> = list.iter().map(|p| PodFacts::from(p)).collect();
                facts.sort_by_key(|f| (!f.deleting, f.created));
                facts.pop()
            });
            let template_claim = workload.and_then(|w| {
                w["spec"]["template"]["spec"]["volumes"]
                    .as_array()?
                    .iter()
                    .find(|v| v["name"] == "data")?["persistentVolumeClaim"]["claimName"]
                    .as_str()
                    .map(String::from)
            });
            let claim_name = pod
                .as_ref()
                .and_then(|p| p.claim.clone())
                .or(template_claim)
                .unwrap_or_else(|| pvc_name(spec, i));
            let claim = obs.claims.iter().find(|c| name_of(c) == claim_name);
            let volume_name = claim.and_then(|c| c["spec"]["volumeName"].as_str());
            let volume = volume_name.and_then(|n| obs.volumes.iter().find(|v| name_of(v) == n));
            let disk = disks
                .iter()
                .find(|d| d.node == Some(i))
                .or_else(|| disks.iter().find(|d| d.name == spec.disk_name(i)))
                .copied();
            Node {
                index: i,
                name: spec.node_name(i),
                workload,
                pod,
                claim,
                claim_name,
                volume,
                disk,
            }
        })
        .collect()
}

pub fn disk_row(n: &Node) -> Option<DiskRow> {
    // What the claim reports it has (a grown disk counts once its file system has grown),
    // else what the volume offers, else what the claim asked for.
    let size = n
        .claim
        .and_then(|c| c["status"]["capacity"]["storage"].as_str())
        .or_else(|| {
            n.volume
                .and_then(|v| v["spec"]["capacity"]["storage"].as_str())
        })
        .or_else(|| {
            n.claim
                .and_then(|c| c["spec"]["resources"]["requests"]["storage"].as_str())
        })
        .map(String::from);
    let zone = n
        .volume
        .map(facts::volume_affinity)
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|(_, values)| values.join(","));
    match n.disk {
        Some(d) => Some(DiskRow {
            name: d.name.clone(),
            id: d.id.clone(),
            size,
            zone: zone.or_else(|| Some(d.source.topology_value.clone()).filter(|z| !z.is_empty())),
            owner: owner_text(&d.owner),
        }),
        // Not listed: what the volume says (the handle names the disk).
        None => n.volume.map(|v| {
            let handle = v["spec"]["csi"]["volumeHandle"]
                .as_str()
                .or(v["spec"]["local"]["path"].as_str())
                .unwrap_or("");
            DiskRow {
                name: handle.rsplit('/').next().unwrap_or(handle).to_string(),
                id: String::new(),
                size,
                zone,
                owner: "unknown (disks not listed)".into(),
            }
        }),
    }
}

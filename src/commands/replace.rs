//! `esk node replace I` and `esk node move I --zone Z` (dispatched by `node.rs`): the cluster
//! is read (its record, each node's health from gossip, its disks), the replacement planned
//! (`plan::replace`: refused, with nothing changed, when the others would lose quorum or node
//! I is the healthy leader), confirmed, and carried out under the cluster lock
//! (`execute::replace`).

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::confirm::confirm_change;
use super::existing::{found, open};
use super::session::Session;
use crate::backup::{backup_name, choose_node, Member as BackupMember};
use crate::cli::{json_output, Global, ReplaceArgs};
use crate::domain::{Disk, Placement};
use crate::error::{Refused, UsageError};
use crate::execute::replace::Replacer;
use crate::health::{self, clock, observe};
use crate::plan::replace::{self, Cluster, Contents, Member, ReplacePlan, Request};
use crate::render::NodeDisk;
use crate::report::Reporter;
use crate::roll::restart_plan::node_index;
use crate::spec::{Cloud, Name, Workload};

/// Where the new disk's data comes from, as asked.
pub(super) enum How {
    Empty,
    Backup(String),
    /// A fresh snapshot of an up-to-date follower (the default).
    Fresh,
    /// `node move`: a fresh snapshot of node I's own disk.
    Move,
}

pub(super) fn run(
    g: &Global,
    raw: &str,
    how: How,
    args: &ReplaceArgs,
    report: &Reporter,
) -> Result<()> {
    // Every flag is checked before anything runs.
    node_index(raw, crate::spec::NodeCount::MAX)?;
    let json = json_output(&args.output)?;
    if let How::Backup(name) = &how {
        Name::parse("backup name", name, 63)?;
    }
    if matches!(how, How::Move) && g.zone.is_none() {
        return Err(UsageError::new("node move needs --zone: the zone to move the node to").into());
    }
    let (base, kubectl, _) = open(g)?;
    // The lock first: the health the refusals read must still hold when the run acts.
    let lock = if args.dry_run {
        None
    } else {
        super::session::try_lock(&kubectl, &base, g, report)?
    };
    let objects = observe::read_objects(&kubectl, &base)?;
    let spec = found(g, base, &objects)?;
    let i = node_index(raw, spec.nodes.get())?;
    if !matches!(spec.cloud, Cloud::Gke | Cloud::Aws) || spec.workload != Workload::Deployment {
        return Err(Refused::new(
            "node replace makes a cloud disk for one node's Deployment: it needs --cloud gke or \
             aws and the default per-node Deployments",
        )
        .into());
    }
    let proxy = kubectl.proxy()?;
    let obs = observe::observe(&kubectl, &proxy, &spec)?;
    drop(proxy);
    let h = health::assess(&spec, &obs, clock::now());
    let voting: Vec<&health::NodeHealth> =
        h.nodes.iter().filter(|n| !n.read_only_replica).collect();
    let members: Vec<Member> = voting
        .iter()
        .map(|n| Member {
            index: n.index,
            name: n.name.clone(),
            ok: n.ok,
            leader: h.leader.as_deref() == Some(n.name.as_str()),
        })
        .collect();
    let gossip: Vec<BackupMember> = voting
        .iter()
        .filter(|n| n.index != i || matches!(how, How::Move))
        .map(|n| BackupMember {
            index: n.index,
            state: n.member.as_ref().map(|m| m.state.clone()),
            alive: n.member.as_ref().is_some_and(|m| m.alive),
            writer_checkpoint: n.member.as_ref().and_then(|m| m.writer_checkpoint),
        })
        .collect();
    let snapshot_of = choose_node(&gossip, spec.nodes.get()).ok();
    if matches!(how, How::Move) && !members.iter().any(|m| m.index == i && m.ok) {
        return Err(Refused::new(format!(
            "node {i} is not healthy, so its data cannot be copied (is its zone down?): use \
             `esk node replace {i}` (--empty, --from-backup NAME, or a follower's snapshot)"
        ))
        .into());
    }

    // The disks, the templates and the zones, as create sees them.
    let mut s = Session::open(g, spec.nodes, report, false)?;
    let (kube_id, location) = (s.spec.kube_id.clone(), s.spec.location.clone());
    s.spec = spec.clone();
    s.spec.kube_id = kube_id;
    s.spec.location = location;
    let stem = s.spec.disk_name(i);
    let candidates: Vec<String> = (1..=9).map(|k| format!("{stem}-r{k}")).collect();
    let observed = s.observe(&candidates, false)?;
    let record = observed
        .record
        .clone()
        .ok_or_else(|| super::existing::not_found(&s.spec))?;
    let voters: Vec<u8> = s.spec.members().collect();
    let (placement, _) = crate::domain::place_nodes(
        &s.spec.location.zones,
        &voters,
        &observed.disks,
        &record.node_zones,
    );
    let current_zone = placement
        .nodes
        .get(&i)
        .cloned()
        .unwrap_or_else(|| s.zone.clone());
    let now = clock::now();
    let snapshot_name = backup_name(&s.spec, None, now)?;
    let contents = match &how {
        How::Empty => Some(Contents::Empty),
        How::Backup(name) => Some(Contents::Backup(name.clone())),
        How::Fresh => None,
        How::Move => Some(Contents::Snapshot {
            of: i,
            name: snapshot_name.clone(),
        }),
    };
    let cluster = Cluster {
        name: s.spec.name.as_str(),
        members: &members,
        disks: &observed.disks,
        disk_stem: stem,
        current_zone,
        zones: &record.zones,
        replacing: record.replacing.as_ref(),
        snapshot_of,
        snapshot_name,
    };
    let request = Request {
        node: i,
        zone: g.zone.clone(),
        contents,
        force: g.force,
    };
    let plan = replace::plan(&cluster, &request)?;
    if let Contents::Backup(name) = &plan.contents {
        if !plan.new_exists && !s.disks.list_backups()?.iter().any(|b| b.name == *name) {
            return Err(UsageError::new(format!(
                "no backup {name} of cluster {} (`esk backup list`)",
                s.spec.name
            ))
            .into());
        }
    }
    if !json {
        print!("{plan}");
    }
    if args.dry_run {
        if json {
            println!("{:#}", document(&plan, None, true));
        } else {
            println!("Dry run: nothing was changed.");
        }
        return Ok(());
    }
    confirm_change(
        g.yes,
        &format!(
            "Replace the disk of node {i} with {} and restart node {i} on it?",
            plan.new_disk
        ),
        &format!("replace node {i}'s disk"),
    )?;
    let storage = |disk: &Disk| -> Result<Vec<crate::manifest::Manifest>> {
        let nodes = [NodeDisk {
            index: i,
            source: disk.source.clone(),
            claim: None,
            volume_capacity: None,
        }];
        let rendered = s.templates.render(&s.spec, &nodes)?;
        Ok(rendered
            .into_iter()
            .filter(|m| {
                matches!(
                    m.object.kind.as_str(),
                    "PersistentVolume" | "PersistentVolumeClaim"
                ) && m.node() == Some(i)
            })
            .collect())
    };
    let restore = |backup: &crate::domain::Backup, objects: &[crate::manifest::Manifest]| {
        super::restore::run_restore(&s.kubectl, &s.spec, backup, objects)
    };
    let replacer = Replacer {
        spec: &s.spec,
        kubectl: &s.kubectl,
        disks: s.disks.as_ref(),
        report,
        timeout: Duration::from_secs(args.timeout),
        lock: lock.as_ref(),
        record,
        placement: placed(placement),
    };
    let new = replacer.run(&plan, &observed.disks, &storage, &restore)?;
    if json {
        println!("{:#}", document(&plan, Some(&new), false));
    } else {
        let old = plan.old.as_ref().map_or(String::new(), |d| {
            format!("; old disk {} kept, labelled esk-replaced={i}", d.name)
        });
        println!(
            "esk: replaced node {i}'s disk of cluster {} in namespace {}: new disk {} in zone \
             {}{old}",
            s.spec.name, s.spec.namespace, new.name, new.source.topology_value
        );
    }
    Ok(())
}

/// A one-zone cluster's placement is empty: its adapter keeps its one zone.
fn placed(p: Placement) -> Placement {
    if p.zones.len() < 2 {
        Placement::default()
    } else {
        p
    }
}

/// The `-o json` document: the plan and, once done, the new disk.
fn document(plan: &ReplacePlan, new: Option<&Disk>, dry_run: bool) -> serde_json::Value {
    let contents = match &plan.contents {
        Contents::Empty => json!({"empty": true}),
        Contents::Backup(n) => json!({"backup": n}),
        Contents::Snapshot { of, name } => json!({"snapshotOf": of, "backup": name}),
    };
    json!({
        "cluster": plan.cluster,
        "node": plan.node,
        "newDisk": plan.new_disk,
        "zone": plan.zone,
        "contents": contents,
        "oldDisk": plan.old.as_ref().map(|d| d.name.clone()),
        "resumed": plan.resumed,
        "dryRun": dry_run,
        "done": new.is_some(),
    })
}

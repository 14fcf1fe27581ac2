//! `esk backup create|list|delete` and the checks of `esk create --from-backup`. A backup is
//! one disk snapshot of one up-to-date node (the vendor backs up one node and restores any
//! number of nodes from it), labelled with the cluster's identity; esk lists and deletes only
//! snapshots that carry this cluster's labels.

use anyhow::{Context, Result};
use serde_json::json;

use super::session::Session;
use crate::backup::{backup_name, beyond_keep, choose_node, last, BackupPlan, Member};
use crate::cli::{BackupVerb, Global};
use crate::domain::Backup;
use crate::domain::LAST_BACKUP_NAME_KEY;
use crate::error::{Refused, UsageError};
use crate::health::{self, clock, observe};
use crate::manifest::ObjectRef;
use crate::names::last_backup_name;
use crate::plan::Observed;
use crate::report::Reporter;
use crate::spec::{Name, NodeCount};

pub(super) fn run(g: &Global, verb: &BackupVerb, report: &Reporter) -> Result<()> {
    match verb {
        BackupVerb::Create {
            backup: name,
            node,
            keep,
            dry_run,
        } => {
            // Every flag is checked before anything runs.
            if let Some(n) = name {
                Name::parse("backup name", n, 63)?;
            }
            let node = node.as_deref().map(node_index).transpose()?;
            let keep = keep.as_deref().map(keep_count).transpose()?;
            create(g, report, name.as_deref(), node, keep, *dry_run)
        }
        BackupVerb::List { output } => list(g, report, crate::cli::json_output(output)?),
        BackupVerb::Delete {
            backup: name,
            dry_run,
        } => {
            Name::parse("backup name", name, 63)?;
            delete(g, report, name, *dry_run)
        }
    }
}

fn node_index(raw: &str) -> Result<u8, UsageError> {
    raw.parse::<u8>()
        .ok()
        .filter(|i| (1..=99).contains(i))
        .ok_or_else(|| {
            UsageError::new(format!(
                "--node takes a node number from 1 to 99, got \"{}\"",
                raw.escape_debug()
            ))
        })
}

fn keep_count(raw: &str) -> Result<usize, UsageError> {
    raw.parse::<usize>()
        .ok()
        .filter(|k| *k >= 1)
        .ok_or_else(|| {
            UsageError::new(format!(
                "--keep takes a number of backups of at least 1, got \"{}\"",
                raw.escape_debug()
            ))
        })
}

/// The session and what exists; the cluster must exist (its record gives the node count).
fn open<'a>(g: &Global, report: &'a Reporter) -> Result<Session<'a>> {
    Session::open(g, NodeCount::new(1)?, report, false)
}

fn observe_cluster(s: &mut Session) -> Result<Observed> {
    let observed = s.observe(&[], true)?;
    let Some(record) = &observed.record else {
        return Err(Refused::new(format!(
            "no cluster {} in namespace {}: nothing to back up",
            s.spec.name, s.spec.namespace
        ))
        .into());
    };
    s.spec.nodes = NodeCount::new(record.nodes)?;
    Ok(observed)
}

/// The lock for a mutating run (none for --dry-run); the namespace must exist.
fn lock(s: &Session, g: &Global, dry_run: bool) -> Result<Option<crate::lock::ClusterLock>> {
    if dry_run {
        return Ok(None);
    }
    match s.try_lock(g)? {
        Some(l) => Ok(Some(l)),
        None => Err(Refused::new(format!(
            "namespace {} does not exist: there is no cluster {} to back up",
            s.spec.namespace, s.spec.name
        ))
        .into()),
    }
}

/// Each node's gossip state, read through the API server's pod proxy.
fn members(s: &Session, g: &Global) -> Result<Vec<Member>> {
    let proxy = s.kubectl.proxy()?;
    let mut obs = observe::read_objects(&s.kubectl, &s.spec)?;
    // The record says how the nodes serve gossip (TLS or not), as for `esk status`.
    let spec = super::existing::resolve(g, s.spec.clone(), &obs)?;
    observe::read_gossip(&proxy, &spec, &mut obs);
    let h = health::assess(&spec, &obs, clock::now());
    Ok(h.nodes
        .iter()
        .map(|n| Member {
            index: n.index,
            state: n.member.as_ref().map(|m| m.state.clone()),
            alive: n.member.as_ref().is_some_and(|m| m.alive),
            writer_checkpoint: n.member.as_ref().and_then(|m| m.writer_checkpoint),
        })
        .collect())
}

fn create(
    g: &Global,
    report: &Reporter,
    name: Option<&str>,
    node: Option<u8>,
    keep: Option<usize>,
    dry_run: bool,
) -> Result<()> {
    let mut s = open(g, report)?;
    let now = clock::now();
    let name = backup_name(&s.spec, name, now)?;
    let lock = lock(&s, g, dry_run)?;
    let observed = observe_cluster(&mut s)?;
    let node = match node {
        Some(i) if i > s.spec.nodes.get() => {
            return Err(UsageError::new(format!(
                "--node {i}: cluster {} has {} node(s)",
                s.spec.name, s.spec.nodes
            ))
            .into())
        }
        Some(i) => i,
        None => {
            let members = members(&s, g).map_err(|e| {
                Refused::new(format!(
                    "cannot read the nodes' gossip ({}); pass --node I to pick the node",
                    format!("{e:#}").lines().next().unwrap_or("")
                ))
            })?;
            choose_node(&members, s.spec.nodes.get())?
        }
    };
    let disk = observed
        .disks
        .iter()
        .find(|d| d.owner.is_ours() && d.node == Some(node))
        .with_context(|| format!("node {node} of cluster {} has no disk", s.spec.name))?
        .clone();
    let existing = s.disks.list_backups()?;
    if existing.iter().any(|b| b.name == name) {
        return Err(UsageError::new(format!("backup {name} already exists")).into());
    }
    let new = Backup {
        name: name.clone(),
        id: String::new(),
        node: Some(node),
        created: now,
        status: String::new(),
    };
    let plan = BackupPlan {
        title: format!(
            "back up cluster {} in namespace {} ({} node(s) on {})",
            s.spec.name, s.spec.namespace, s.spec.nodes, s.spec.cloud
        ),
        create: Some((name.clone(), node, disk.name.clone())),
        delete: keep.map_or_else(Vec::new, |k| beyond_keep(&existing, Some(&new), k)),
        warnings: s.notes.clone(),
    };
    if dry_run {
        print!("{plan}");
        println!("Dry run: nothing was changed.");
        return Ok(());
    }
    let check = || lock.as_ref().map_or(Ok(()), |l| l.check());
    check()?;
    let made = report.step(&format!("snapshotting disk {}", disk.name), || {
        s.disks.snapshot(&disk, node, &name)
    })?;
    let mut line = format!(
        "esk: backed up cluster {} in namespace {}: backup {name} ({}) of node {node}'s disk {}",
        s.spec.name, s.spec.namespace, made.id, disk.name
    );
    // Never the backup just made, whatever the clocks say.
    let doomed: Vec<Backup> = plan.delete.into_iter().filter(|b| b.name != name).collect();
    if !doomed.is_empty() {
        check()?;
        let label = format!("deleting {} old backup(s)", doomed.len());
        report
            .step(&label, || s.disks.delete_backups(&doomed))
            .map_err(|e| e.context(format!("backup {name} was made; {label} failed")))?;
        let names: Vec<&str> = doomed.iter().map(|b| b.name.as_str()).collect();
        line.push_str(&format!("; deleted old backups {}", names.join(", ")));
    }
    println!("{line}");
    if let Err(e) = s.kubectl.apply(&[last::note(&s.spec, &name, now)]) {
        report.warn(&format!(
            "backup {name} was made, but status will not show it as the last backup: {}",
            format!("{e:#}").lines().next().unwrap_or("")
        ));
    }
    Ok(())
}

fn list(g: &Global, report: &Reporter, json: bool) -> Result<()> {
    let s = open(g, report)?;
    let mut backups = s.disks.list_backups()?;
    backups.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    let time = |b: &Backup| clock::rfc3339(b.created);
    if json {
        let items: Vec<_> = backups
            .iter()
            .map(|b| {
                json!({"name": b.name, "id": b.id, "node": b.node, "created": time(b),
                       "status": b.status})
            })
            .collect();
        let doc = json!({
            "cluster": {"name": s.spec.name.as_str(), "namespace": s.spec.namespace.as_str(),
                        "cloud": s.spec.cloud.to_string()},
            "backups": items,
        });
        println!("{doc:#}");
        return Ok(());
    }
    if backups.is_empty() {
        println!(
            "no backups of cluster {} in namespace {}",
            s.spec.name, s.spec.namespace
        );
        return Ok(());
    }
    println!(
        "{:<40} {:<5} {:<21} {:<10} ID",
        "NAME", "NODE", "CREATED", "STATUS"
    );
    for b in &backups {
        let node = b.node.map_or("-".into(), |n| n.to_string());
        println!(
            "{:<40} {node:<5} {:<21} {:<10} {}",
            b.name,
            time(b),
            b.status,
            b.id
        );
    }
    Ok(())
}

fn delete(g: &Global, report: &Reporter, name: &str, dry_run: bool) -> Result<()> {
    let s = open(g, report)?;
    let lock = lock(&s, g, dry_run)?;
    let backup = find(&s, name)?;
    let plan = BackupPlan {
        title: format!(
            "delete a backup of cluster {} in namespace {}",
            s.spec.name, s.spec.namespace
        ),
        create: None,
        delete: vec![backup.clone()],
        warnings: Vec::new(),
    };
    if dry_run {
        print!("{plan}");
        println!("Dry run: nothing was changed.");
        return Ok(());
    }
    confirm(&backup, g.yes)?;
    if let Some(l) = &lock {
        l.check()?;
    }
    report.step(&format!("deleting backup {name}"), || {
        s.disks.delete_backups(std::slice::from_ref(&backup))
    })?;
    println!(
        "esk: deleted backup {name} ({}) of cluster {} in namespace {}",
        backup.id, s.spec.name, s.spec.namespace
    );
    forget_last_backup(&s, name);
    Ok(())
}

/// When the note names `name` as the last backup, it goes (status would show a backup that
/// is gone); best effort, as the backup is deleted either way.
fn forget_last_backup(s: &Session, name: &str) {
    let note = last_backup_name(&s.spec);
    let names_it = s
        .kubectl
        .get_json(&[format!("configmap/{note}"), "--ignore-not-found".into()])
        .is_ok_and(|cm| cm["data"][LAST_BACKUP_NAME_KEY] == name);
    if names_it {
        let _ = s.kubectl.delete(&[ObjectRef {
            kind: "ConfigMap".into(),
            name: note,
        }]);
    }
}

/// This cluster's backup called `name`; another cluster's or a foreign snapshot is not found.
fn find(s: &Session, name: &str) -> Result<Backup> {
    s.disks
        .list_backups()?
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| {
            UsageError::new(format!(
                "no backup {name} of cluster {} in namespace {} (`esk backup list` shows them)",
                s.spec.name, s.spec.namespace
            ))
            .into()
        })
}

/// Deleting a backup destroys data, as deleting a disk does: the same rule.
fn confirm(backup: &Backup, yes: bool) -> Result<()> {
    super::confirm::confirm_deletion(
        yes,
        &format!("backup {}", backup.name),
        &format!("Delete backup {} ({})?", backup.name, backup.id),
        "backup deletion",
    )
}

/// `create --from-backup NAME`: the backup must be this cluster's; from here on the adapter
/// makes every disk from its snapshot.
pub(super) fn prepare_restore(s: &mut Session, name: &str) -> Result<()> {
    Name::parse("backup name", name, 63)?;
    let backup = find(s, name)?;
    s.disks.restore_from(&backup)?;
    s.restore = Some(backup.clone());
    s.notes.push(format!(
        "every disk is made from backup {name} ({}, a snapshot of node {}'s disk)",
        backup.id,
        backup.node.map_or("?".into(), |n| n.to_string())
    ));
    Ok(())
}

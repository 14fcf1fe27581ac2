//! `esk node replace I` and `esk node move I`, the pure part: whether node I may be taken off
//! its disk now (the other voting nodes must keep a quorum while it catches up; a healthy
//! leader resigns first), which new disk it gets (name, zone, contents) and what happens to the
//! old one (kept, labelled replaced). A replacement the record says is under way is resumed
//! with the same new disk, so a re-run never makes a second one.

use std::fmt;

use crate::domain::{quorum, Disk};
use crate::error::{Refused, UsageError};
use crate::record::Replacing;

/// One voting node as the cluster shows it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub index: u8,
    pub name: String,
    /// Healthy: Ready and in gossip as a Leader or Follower.
    pub ok: bool,
    pub leader: bool,
}

/// What the new disk holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Nothing: the node catches up from the leader. The leader subscribes a replica with no
    /// epochs at log position 0 from the start of its log (`GetValidLogPosition` in
    /// src/KurrentDB.Core/Services/Replication/LeaderReplicationService.cs, KurrentDB v25.1.0),
    /// so a node may join with an empty disk.
    Empty,
    /// A backup esk made (`esk backup list`).
    Backup(String),
    /// A fresh snapshot of node `of`'s disk, made first as backup `name`.
    Snapshot { of: u8, name: String },
}

/// What `node replace` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub node: u8,
    /// `--zone`: None keeps the node's zone.
    pub zone: Option<String>,
    /// `--empty`, `--from-backup NAME`, or None: a fresh snapshot of an up-to-date follower.
    pub contents: Option<Contents>,
    pub force: bool,
}

/// The cluster as the plan needs it.
pub struct Cluster<'a> {
    pub name: &'a str,
    /// Voting nodes only.
    pub members: &'a [Member],
    pub disks: &'a [Disk],
    /// Node I's disk name when it has none (`spec.disk_name(I)`), the stem of new names.
    pub disk_stem: String,
    /// Node I's zone now (its disk's, else the record's, else the cluster's one zone).
    pub current_zone: String,
    /// The zones the cluster spreads over (the record's); empty for a one-zone cluster.
    pub zones: &'a [String],
    pub replacing: Option<&'a Replacing>,
    /// The follower a fresh snapshot would be taken of (None: there is no up-to-date one).
    pub snapshot_of: Option<u8>,
    /// The name a fresh snapshot gets.
    pub snapshot_name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReplacePlan {
    pub cluster: String,
    pub node: u8,
    pub node_name: String,
    /// The disk node I uses now, to be labelled replaced (None: already done, or lost).
    pub old: Option<Disk>,
    pub new_disk: String,
    /// Whether the new disk exists already (a resumed run).
    pub new_exists: bool,
    pub zone: String,
    pub contents: Contents,
    /// A run the record says was under way.
    pub resumed: bool,
}

impl ReplacePlan {
    /// What the record keeps while the replacement runs.
    pub fn replacing(&self) -> Replacing {
        Replacing {
            node: self.node,
            disk: self.new_disk.clone(),
            zone: self.zone.clone(),
            from: match &self.contents {
                Contents::Empty => String::new(),
                Contents::Backup(n) | Contents::Snapshot { name: n, .. } => n.clone(),
            },
        }
    }
}

/// Plans the replacement of node `req.node`, or says why not (nothing is changed either way).
pub fn plan(cluster: &Cluster, req: &Request) -> anyhow::Result<ReplacePlan> {
    let i = req.node;
    let me = cluster.members.iter().find(|m| m.index == i);
    let node_name = me.map_or_else(|| format!("node {i}"), |m| m.name.clone());
    let resuming = cluster.replacing.filter(|r| r.node == i);
    if let Some(other) = cluster.replacing.filter(|r| r.node != i) {
        return Err(Refused::new(format!(
            "the replacement of node {} is under way: finish it first (`esk node replace {}`)",
            other.node, other.node
        ))
        .into());
    }
    // The others must keep a quorum while node I is down and catching up.
    let voting = cluster.members.len() as u64;
    let others_ok: Vec<&Member> = cluster
        .members
        .iter()
        .filter(|m| m.index != i && m.ok)
        .collect();
    let need = quorum(voting);
    if (others_ok.len() as u64) < need && !req.force {
        let down: Vec<&str> = cluster
            .members
            .iter()
            .filter(|m| m.index != i && !m.ok)
            .map(|m| m.name.as_str())
            .collect();
        let down = if down.is_empty() {
            String::new()
        } else {
            format!(" ({} not healthy)", down.join(", "))
        };
        return Err(Refused::new(format!(
            "replacing {node_name} would leave cluster {} without quorum while it catches up: \
             {} of the other {} voting node(s) are healthy, {need} are needed{down}; nothing \
             was changed (--force replaces it anyway)",
            cluster.name,
            others_ok.len(),
            voting.saturating_sub(1)
        ))
        .into());
    }
    if me.is_some_and(|m| m.ok && m.leader) && !req.force {
        return Err(Refused::new(format!(
            "{node_name} is the cluster's healthy leader: make it resign first (`esk node \
             restart {i}` hands the leadership over), or pass --force; nothing was changed"
        ))
        .into());
    }
    let zone = match (&req.zone, resuming) {
        (_, Some(r)) => r.zone.clone(),
        (Some(z), None) if cluster.zones.is_empty() && *z != cluster.current_zone => {
            return Err(UsageError::new(format!(
                "cluster {} is in one zone ({}): --zone {z} needs a cluster spread over zones \
                 (create --zones)",
                cluster.name, cluster.current_zone
            ))
            .into())
        }
        (Some(z), None) if !cluster.zones.is_empty() && !cluster.zones.contains(z) => {
            return Err(UsageError::new(format!(
                "--zone {z} is not one of the cluster's zones ({})",
                cluster.zones.join(", ")
            ))
            .into())
        }
        (Some(z), None) => z.clone(),
        (None, None) => cluster.current_zone.clone(),
    };
    let contents = match (resuming, &req.contents) {
        (Some(r), _) if r.from.is_empty() => Contents::Empty,
        // Resumed: the recorded backup (made already, or still to snapshot from the node asked
        // now, else from an up-to-date follower).
        (Some(r), _) => match (&req.contents, cluster.snapshot_of.as_ref()) {
            (Some(Contents::Snapshot { of, .. }), _) | (_, Some(of)) => Contents::Snapshot {
                of: *of,
                name: r.from.clone(),
            },
            _ => Contents::Backup(r.from.clone()),
        },
        (None, Some(c)) => c.clone(),
        (None, None) => {
            let leader = cluster.members.iter().any(|m| m.leader && m.ok);
            match cluster.snapshot_of.filter(|j| *j != i) {
                Some(of) if leader => Contents::Snapshot {
                    of,
                    name: cluster.snapshot_name.clone(),
                },
                _ => {
                    return Err(Refused::new(format!(
                        "cluster {} has no leader with an up-to-date follower to snapshot: pass \
                         --empty (node {i} catches up from the leader once there is one) or \
                         --from-backup NAME",
                        cluster.name
                    ))
                    .into())
                }
            }
        }
    };
    let ours = |d: &&Disk| d.owner.is_ours();
    let new_disk = match resuming {
        Some(r) => r.disk.clone(),
        None => (1..=99)
            .map(|k| format!("{}-r{k}", cluster.disk_stem))
            .find(|n| !cluster.disks.iter().any(|d| d.name == *n))
            .ok_or_else(|| Refused::new(format!("node {i} has 99 replaced disks: prune some")))?,
    };
    if new_disk.len() > 63 {
        return Err(UsageError::new(format!(
            "the new disk's name {new_disk} is longer than 63 characters: use a shorter --name"
        ))
        .into());
    }
    let existing = cluster.disks.iter().find(|d| d.name == new_disk);
    if let Some(d) = existing.filter(|d| !d.owner.is_ours()) {
        return Err(Refused::new(format!(
            "disk {} exists and is not this cluster's: esk leaves it alone",
            d.name
        ))
        .into());
    }
    let old = cluster
        .disks
        .iter()
        .filter(ours)
        .find(|d| d.node == Some(i) && d.replaced.is_none() && d.name != new_disk)
        .cloned();
    Ok(ReplacePlan {
        cluster: cluster.name.to_string(),
        node: i,
        node_name,
        old,
        new_exists: existing.is_some(),
        new_disk,
        zone,
        contents,
        resumed: resuming.is_some(),
    })
}

impl fmt::Display for ReplacePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let again = if self.resumed {
            " (resuming the run that was interrupted)"
        } else {
            ""
        };
        writeln!(
            f,
            "Replace the disk of {} (node {}) of cluster {}{again}:",
            self.node_name, self.node, self.cluster
        )?;
        let zone = if self.zone.is_empty() {
            String::new()
        } else {
            format!(" in zone {}", self.zone)
        };
        let made = if self.new_exists {
            "exists"
        } else {
            "to create"
        };
        let from = match &self.contents {
            Contents::Empty => "empty: the node catches up from the leader".to_string(),
            Contents::Backup(n) => format!("from backup {n}, then the restore step"),
            Contents::Snapshot { of, name } => {
                format!("from a fresh snapshot {name} of node {of}'s disk, then the restore step")
            }
        };
        writeln!(f, "  new disk {}{zone} ({made}), {from}", self.new_disk)?;
        match &self.old {
            Some(d) => writeln!(
                f,
                "  old disk {} kept, labelled esk-replaced={} (`esk disks prune` deletes it)",
                d.name, self.node
            )?,
            None => writeln!(f, "  old disk: already labelled replaced, or gone")?,
        }
        writeln!(
            f,
            "  node {} stops, its volume and claim are made again on the new disk, it starts \
             and catches up until it follows the leader",
            self.node
        )
    }
}

#[cfg(test)]
mod tests;

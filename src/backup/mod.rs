//! Backups as disk snapshots, the pure parts: what a backup is, its name, which node to
//! snapshot, which old backups `--keep` removes, and the plan `--dry-run` prints.

pub mod last;
pub mod restore;

use std::fmt;

use crate::domain::Backup;
use crate::error::{Refused, UsageError};
use crate::spec::{Name, Spec};

/// NAME, or `<cluster>-YYYYMMDD-HHMMSS` (UTC) for `now` (seconds since the epoch).
pub fn backup_name(spec: &Spec, given: Option<&str>, now: i64) -> Result<String, UsageError> {
    match given {
        Some(n) => Ok(Name::parse("backup name", n, 63)?.to_string()),
        None => {
            // 2026-12-02T05:31:34Z → 20261202-053134
            let stamp: String = crate::health::clock::rfc3339(now)
                .chars()
                .filter_map(|c| match c {
                    '-' | ':' | 'Z' => None,
                    'T' => Some('-'),
                    c => Some(c),
                })
                .collect();
            Ok(format!("{}-{stamp}", spec.name))
        }
    }
}

/// One node's part of the cluster as its gossip shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub index: u8,
    /// The gossip state (`Follower`, `Leader`, …; 5.x `Slave`, `Master`), None if unread.
    pub state: Option<String>,
    pub alive: bool,
    pub writer_checkpoint: Option<i64>,
}

/// The vendor's guidance: back up one node that is up to date and connected to the cluster.
/// A follower with the highest writer checkpoint (the lowest index on a tie); the leader only
/// in a one-node cluster; a read-only replica is not chosen (it may lag).
pub fn choose_node(members: &[Member], cluster_size: u8) -> Result<u8, Refused> {
    let follower = |s: &str| matches!(s, "Follower" | "Slave");
    let best = members
        .iter()
        .filter(|m| m.alive && m.state.as_deref().is_some_and(follower))
        .max_by_key(|m| {
            (
                m.writer_checkpoint.unwrap_or(-1),
                std::cmp::Reverse(m.index),
            )
        });
    if let Some(m) = best {
        return Ok(m.index);
    }
    let leader = |s: &str| matches!(s, "Leader" | "Master");
    if cluster_size == 1 {
        if let Some(m) = members
            .iter()
            .find(|m| m.alive && m.state.as_deref().is_some_and(leader))
        {
            return Ok(m.index);
        }
    }
    let seen: Vec<String> = members
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m.index,
                m.state.as_deref().unwrap_or("unreadable")
            )
        })
        .collect();
    Err(Refused::new(format!(
        "no up-to-date follower to back up (gossip: {}); pass --node I to pick one",
        if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        }
    )))
}

/// The oldest of esk's own backups beyond the newest `keep` (the new one included).
pub fn beyond_keep(existing: &[Backup], new: Option<&Backup>, keep: usize) -> Vec<Backup> {
    let mut all: Vec<&Backup> = existing.iter().chain(new).collect();
    // Newest first; the name breaks ties the same way every time.
    all.sort_by(|a, b| (b.created, &b.name).cmp(&(a.created, &a.name)));
    all.into_iter().skip(keep).cloned().collect()
}

/// What `backup create` or `backup delete` will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupPlan {
    pub title: String,
    /// (backup name, node, disk name) of the snapshot to make.
    pub create: Option<(String, u8, String)>,
    pub delete: Vec<Backup>,
    pub warnings: Vec<String>,
}

impl fmt::Display for BackupPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Plan: {}", self.title)?;
        if let Some((name, node, disk)) = &self.create {
            writeln!(f, "  + snapshot {name} of disk {disk} (node {node})")?;
        }
        for b in &self.delete {
            let node = b.node.map_or("?".into(), |n| n.to_string());
            writeln!(f, "  - delete backup {} ({}, node {node})", b.name, b.id)?;
        }
        if self.create.is_none() && self.delete.is_empty() {
            writeln!(f, "  nothing to do")?;
        }
        for w in &self.warnings {
            writeln!(f, "{w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(index: u8, state: &str, wc: i64) -> Member {
        Member {
            index,
            state: Some(state.into()),
            alive: true,
            writer_checkpoint: Some(wc),
        }
    }

    fn backup(name: &str, created: i64) -> Backup {
        Backup {
            name: name.into(),
            id: name.into(),
            node: Some(2),
            created,
            status: "READY".into(),
        }
    }

    #[test]
    fn chooses_the_most_caught_up_follower_never_the_leader_of_a_cluster() {
        let m = [
            member(1, "Leader", 90),
            member(2, "Follower", 70),
            member(3, "Follower", 80),
        ];
        assert_eq!(choose_node(&m, 3), Ok(3));
        let tie = [
            member(1, "Leader", 9),
            member(2, "Follower", 9),
            member(3, "Follower", 9),
        ];
        assert_eq!(choose_node(&tie, 3), Ok(2));
        let lonely = [member(1, "Leader", 9), member(2, "CatchingUp", 9)];
        assert!(
            choose_node(&lonely, 3).is_err(),
            "a catching-up node is not up to date"
        );
        assert_eq!(choose_node(&[member(1, "Leader", 5)], 1), Ok(1));
        let mut dead = member(2, "Follower", 99);
        dead.alive = false;
        assert!(choose_node(&[member(1, "Leader", 1), dead], 3).is_err());
        let old = [member(1, "Master", 1), member(2, "Slave", 1)];
        assert_eq!(choose_node(&old, 2), Ok(2));
    }

    #[test]
    fn the_default_name_is_the_cluster_and_the_utc_time() {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            g: crate::cli::Global,
        }
        let spec = <Args as clap::Parser>::parse_from(["esk", "--name", "prod"])
            .g
            .spec(
                crate::spec::NodeCount::new(3).unwrap(),
                Some(crate::spec::Cloud::Gke),
            )
            .unwrap();
        // 2028-01-16T08:09:05Z (Python: datetime.fromtimestamp(1831622945, UTC))
        assert_eq!(
            backup_name(&spec, None, 1_831_622_945).unwrap(),
            "prod-20280116-080905"
        );
        assert_eq!(backup_name(&spec, Some("b1"), 0).unwrap(), "b1");
    }

    #[test]
    fn keeps_the_newest() {
        let old = [backup("a", 10), backup("b", 30), backup("c", 20)];
        let new = backup("d", 40);
        let gone: Vec<String> = beyond_keep(&old, Some(&new), 2)
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(gone, ["c", "a"]);
        assert!(beyond_keep(&old, None, 5).is_empty());
        assert_eq!(beyond_keep(&old, None, 0).len(), 3);
    }
}

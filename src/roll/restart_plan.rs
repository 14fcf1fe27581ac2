//! `esk restart` and `esk node restart I`, the pure part: which nodes restart in which order
//! (the roll's own rules: a broken node first, then followers, the leader last, asked to
//! resign first), or why not at all. A restart is refused when it could cost the cluster its
//! quorum: another voting node is not healthy (the roll restarts a node only while every
//! other one is), or the cluster has a single node (`--force` restarts it anyway).

use std::fmt;

use super::order::{blocking, next_node};
use crate::error::{Refused, UsageError};
use crate::health::Health;

/// One node to restart, as the plan shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub index: u8,
    pub name: String,
    /// Its gossip state now ("not in gossip" when it has none).
    pub role: String,
    pub leader: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartPlan {
    pub cluster: String,
    pub order: Vec<Planned>,
}

/// The node number `raw` of an `nodes`-node cluster (exit 2 when it is not one).
pub fn node_index(raw: &str, nodes: u8) -> Result<u8, UsageError> {
    raw.parse::<u8>()
        .ok()
        .filter(|i| (1..=nodes).contains(i))
        .ok_or_else(|| {
            UsageError::new(format!(
                "node takes a node number from 1 to {nodes}, got \"{}\"",
                raw.escape_debug()
            ))
        })
}

/// The order to restart `wanted` in, given the cluster as it is now.
pub fn plan(health: &Health, wanted: &[u8], force: bool) -> Result<RestartPlan, Refused> {
    let voting = health.nodes.iter().filter(|n| !n.read_only_replica).count();
    // One node down must leave a quorum (voting/2 + 1) of the others: never true of 1 or 2.
    if voting <= 2 && !force {
        return Err(Refused::new(format!(
            "the cluster has {voting} voting node(s): restarting one stops the cluster (no \
             quorum) until it is back; --force restarts it anyway",
        )));
    }
    let mut left = wanted.to_vec();
    let mut order = Vec::new();
    while !left.is_empty() {
        let Some(next) = next_node(health, &left) else {
            let why = blocking(health, &left).join("; ");
            let names: Vec<String> = left.iter().map(|i| name_of(health, *i)).collect();
            return Err(Refused::new(format!(
                "restarting {} now could leave the cluster without quorum ({why}); nothing \
                 was changed: fix that node first, or check `esk status`",
                names.join(", ")
            )));
        };
        left.retain(|i| *i != next);
        let node = health.nodes.iter().find(|n| n.index == next);
        let name = name_of(health, next);
        order.push(Planned {
            index: next,
            role: node
                .and_then(|n| n.member.as_ref())
                .map_or("not in gossip".into(), |m| m.state.clone()),
            leader: health.leader.as_deref() == Some(name.as_str()),
            name,
        });
    }
    Ok(RestartPlan {
        cluster: health.cluster.name.clone(),
        order,
    })
}

fn name_of(health: &Health, index: u8) -> String {
    health
        .nodes
        .iter()
        .find(|n| n.index == index)
        .map_or_else(|| format!("node {index}"), |n| n.name.clone())
}

impl fmt::Display for RestartPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Restart {} node(s) of cluster {}, one at a time, each back in the cluster before \
             the next:",
            self.order.len(),
            self.cluster
        )?;
        for (i, p) in self.order.iter().enumerate() {
            let note = if p.leader {
                ", asked to resign first".to_string()
            } else {
                String::new()
            };
            writeln!(f, "  {}. {} ({}{note})", i + 1, p.name, p.role)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{MemberRow, NodeHealth};

    fn node(index: u8, ok: bool, state: &str) -> NodeHealth {
        NodeHealth {
            index,
            name: format!("es-{index}"),
            ok,
            problem: (!ok).then(|| "not ready".to_string()),
            disk: None,
            disk_use: None,
            claim: None,
            volume: None,
            pod: None,
            member: Some(MemberRow {
                state: state.into(),
                alive: true,
                writer_checkpoint: None,
                lag: None,
                version: None,
            }),
            read_only_replica: false,
        }
    }

    fn health(nodes: Vec<NodeHealth>) -> Health {
        Health {
            zones: None,
            cluster: Default::default(),
            verdict: crate::health::Verdict::Healthy,
            exit_code: 0,
            leader: nodes
                .iter()
                .find(|n| n.member.as_ref().is_some_and(|m| m.state == "Leader"))
                .map(|n| n.name.clone()),
            reasons: Vec::new(),
            warnings: Vec::new(),
            nodes,
        }
    }

    #[test]
    fn followers_first_the_leader_last_and_resigning() {
        let h = health(vec![
            node(1, true, "Follower"),
            node(2, true, "Leader"),
            node(3, true, "Follower"),
        ]);
        let p = plan(&h, &[1, 2, 3], false).unwrap();
        let order: Vec<u8> = p.order.iter().map(|n| n.index).collect();
        assert_eq!(order, vec![1, 3, 2]);
        assert!(p
            .to_string()
            .contains("3. es-2 (Leader, asked to resign first)"));
    }

    #[test]
    fn refused_when_another_node_is_down_or_the_cluster_is_one_node() {
        let h = health(vec![
            node(1, true, "Leader"),
            node(2, false, "CatchingUp"),
            node(3, true, "Follower"),
        ]);
        let e = plan(&h, &[3], false).unwrap_err().to_string();
        assert!(e.contains("es-3") && e.contains("es-2: not ready"), "{e}");
        // The broken node itself may restart: it costs nothing.
        assert_eq!(plan(&h, &[2], false).unwrap().order[0].index, 2);
        let one = health(vec![node(1, true, "Leader")]);
        assert!(plan(&one, &[1], false).is_err());
        assert!(plan(&one, &[1], true).is_ok());
        // Two nodes need both for quorum: either one restarting stops the cluster.
        let two = health(vec![node(1, true, "Leader"), node(2, true, "Follower")]);
        let e = plan(&two, &[2], false).unwrap_err().to_string();
        assert!(e.contains("2 voting node(s)"), "{e}");
        assert!(plan(&two, &[2], true).is_ok());
    }

    #[test]
    fn node_numbers_are_checked() {
        assert_eq!(node_index("2", 3).unwrap(), 2);
        assert!(node_index("0", 3).is_err());
        assert!(node_index("4", 3).is_err());
        assert!(node_index("x", 3).is_err());
    }
}

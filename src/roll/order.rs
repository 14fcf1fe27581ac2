//! Which node a roll restarts next: only one whose restart keeps quorum (every other node
//! healthy), a broken one first (restarting it costs nothing), then followers, the leader
//! last (so the cluster elects once, not once per node).

use crate::health::Health;

/// The next node of `left` to restart, or None while another node is not healthy.
pub fn next_node(health: &Health, left: &[u8]) -> Option<u8> {
    let leader = health.leader.as_deref();
    left.iter()
        .copied()
        // Read-only replicas hold no vote: one being down does not hold up the roll.
        .filter(|&c| {
            health
                .nodes
                .iter()
                .all(|n| n.index == c || n.ok || n.read_only_replica)
        })
        .min_by_key(|&c| {
            let node = health.nodes.iter().find(|n| n.index == c);
            let rank = match node {
                Some(n) if !n.ok => 0,
                Some(n) if Some(n.name.as_str()) == leader => 2,
                _ => 1,
            };
            (rank, c)
        })
}

/// What keeps every node of `left` from being restarted now, one item per unhealthy node.
pub fn blocking(health: &Health, left: &[u8]) -> Vec<String> {
    let mut why: Vec<String> = health
        .nodes
        .iter()
        .filter(|n| !n.ok)
        .map(|n| {
            let problem = n.problem.as_deref().unwrap_or("not ready");
            let tag = if left.contains(&n.index) {
                " (to restart)"
            } else {
                ""
            };
            format!("{}{tag}: {}", n.name, problem.lines().next().unwrap_or(""))
        })
        .collect();
    if why.is_empty() {
        why = health.reasons.clone();
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::NodeHealth;

    fn node(index: u8, ok: bool) -> NodeHealth {
        NodeHealth {
            index,
            name: format!("es-{index}"),
            ok,
            problem: (!ok).then(|| "crash-looping".to_string()),
            disk: None,
            disk_use: None,
            claim: None,
            volume: None,
            pod: None,
            member: None,
            read_only_replica: false,
        }
    }

    fn health(leader: u8, nodes: Vec<NodeHealth>) -> Health {
        Health {
            zones: None,
            cluster: Default::default(),
            verdict: crate::health::Verdict::Healthy,
            exit_code: 0,
            leader: Some(format!("es-{leader}")),
            reasons: Vec::new(),
            warnings: Vec::new(),
            nodes,
        }
    }

    #[test]
    fn followers_first_the_leader_last() {
        let h = health(2, (1..=5).map(|i| node(i, true)).collect());
        assert_eq!(next_node(&h, &[1, 2, 3, 4, 5]), Some(1));
        assert_eq!(next_node(&h, &[2, 4]), Some(4));
        assert_eq!(next_node(&h, &[2]), Some(2));
    }

    #[test]
    fn a_broken_node_goes_first_and_blocks_the_others() {
        let h = health(1, vec![node(1, true), node(2, true), node(3, false)]);
        assert_eq!(next_node(&h, &[1, 2, 3]), Some(3));
        // es-3 is not to be restarted: nobody else may go down meanwhile.
        assert_eq!(next_node(&h, &[1, 2]), None);
        let why = blocking(&h, &[1, 2]);
        assert_eq!(why, vec!["es-3: crash-looping".to_string()]);
    }

    #[test]
    fn a_single_node_restarts_alone() {
        let h = health(1, vec![node(1, true)]);
        assert_eq!(next_node(&h, &[1]), Some(1));
    }
}

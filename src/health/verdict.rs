//! The cluster as its members see it: every node's gossip view folded into one verdict.
//! Healthy: exactly one leader that every view names, every node settled (Leader, Follower or
//! read-only replica) and alive. Down: no leader, two leaders (a split), or fewer voting
//! members than a quorum. Degraded: anything in between.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{GossipDoc, Member};
use super::{MemberRow, Verdict};
use crate::spec::replica_of;

/// A node as gossip may name it.
#[derive(Clone, Debug)]
pub struct Peer {
    pub index: u8,
    /// Its hostname (`es-1`).
    pub name: String,
    /// The name it advertises (`es-1.es.default.svc.cluster.local`).
    pub fqdn: String,
    pub ip: Option<String>,
    /// Seconds its container has been running.
    pub uptime: Option<i64>,
}

/// One node's gossip document.
pub struct View {
    pub from: u8,
    pub doc: GossipDoc,
}

/// What the views say, cluster-wide and per node.
#[derive(Debug, Default)]
pub struct Judgement {
    pub verdict: Option<Verdict>,
    pub leader: Option<String>,
    pub reasons: Vec<String>,
    pub members: BTreeMap<u8, MemberRow>,
    /// Why a node is not a settled, agreeing member.
    pub trouble: BTreeMap<u8, String>,
}

/// What usually keeps a node in `state`, if it is not where a healthy node is.
pub fn state_hint(state: &str) -> Option<&'static str> {
    Some(match state {
        "DiscoverLeader" | "Unknown" => {
            "it cannot reach a leader; the usual cause is a DNS name or certificate name \
             mismatch (the name it advertises, the cluster DNS name and its certificate's \
             names must agree)"
        }
        "CatchingUp" | "PreReplica" | "Clone" | "PreReadOnlyReplica" => {
            "catching up with the leader"
        }
        "Initializing" => "starting (rebuilding indexes can take a while)",
        "ShuttingDown" | "Shutdown" => "shutting down",
        "PreLeader" | "PreMaster" | "ResigningLeader" => "an election is under way",
        "ReadOnlyLeaderless" => "a read-only replica that sees no leader",
        _ => return None,
    })
}

/// How long a node may discover before esk calls it stuck.
pub const STUCK_AFTER_SECS: i64 = 60;

fn identify(host: &str, peers: &[Peer]) -> Option<u8> {
    peers
        .iter()
        .find(|p| {
            host == p.fqdn
                || host.split('.').next() == Some(p.name.as_str())
                || p.ip.as_deref() == Some(host)
        })
        .map(|p| p.index)
}

fn label(host: &str, peers: &[Peer]) -> String {
    identify(host, peers)
        .and_then(|i| peers.iter().find(|p| p.index == i))
        .map_or_else(|| host.to_string(), |p| p.name.clone())
}

fn entry<'a>(view: &'a View, index: u8, peers: &[Peer]) -> Option<&'a Member> {
    view.doc
        .members
        .iter()
        .find(|m| identify(m.host(), peers) == Some(index))
}

/// The leader a view names (alive and leading), if exactly one.
fn leaders_of(view: &View, peers: &[Peer]) -> Vec<String> {
    let mut leaders: Vec<String> = view
        .doc
        .members
        .iter()
        .filter(|m| m.leads() && m.is_alive)
        .map(|m| label(m.host(), peers))
        .collect();
    leaders.sort();
    leaders.dedup();
    leaders
}

/// Why a member holds the wrong role: a read-only replica voting, or a voting node that
/// came up as a replica (its READ_ONLY_REPLICA setting).
fn role_trouble(replica: bool, m: &Member) -> Option<String> {
    if replica && m.in_cluster() {
        Some(format!(
            "a voting member ({}), not a read-only replica: READ_ONLY_REPLICA is not on",
            m.state
        ))
    } else if !replica && (m.state == "ReadOnlyReplica" || m.is_read_only_replica) {
        Some(format!(
            "a read-only replica ({}), not a voting node: READ_ONLY_REPLICA is on",
            m.state
        ))
    } else {
        None
    }
}

/// `expected` voting nodes and `replicas` read-only replicas (member indices as in
/// `crate::spec::REPLICA_BASE`); only the voting nodes count toward the quorum.
pub fn judge(
    expected: u8,
    replicas: u8,
    peers: &[Peer],
    views: &[View],
    unreachable: &BTreeMap<u8, String>,
) -> Judgement {
    let mut j = Judgement::default();
    let is_member = |i: u8| match replica_of(i) {
        Some(r) => r <= replicas,
        None => i <= expected,
    };
    let name = |i: u8| {
        peers
            .iter()
            .find(|p| p.index == i)
            .map_or_else(|| format!("node {i}"), |p| p.name.clone())
    };
    // Who each view says leads.
    let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in views {
        for l in leaders_of(v, peers) {
            claims.entry(l).or_default().push(name(v.from));
        }
    }
    for (i, why) in unreachable {
        j.trouble.insert(*i, format!("gossip unreachable: {why}"));
    }
    if claims.len() > 1 {
        let who: Vec<String> = claims
            .iter()
            .map(|(l, by)| format!("{l} (according to {})", by.join(", ")))
            .collect();
        j.verdict = Some(Verdict::Down);
        j.reasons
            .push(format!("two leaders, a split: {}", who.join(" and ")));
    }
    let leader = (claims.len() == 1)
        .then(|| claims.keys().next().cloned())
        .flatten();
    if claims.is_empty() {
        j.verdict = Some(Verdict::Down);
        if views.is_empty() {
            j.reasons
                .push("no leader: no node answered its gossip".into());
        } else {
            let seen: Vec<String> = views
                .iter()
                .filter_map(|v| {
                    entry(v, v.from, peers).map(|m| format!("{} {}", name(v.from), m.state))
                })
                .collect();
            j.reasons.push(format!("no leader ({})", seen.join(", ")));
        }
    }
    let leader_index = peers
        .iter()
        .find(|p| Some(&p.name) == leader.as_ref())
        .map(|p| p.index);
    // The leader's own view, else the first that names the leader, else any.
    let reference = views
        .iter()
        .find(|v| Some(v.from) == leader_index)
        .or_else(|| {
            views
                .iter()
                .find(|v| leaders_of(v, peers).first() == leader.as_ref())
        })
        .or(views.first());
    let leader_checkpoint = reference.and_then(|v| {
        v.doc
            .members
            .iter()
            .find(|m| m.leads() && m.is_alive && Some(label(m.host(), peers)) == leader)
            .and_then(|m| m.writer_checkpoint)
    });
    for p in peers {
        let own = views
            .iter()
            .find(|v| v.from == p.index)
            .and_then(|v| entry(v, p.index, peers));
        let seen = reference.and_then(|v| entry(v, p.index, peers));
        let Some(m) = own.or(seen) else {
            continue;
        };
        let checkpoint = seen.or(own).and_then(|m| m.writer_checkpoint);
        j.members.insert(
            p.index,
            MemberRow {
                state: m.state.clone(),
                alive: seen.or(own).is_some_and(|m| m.is_alive),
                writer_checkpoint: checkpoint,
                lag: leader_checkpoint
                    .zip(checkpoint)
                    .map(|(l, c)| (l - c).max(0)),
                version: own.or(seen).and_then(|m| m.es_version.clone()),
            },
        );
    }
    // Quorum, counted in the reference view.
    let quorum = usize::from(expected) / 2 + 1;
    let voting: BTreeSet<u8> = reference
        .map(|v| {
            v.doc
                .members
                .iter()
                .filter(|m| m.in_cluster() && m.is_alive)
                .filter_map(|m| identify(m.host(), peers))
                .filter(|i| *i <= expected)
                .collect()
        })
        .unwrap_or_default();
    if leader.is_some() && voting.len() < quorum {
        j.verdict = Some(Verdict::Down);
        j.reasons.push(format!(
            "no quorum: {} of {expected} node(s) in the cluster, {quorum} needed",
            voting.len()
        ));
    }
    if let Some(r) = reference {
        for m in r.doc.members.iter().filter(|m| m.is_alive) {
            match identify(m.host(), peers) {
                None if !m.leads() => j.reasons.push(format!(
                    "gossip lists {} ({}), which is not a node of this cluster",
                    m.host(),
                    m.state
                )),
                Some(i) if !is_member(i) => j.reasons.push(match replica_of(i) {
                    Some(_) => format!(
                        "{} is a member beyond the cluster's {replicas} read-only replica(s)",
                        name(i)
                    ),
                    None => format!(
                        "{} is a member beyond the cluster's {expected} node(s)",
                        name(i)
                    ),
                }),
                _ => {}
            }
        }
    }
    for p in peers.iter().filter(|p| is_member(p.index)) {
        if j.trouble.contains_key(&p.index) {
            continue;
        }
        let replica = replica_of(p.index).is_some();
        let view = views.iter().find(|v| v.from == p.index);
        let own = view.and_then(|v| entry(v, p.index, peers));
        let seen = reference.and_then(|v| entry(v, p.index, peers));
        let trouble = match (view, own) {
            (None, _) => None,
            (Some(_), None) => Some("its gossip does not list itself".to_string()),
            (Some(_), Some(m)) if role_trouble(replica, m).is_some() => role_trouble(replica, m),
            (Some(_), Some(m)) if !m.settled() => {
                let stuck =
                    m.state == "DiscoverLeader" && p.uptime.is_some_and(|u| u >= STUCK_AFTER_SECS);
                Some(match state_hint(&m.state) {
                    Some(hint) if m.state != "DiscoverLeader" || stuck => {
                        format!("{}: {hint}", m.state)
                    }
                    _ => m.state.clone(),
                })
            }
            (Some(v), Some(_)) => {
                let sees = leaders_of(v, peers);
                if leader.is_some() && sees.first() != leader.as_ref() {
                    Some(match sees.first() {
                        Some(other) => format!("sees {other} as the leader"),
                        None => "sees no leader".to_string(),
                    })
                } else {
                    None
                }
            }
        };
        let trouble = trouble.or_else(|| match seen {
            _ if reference.is_none() || Some(p.index) == reference.map(|r| r.from) => None,
            None => Some("not in the leader's gossip".into()),
            Some(m) if !m.is_alive => Some("the leader's gossip marks it dead".into()),
            Some(m) if role_trouble(replica, m).is_some() => role_trouble(replica, m),
            Some(m) if !m.settled() => Some(format!("the leader sees it as {}", m.state)),
            Some(_) => None,
        });
        if let Some(t) = trouble {
            j.trouble.insert(p.index, t);
        }
    }
    j.leader = leader;
    j
}

#[cfg(test)]
mod tests;

//! The verdict from gossip views: quorum, splits, stuck and read-only members.

use super::*;
use crate::health::facts::parse_gossip;

fn peers(n: u8) -> Vec<Peer> {
    (1..=n)
        .map(|i| Peer {
            index: i,
            name: format!("es-{i}"),
            fqdn: format!("es-{i}.es.default.svc.cluster.local"),
            ip: Some(format!("10.0.0.{i}")),
            uptime: Some(600),
        })
        .collect()
}

/// A view from node `from` listing (host, state, alive).
fn view(from: u8, members: &[(&str, &str, bool)]) -> View {
    let members: Vec<String> = members
        .iter()
        .map(|(h, s, a)| {
            format!(
                r#"{{"httpEndPointIp":"{h}","state":"{s}","isAlive":{a},"writerCheckpoint":{}}}"#,
                if *s == "Leader" { 100 } else { 90 }
            )
        })
        .collect();
    let doc = parse_gossip(&format!(r#"{{"members":[{}]}}"#, members.join(","))).unwrap();
    View { from, doc }
}

fn all_see(n: u8, members: &[(&str, &str, bool)]) -> Vec<View> {
    (1..=n).map(|i| view(i, members)).collect()
}

#[test]
fn one_leader_everyone_agreeing_is_healthy() {
    let v = all_see(
        3,
        &[
            ("es-1", "Leader", true),
            ("es-2", "Follower", true),
            ("es-3", "Follower", true),
        ],
    );
    let j = judge(3, 0, &peers(3), &v, &BTreeMap::new());
    assert_eq!(j.verdict, None, "{j:?}");
    assert_eq!(j.leader.as_deref(), Some("es-1"));
    assert!(j.trouble.is_empty(), "{j:?}");
    assert_eq!(j.members[&2].lag, Some(10));
    assert_eq!(j.members[&1].lag, Some(0));
}

#[test]
fn a_follower_down_keeps_quorum() {
    let members = [
        ("es-1.es.default.svc.cluster.local", "Leader", true),
        ("10.0.0.2", "Follower", true),
        ("es-3", "Follower", false),
    ];
    let v = vec![view(1, &members), view(2, &members)];
    let mut unreachable = BTreeMap::new();
    unreachable.insert(3, "connection refused".to_string());
    let j = judge(3, 0, &peers(3), &v, &unreachable);
    assert_eq!(j.verdict, None, "{j:?}");
    assert_eq!(j.trouble[&3], "gossip unreachable: connection refused");
    assert!(!j.members[&3].alive);
    assert_eq!(j.trouble.len(), 1, "{j:?}");
}

#[test]
fn no_leader_or_no_quorum_is_down() {
    let v = all_see(
        3,
        &[
            ("es-1", "DiscoverLeader", true),
            ("es-2", "DiscoverLeader", true),
            ("es-3", "DiscoverLeader", true),
        ],
    );
    let j = judge(3, 0, &peers(3), &v, &BTreeMap::new());
    assert_eq!(j.verdict, Some(Verdict::Down));
    assert!(j.reasons[0].starts_with("no leader"), "{j:?}");
    assert!(j.trouble[&1].contains("certificate name mismatch"), "{j:?}");

    let v = vec![view(
        1,
        &[
            ("es-1", "Leader", true),
            ("es-2", "Follower", false),
            ("es-3", "Follower", false),
        ],
    )];
    let j = judge(3, 0, &peers(3), &v, &BTreeMap::new());
    assert_eq!(j.verdict, Some(Verdict::Down));
    assert_eq!(
        j.reasons,
        ["no quorum: 1 of 3 node(s) in the cluster, 2 needed"]
    );
}

#[test]
fn two_leaders_are_a_split() {
    let v = vec![
        view(1, &[("es-1", "Leader", true), ("es-2", "Follower", true)]),
        view(2, &[("es-1", "Leader", true), ("es-2", "Follower", true)]),
        view(3, &[("es-3", "Leader", true)]),
    ];
    let j = judge(3, 0, &peers(3), &v, &BTreeMap::new());
    assert_eq!(j.verdict, Some(Verdict::Down));
    assert_eq!(
        j.reasons,
        ["two leaders, a split: es-1 (according to es-1, es-2) and es-3 (according to es-3)"]
    );
}

#[test]
fn disagreeing_views_and_lagging_members_are_named() {
    let healthy = [
        ("es-1", "Leader", true),
        ("es-2", "Follower", true),
        ("es-3", "CatchingUp", true),
    ];
    let v = vec![
        view(1, &healthy),
        view(2, &[("es-2", "Follower", true)]),
        view(3, &healthy),
    ];
    let j = judge(3, 0, &peers(3), &v, &BTreeMap::new());
    assert_eq!(j.verdict, None);
    assert_eq!(j.trouble[&2], "sees no leader");
    assert_eq!(j.trouble[&3], "CatchingUp: catching up with the leader");
}

#[test]
fn strangers_in_the_gossip_are_reported() {
    let members = [
        ("es-1", "Leader", true),
        ("es-2", "Follower", true),
        ("old-node", "Follower", true),
    ];
    let j = judge(2, 0, &peers(2), &all_see(2, &members), &BTreeMap::new());
    assert_eq!(
        j.reasons,
        ["gossip lists old-node (Follower), which is not a node of this cluster"]
    );
}

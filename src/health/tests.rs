//! The fold from objects and gossip to a verdict, without any process.

use super::*;
use crate::cli::Global;
use crate::domain::Owner;
use crate::spec::{Cloud, NodeCount};
use clap::Parser;
use serde_json::json;

const NOW: i64 = 1_800_000_000;

fn spec(n: u8) -> Spec {
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        g: Global,
    }
    Args::parse_from(["esk", "--force"])
        .g
        .spec(NodeCount::new(n).unwrap(), Some(Cloud::Gke))
        .unwrap()
}

fn labels(component: &str, i: Option<u8>) -> Value {
    let mut l = json!({"app.kubernetes.io/instance": "es", "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "esk"});
    if let Some(i) = i {
        l["esk.io/node"] = i.to_string().into();
    }
    l
}

fn deployment(i: u8) -> Value {
    json!({"kind": "Deployment", "metadata": {"name": format!("es-{i}"), "labels": labels("node", Some(i)),
            "generation": 1},
        "spec": {"replicas": 1, "template": {"spec": {
            "containers": [{"name": "eventstore", "image": "kurrentdb:26.0.0"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": format!("es-data-{i}")}}]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}})
}

fn pod(i: u8, ready: bool) -> Value {
    json!({"kind": "Pod",
        "metadata": {"name": format!("es-{i}-abcdef0123-x{i}x{i}x"), "uid": format!("u{i}"),
            "labels": labels("node", Some(i)), "creationTimestamp": "2027-01-15T08:00:00Z"},
        "spec": {"nodeName": format!("n{i}"), "containers": [{"name": "eventstore", "image": "kurrentdb:26.0.0"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": format!("es-data-{i}")}}]},
        "status": {"phase": "Running", "podIP": format!("10.0.0.{i}"),
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"restartCount": 0, "state": {"running": {"startedAt": "2027-01-15T08:00:00Z"}}}]}})
}

fn record(n: u8) -> Value {
    json!({"kind": "ConfigMap", "metadata": {"name": "esk.es", "labels": labels("record", None),
            "creationTimestamp": "2027-01-15T07:59:00Z"},
        "data": {"nodes": n.to_string(), "cloud": "gke", "profile": "default", "zone": "us-central1-a",
            "workload": "deployment", "tls": "true", "antiAffinity": "required", "disks": ""}})
}

fn claim_and_volume(i: u8, zone: &str) -> (Value, Value) {
    let pv = format!("default.es-disk-{i}");
    (
        json!({"kind": "PersistentVolumeClaim", "metadata": {"name": format!("es-data-{i}")},
            "spec": {"volumeName": pv}, "status": {"phase": "Bound"}}),
        json!({"kind": "PersistentVolume", "metadata": {"name": pv},
            "spec": {"capacity": {"storage": "20Gi"},
                "csi": {"volumeHandle": format!("projects/p/zones/{zone}/disks/es-disk-{i}")},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.gke.io/zone", "operator": "In", "values": [zone]}]}]}}},
            "status": {"phase": "Bound"}}),
    )
}

fn gossip(members: &[(u8, &str)]) -> String {
    let m: Vec<Value> = members
        .iter()
        .map(|(i, s)| {
            json!({"httpEndPointIp": format!("es-{i}.es.default.svc.cluster.local"), "state": s,
                "isAlive": true, "writerCheckpoint": 500, "esVersion": "26.0.0"})
        })
        .collect();
    json!({"members": m}).to_string()
}

/// An n-node cluster where every node reports `view`.
fn cluster(n: u8, view: &[(u8, &str)]) -> Observation {
    let mut obs = Observation {
        objects: vec![record(n)],
        nodes: vec![json!({"metadata": {"name": "n1",
            "labels": {"topology.kubernetes.io/zone": "us-central1-a"}}})],
        ..Observation::default()
    };
    for i in 1..=n {
        obs.objects.push(deployment(i));
        obs.objects.push(pod(i, true));
        let (c, v) = claim_and_volume(i, "us-central1-a");
        obs.claims.push(c);
        obs.volumes.push(v);
        obs.gossip
            .insert(format!("es-{i}-abcdef0123-x{i}x{i}x"), Ok(gossip(view)));
    }
    obs
}

fn healthy_view(n: u8) -> Vec<(u8, &'static str)> {
    (1..=n)
        .map(|i| (i, if i == 1 { "Leader" } else { "Follower" }))
        .collect()
}

#[test]
fn a_healthy_cluster_reads_healthy() {
    for n in [3, 5] {
        let h = assess(&spec(n), &cluster(n, &healthy_view(n)), NOW);
        assert_eq!(h.verdict, Verdict::Healthy, "{h:#?}");
        assert_eq!(h.exit_code, 0);
        assert_eq!(h.leader.as_deref(), Some("es-1"));
        assert_eq!(h.nodes.len(), usize::from(n));
        let n2 = &h.nodes[1];
        assert_eq!(n2.member.as_ref().unwrap().state, "Follower");
        assert_eq!(n2.claim.as_ref().unwrap().phase, "Bound");
        assert_eq!(n2.disk.as_ref().unwrap().name, "es-disk-2");
        assert_eq!(n2.disk.as_ref().unwrap().size.as_deref(), Some("20Gi"));
        assert_eq!(n2.pod.as_ref().unwrap().node.as_deref(), Some("n2"));
        assert!(h.warnings.is_empty(), "{:?}", h.warnings);
        assert_eq!(h.cluster.server_version.as_deref(), Some("26.0.0"));
    }
}

#[test]
fn a_node_down_degrades_and_a_lost_quorum_is_down() {
    let mut obs = cluster(3, &[(1, "Leader"), (2, "Follower")]);
    let p3 = "es-3-abcdef0123-x3x3x".to_string();
    obs.gossip.insert(
        p3,
        Err(r#"{"kind":"Status","message":"error trying to reach service: dial tcp 10.0.0.3:2113: connect: connection refused"}"#.into()),
    );
    let h = assess(&spec(3), &obs, NOW);
    assert_eq!(h.verdict, Verdict::Degraded, "{h:#?}");
    assert_eq!(h.exit_code, 10);
    assert_eq!(
        h.nodes[2].problem.as_deref(),
        Some("gossip unreachable: error trying to reach service: dial tcp 10.0.0.3:2113: connect: connection refused")
    );
    let obs = cluster(3, &[(1, "Leader")]);
    let h = assess(&spec(3), &obs, NOW);
    assert_eq!(h.verdict, Verdict::Down);
    assert_eq!(h.exit_code, 11);
}

#[test]
fn pending_and_crash_looping_pods_are_named_with_their_reasons() {
    let mut obs = cluster(3, &[(1, "Leader"), (2, "Follower")]);
    let p3 = obs
        .objects
        .iter_mut()
        .find(|o| o["metadata"]["name"] == "es-3-abcdef0123-x3x3x")
        .unwrap();
    p3["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 node(s) had volume node affinity conflict."}]});
    obs.gossip.remove("es-3-abcdef0123-x3x3x");
    let h = assess(&spec(3), &obs, NOW);
    assert_eq!(h.verdict, Verdict::Degraded);
    let problem = h.nodes[2].problem.as_deref().unwrap();
    assert!(
        problem.contains("volume node affinity conflict"),
        "{problem}"
    );

    let p2 = obs
        .objects
        .iter_mut()
        .find(|o| o["metadata"]["name"] == "es-2-abcdef0123-x2x2x")
        .unwrap();
    p2["status"]["containerStatuses"] = json!([{"restartCount": 9,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}}]);
    p2["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    obs.gossip.remove("es-2-abcdef0123-x2x2x");
    // The leader no longer hears from es-2 either: one voting member of three.
    obs.gossip
        .insert("es-1-abcdef0123-x1x1x".into(), Ok(gossip(&[(1, "Leader")])));
    obs.previous_logs.insert(
        "es-2-abcdef0123-x2x2x".into(),
        "boot\ncertificate rejected\n".into(),
    );
    let h = assess(&spec(3), &obs, NOW);
    assert_eq!(h.verdict, Verdict::Down, "{h:#?}");
    let problem = h.nodes[1].problem.as_deref().unwrap();
    assert!(
        problem.starts_with("crash-looping (9 restarts)")
            && problem.ends_with("\n    certificate rejected"),
        "{problem}"
    );
}

#[test]
fn two_leaders_are_down() {
    let mut obs = cluster(3, &healthy_view(3));
    obs.gossip.insert(
        "es-3-abcdef0123-x3x3x".into(),
        Ok(gossip(&[(3, "Leader"), (1, "Follower")])),
    );
    let h = assess(&spec(3), &obs, NOW);
    assert_eq!(h.verdict, Verdict::Down);
    assert!(
        h.reasons[0].starts_with("two leaders, a split"),
        "{:?}",
        h.reasons
    );
    assert_eq!(h.leader, None);
}

#[test]
fn a_missing_cluster_is_not_found() {
    let h = assess(&spec(3), &Observation::default(), NOW);
    assert_eq!(h.verdict, Verdict::NotFound);
    assert_eq!(h.exit_code, 12);
    assert!(h.nodes.is_empty());
}

#[test]
fn warnings_cover_zone_count_spreading_and_surplus_disks() {
    let mut obs = cluster(4, &healthy_view(4));
    obs.objects[0]["data"]["antiAffinity"] = "preferred".into();
    let (c, v) = claim_and_volume(4, "us-central1-f");
    obs.claims[3] = c;
    obs.volumes[3] = v;
    let disk = |i: u8| Disk {
        name: format!("es-disk-{i}"),
        id: format!("{i}00"),
        node: Some(i),
        replaced: None,
        owner: Owner::This,
        source: crate::domain::DiskSource {
            kind: "csi".into(),
            driver: String::new(),
            handle: String::new(),
            path: String::new(),
            topology_key: String::new(),
            topology_value: "us-central1-a".into(),
        },
    };
    obs.disks = Some(Ok((1..=6).map(disk).collect()));
    let h = assess(&spec(4), &obs, NOW);
    let all = h.warnings.join("\n");
    assert!(all.contains("4 nodes need 3 for quorum"), "{all}");
    assert!(all.contains("only preferred"), "{all}");
    assert!(
        all.contains("es-disk-5, es-disk-6 are kept from a shrink"),
        "{all}"
    );
    assert!(
        all.contains("node 4's disk es-disk-4: in zone us-central1-f"),
        "{all}"
    );
    assert_eq!(h.nodes[0].disk.as_ref().unwrap().id, "100");
    assert_eq!(h.nodes[0].disk.as_ref().unwrap().owner, "this cluster");
}

#[test]
fn a_rolling_workload_is_not_healthy_yet() {
    let mut obs = cluster(3, &healthy_view(3));
    obs.objects
        .iter_mut()
        .find(|o| o["metadata"]["name"] == "es-2" && o["kind"] == "Deployment")
        .unwrap()["metadata"]["generation"] = 2.into();
    let h = assess(&spec(3), &obs, NOW);
    assert_eq!(h.verdict, Verdict::Degraded);
    assert!(h.nodes[1]
        .problem
        .as_deref()
        .unwrap()
        .starts_with("rolling out"));
}

mod replicas;

//! Read-only replicas in the verdict: shown as such, healthy only as ReadOnlyReplica, never
//! counted toward the quorum.

use super::*;

/// Read-only replica j's workload, pod, claim, volume and gossip entry, beside `cluster`'s.
fn add_replica(obs: &mut Observation, j: u8) -> String {
    let name = format!("es-replica-{j}");
    let pod_name = format!("{name}-abcdef0123-r{j}r{j}r");
    let mut l = labels("replica", None);
    l["esk.io/node"] = format!("r{j}").into();
    let claim = format!("es-replica-data-{j}");
    let volumes = json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
    obs.objects.push(json!({"kind": "Deployment",
        "metadata": {"name": name, "labels": l, "generation": 1},
        "spec": {"replicas": 1, "template": {"spec": {
            "containers": [{"name": "eventstore", "image": "kurrentdb:26.0.0"}], "volumes": volumes}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}}));
    let mut pod = pod(1, true);
    pod["metadata"]["name"] = pod_name.clone().into();
    pod["metadata"]["uid"] = format!("r{j}").into();
    pod["metadata"]["labels"] = l;
    pod["spec"]["volumes"] = volumes;
    pod["status"]["podIP"] = format!("10.0.1.{j}").into();
    obs.objects.push(pod);
    let pv = format!("default.es-disk-replica-{j}");
    obs.claims.push(
        json!({"kind": "PersistentVolumeClaim", "metadata": {"name": claim},
        "spec": {"volumeName": pv}, "status": {"phase": "Bound"}}),
    );
    obs.volumes
        .push(json!({"kind": "PersistentVolume", "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "20Gi"}}, "status": {"phase": "Bound"}}));
    obs.objects[0]["data"]["readOnlyReplicas"] = j.to_string().into();
    pod_name
}

/// A gossip document: the voting view plus each replica (j, state, isReadOnlyReplica).
fn gossip_with_replicas(view: &[(u8, &str)], replicas: &[(u8, &str, bool)]) -> String {
    let mut doc: Value = serde_json::from_str(&gossip(view)).unwrap();
    for (j, state, ro) in replicas {
        doc["members"].as_array_mut().unwrap().push(json!({
            "httpEndPointIp": format!("es-replica-{j}.es-replica.default.svc.cluster.local"),
            "state": state, "isAlive": true, "isReadOnlyReplica": ro,
            "writerCheckpoint": 400, "esVersion": "26.0.0"}));
    }
    doc.to_string()
}

/// A 3-node cluster with two read-only replicas; every member sees `view` and `replicas`.
fn cluster_with_replicas(view: &[(u8, &str)], replicas: &[(u8, &str, bool)]) -> Observation {
    let mut obs = cluster(3, view);
    let pods: Vec<String> = (1..=2).map(|j| add_replica(&mut obs, j)).collect();
    let body = gossip_with_replicas(view, replicas);
    for p in obs.gossip.values_mut() {
        *p = Ok(body.clone());
    }
    for p in pods {
        obs.gossip.insert(p, Ok(body.clone()));
    }
    obs
}

fn replica_spec() -> Spec {
    let mut s = spec(3);
    s.set_replicas(2).unwrap();
    s
}

#[test]
fn read_only_replicas_are_shown_as_such_and_healthy() {
    let ok = [(1, "ReadOnlyReplica", true), (2, "ReadOnlyReplica", true)];
    let h = assess(
        &replica_spec(),
        &cluster_with_replicas(&healthy_view(3), &ok),
        NOW,
    );
    assert_eq!(h.verdict, Verdict::Healthy, "{h:#?}");
    assert_eq!(h.cluster.nodes, 3);
    assert_eq!(h.cluster.read_only_replicas, 2);
    let names: Vec<(&str, bool)> = h
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.read_only_replica))
        .collect();
    assert_eq!(
        names,
        [
            ("es-1", false),
            ("es-2", false),
            ("es-3", false),
            ("es-replica-1", true),
            ("es-replica-2", true)
        ]
    );
    let r1 = &h.nodes[3];
    assert_eq!(r1.member.as_ref().unwrap().state, "ReadOnlyReplica");
    assert_eq!(r1.member.as_ref().unwrap().lag, Some(100));
    assert_eq!(r1.claim.as_ref().unwrap().name, "es-replica-data-1");
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["cluster"]["readOnlyReplicas"], 2);
    assert_eq!(json["nodes"][3]["readOnlyReplica"], true);
    assert_eq!(
        json["nodes"][4]["index"], 2,
        "replica 2, not its internal number"
    );
    assert!(json["nodes"][0].get("readOnlyReplica").is_none());
    let table = output::table(&h, None);
    assert!(
        table.contains("3 node(s) · 2 read-only replica(s)"),
        "{table}"
    );
    // Without replicas, the JSON has neither field.
    let plain = serde_json::to_value(assess(&spec(3), &cluster(3, &healthy_view(3)), NOW)).unwrap();
    assert!(plain["cluster"].get("readOnlyReplicas").is_none());
}

#[test]
fn a_replica_down_or_catching_up_degrades_but_never_costs_the_quorum() {
    let ok = [(1, "ReadOnlyReplica", true), (2, "ReadOnlyReplica", true)];
    let mut obs = cluster_with_replicas(&healthy_view(3), &ok);
    obs.gossip.insert(
        "es-replica-2-abcdef0123-r2r2r".into(),
        Err("error trying to reach service: connect: connection refused".into()),
    );
    let h = assess(&replica_spec(), &obs, NOW);
    assert_eq!(h.verdict, Verdict::Degraded, "{h:#?}");
    assert!(
        h.reasons.is_empty(),
        "no cluster-wide reason: {:?}",
        h.reasons
    );
    assert!(h.nodes[4]
        .problem
        .as_deref()
        .unwrap()
        .starts_with("gossip unreachable"));

    let catching = [
        (1, "PreReadOnlyReplica", true),
        (2, "ReadOnlyReplica", true),
    ];
    let h = assess(
        &replica_spec(),
        &cluster_with_replicas(&healthy_view(3), &catching),
        NOW,
    );
    assert_eq!(h.verdict, Verdict::Degraded);
    assert_eq!(
        h.nodes[3].problem.as_deref(),
        Some("PreReadOnlyReplica: catching up with the leader")
    );

    // Two voting nodes gone: two live replicas do not make a quorum.
    let h = assess(
        &replica_spec(),
        &cluster_with_replicas(&[(1, "Leader")], &ok),
        NOW,
    );
    assert_eq!(h.verdict, Verdict::Down, "{h:#?}");
    assert_eq!(
        h.reasons,
        ["no quorum: 1 of 3 node(s) in the cluster, 2 needed"]
    );
}

#[test]
fn a_member_in_the_wrong_role_is_named() {
    // A replica voting (READ_ONLY_REPLICA off) and a replica beyond the recorded count.
    let wrong = [(1, "Follower", false), (2, "ReadOnlyReplica", true)];
    let mut s = replica_spec();
    let h = assess(&s, &cluster_with_replicas(&healthy_view(3), &wrong), NOW);
    assert_eq!(h.verdict, Verdict::Degraded);
    assert!(
        h.nodes[3]
            .problem
            .as_deref()
            .unwrap()
            .starts_with("a voting member (Follower), not a read-only replica"),
        "{h:#?}"
    );
    s.replicas = 1;
    let ok = [(1, "ReadOnlyReplica", true), (2, "ReadOnlyReplica", true)];
    let h = assess(&s, &cluster_with_replicas(&healthy_view(3), &ok), NOW);
    assert_eq!(h.verdict, Verdict::Degraded);
    assert_eq!(
        h.nodes[4].problem.as_deref(),
        Some("beyond the cluster's 1 read-only replica(s)")
    );
}

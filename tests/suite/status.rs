//! `esk status`, `esk connection-string` and `esk ca-cert` end to end: the real esk, kubectl
//! (and its proxy) and gcloud against the test bed, whose pods and gossip the tests set.

use crate::common::*;
use serde_json::{json, Value};
use testbed::kube::{Gossip, PodState};

/// A GKE bed with three Kubernetes nodes in the disks' zone, as a real cluster has.
pub fn bed_with_nodes() -> TestBed {
    let bed = TestBed::start();
    for i in 1..=3 {
        let name = format!("gke-test-pool-{i}");
        bed.kube.seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
            "labels": {"kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": "us-central1-a", "topology.gke.io/zone": "us-central1-a"}}}));
    }
    bed
}

fn status_json(bed: &TestBed, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["status", "-o", "json"];
    all.extend_from_slice(args);
    let out = esk(bed, &all);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status -o json printed no JSON ({e}):\n{}", text(&out)));
    (out.status.code().unwrap_or(-1), doc, stderr(&out))
}

fn node<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {doc}"))
}

fn fqdn(i: u8) -> String {
    format!("es-{i}.es.default.svc.cluster.local")
}

#[test]
fn healthy_three_node_cluster_as_table_and_json() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    let before = bed.kube.requests().len();
    let out = esk(&bed, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = stdout(&out);
    assert!(
        table.starts_with("cluster es in namespace default: healthy (leader es-1)\n"),
        "{table}"
    );
    for (i, state) in [(1, "Leader"), (2, "Follower"), (3, "Follower")] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("es-{i}  es-{i}-")))
            .unwrap_or_else(|| panic!("no pod row for es-{i}:\n{table}"));
        assert!(row.contains("Running") && row.contains(state), "{row}");
        let disk_row = table
            .lines()
            .find(|l| l.starts_with(&format!("es-{i}  es-disk-{i}")))
            .unwrap_or_else(|| panic!("no disk row for es-{i}:\n{table}"));
        assert!(
            disk_row.contains("20Gi") && disk_row.contains("us-central1-a"),
            "{disk_row}"
        );
        assert!(
            disk_row.contains("this cluster") && disk_row.contains("Bound"),
            "{disk_row}"
        );
    }
    assert!(
        table.contains(
            "connect: kurrentdb+discover://es-client.default.svc.cluster.local:2113?tlsCaFile=ca.crt"
        ),
        "{table}"
    );
    assert!(!table.contains("warning"), "{table}");
    // One read of everything plus one gossip request per node: bounded, whatever N.
    let requests: Vec<String> = bed.kube.requests()[before..].to_vec();
    let gossip = requests
        .iter()
        .filter(|r| r.ends_with("/proxy/gossip"))
        .count();
    assert_eq!(gossip, 3, "{requests:#?}");
    let pod_lists = requests
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/namespaces/default/pods?"))
        .count();
    assert_eq!(pod_lists, 1, "{requests:#?}");

    let (code, doc, _) = status_json(&bed, &[]);
    assert_eq!(code, 0);
    assert_eq!(doc["verdict"], "healthy");
    assert_eq!(doc["exitCode"], 0);
    assert_eq!(doc["leader"], "es-1");
    let c = &doc["cluster"];
    assert_eq!(
        (&c["name"], &c["namespace"], &c["nodes"], &c["profile"]),
        (
            &json!("es"),
            &json!("default"),
            &json!(3),
            &json!("default")
        )
    );
    assert_eq!(
        (&c["cloud"], &c["zone"], &c["workload"], &c["tls"]),
        (
            &json!("gke"),
            &json!("us-central1-a"),
            &json!("deployment"),
            &json!(true)
        )
    );
    assert_eq!(c["serverVersion"], "26.0.0");
    assert_eq!(c["antiAffinity"], "required");
    assert!(c["created"].as_str().unwrap().ends_with('Z'));
    let n2 = node(&doc, "es-2");
    assert_eq!(n2["index"], 2);
    assert_eq!(n2["ok"], true);
    assert!(n2["problem"].is_null());
    let disk = &n2["disk"];
    let gce = labelled_gce_disks(&bed, "es");
    assert_eq!(disk["name"], "es-disk-2");
    assert_eq!(disk["id"], gce[1].1.to_string());
    assert_eq!(
        (&disk["size"], &disk["zone"]),
        (&json!("20Gi"), &json!("us-central1-a"))
    );
    assert_eq!(disk["owner"], "this cluster");
    assert_eq!(n2["claim"], json!({"name": "es-data-2", "phase": "Bound"}));
    assert_eq!(
        n2["volume"],
        json!({"name": "default.es-disk-2", "phase": "Bound"})
    );
    let pod = &n2["pod"];
    assert!(pod["name"].as_str().unwrap().starts_with("es-2-"));
    assert_eq!(
        (&pod["phase"], &pod["ready"], &pod["restarts"]),
        (&json!("Running"), &json!(true), &json!(0))
    );
    assert!(pod["node"]
        .as_str()
        .unwrap()
        .starts_with("gke-test-default-pool-"));
    assert!(pod["ageSeconds"].as_i64().unwrap() >= 0);
    let member = &n2["member"];
    assert_eq!(
        member,
        &json!({"state": "Follower", "alive": true, "writerCheckpoint": 1_000_000, "lag": 0,
                "version": "26.0.0"})
    );
    let conn = &doc["connection"];
    assert_eq!(
        conn["connectionString"],
        "kurrentdb+discover://es-client.default.svc.cluster.local:2113?tlsCaFile=ca.crt"
    );
    assert_eq!(
        (
            &conn["host"],
            &conn["port"],
            &conn["tls"],
            &conn["username"]
        ),
        (
            &json!("es-client.default.svc.cluster.local"),
            &json!(2113),
            &json!(true),
            &json!("admin")
        )
    );
    assert_eq!(conn["credentialsSecret"], "es-credentials");
    assert_eq!(conn["caCertConfigMap"], "es-ca-cert");
    // Never the password, anywhere in the document.
    let secret = bed
        .kube
        .get("Secret", Some("default"), "es-credentials")
        .unwrap();
    let password = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            secret["data"]["admin-password"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(!doc.to_string().contains(&password));

    let out = esk(&bed, &["status", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let yaml: Value = serde_yaml::from_slice(&out.stdout).expect("YAML");
    assert_eq!(yaml["verdict"], "healthy");
    assert_eq!(yaml["nodes"][2]["member"]["state"], "Follower");
}

#[test]
fn healthy_five_node_statefulset_and_a_legacy_cluster() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "5", "--workload", "statefulset"]);
    let (code, doc, err) = status_json(&bed, &[]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(doc["leader"], "es-0");
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 5);
    assert_eq!(node(&doc, "es-4")["pod"]["name"], "es-4");
    assert_eq!(node(&doc, "es-4")["claim"]["name"], "data-es-4");
    assert_eq!(node(&doc, "es-4")["member"]["state"], "Follower");
    assert!(
        !doc["warnings"].to_string().contains("default credentials"),
        "20.10+ runs with esk's generated passwords: {doc:#}"
    );
    // 5.x: plain http, the older gossip shape, Master and Slave.
    let out = esk(
        &bed,
        &[
            "--name",
            "old",
            "-n",
            "legacy",
            "--profile",
            "eventstore-5",
            "create",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (code, doc, err) = status_json(&bed, &["--name", "old", "-n", "legacy"]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(node(&doc, "old-1")["member"]["state"], "Master");
    // 5.x has no insecure mode: create replaced admin's and ops's default passwords (the
    // cluster had a leader), so status has nothing to warn about them.
    let warnings = doc["warnings"].to_string();
    assert!(!warnings.contains("default credentials"), "{warnings}");
    assert_eq!(
        bed.kube.user_password("legacy", "old", "admin").as_deref(),
        Some(secret_password(&bed, "legacy", "old-credentials", "admin-password").as_str())
    );
    assert_eq!(node(&doc, "old-3")["member"]["state"], "Slave");
    assert_eq!(
        doc["connection"]["connectionString"],
        "ConnectTo=discover://old-client.legacy.svc.cluster.local:2113"
    );
    assert!(
        bed.kube
            .requests()
            .iter()
            .any(|r| r.contains("/namespaces/legacy/pods/http:old-1-")
                && r.ends_with("/proxy/gossip"))
    );
}

#[test]
fn a_follower_down_is_degraded() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    bed.kube.set_unreachable("es-3", true);
    let (code, doc, err) = status_json(&bed, &[]);
    assert_eq!(code, 10, "{doc:#}");
    assert_eq!(doc["verdict"], "degraded");
    assert_eq!(doc["leader"], "es-1");
    let problem = node(&doc, "es-3")["problem"].as_str().unwrap().to_string();
    assert!(
        problem.starts_with("gossip unreachable: error trying to reach service: dial tcp 10.")
            && problem.ends_with(":2113: connect: connection refused"),
        "{problem}"
    );
    assert_eq!(node(&doc, "es-2")["ok"], true);
    assert!(
        err.contains("cluster es in namespace default is degraded: es-3: gossip unreachable"),
        "{err}"
    );
    let out = esk(&bed, &["status"]);
    assert_eq!(out.status.code(), Some(10));
    assert!(
        stdout(&out).contains("problems:\n  es-3: gossip unreachable"),
        "{}",
        text(&out)
    );
}

#[test]
fn no_leader_is_down() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    let hosts: Vec<String> = (1..=3).map(fqdn).collect();
    let discovering = hosts
        .iter()
        .fold(Gossip::healthy(&hosts), |g, h| g.state(h, "DiscoverLeader"));
    bed.kube.set_gossip_all(discovering);
    let (code, doc, err) = status_json(&bed, &[]);
    assert_eq!(code, 11, "{doc:#}");
    assert_eq!(doc["verdict"], "down");
    assert!(doc["leader"].is_null());
    assert_eq!(
        doc["reasons"][0],
        "no leader (es-1 DiscoverLeader, es-2 DiscoverLeader, es-3 DiscoverLeader)"
    );
    assert_eq!(node(&doc, "es-2")["member"]["state"], "DiscoverLeader");
    assert!(
        err.starts_with("esk: cluster es in namespace default is down: no leader"),
        "{err}"
    );
}

#[test]
fn two_leaders_are_a_split() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    // es-3 lost its peers and elected itself; es-1 and es-2 still follow es-1.
    bed.kube.set_gossip(
        "es-3",
        Gossip::healthy(&[fqdn(3)])
            .with(&fqdn(1), "Leader")
            .alive(&fqdn(1), false),
    );
    let (code, doc, _) = status_json(&bed, &[]);
    assert_eq!(code, 11, "{doc:#}");
    assert_eq!(doc["verdict"], "down");
    assert_eq!(
        doc["reasons"][0],
        "two leaders, a split: es-1 (according to es-1, es-2) and es-3 (according to es-3)"
    );
}

#[test]
fn a_pending_node_and_a_crash_looping_node_are_named_with_their_reasons() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "5"]);
    let conflict = "0/3 nodes are available: 3 node(s) had volume node affinity conflict. \
                    preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    bed.kube
        .set_pod_state("es-4", PodState::unschedulable(conflict));
    let logs = "line 1\nline 2\nloading certificates\ncertificate es-5: name mismatch\n\
                [FTL] the node certificate does not name this node\nexiting\nbye\n";
    bed.kube
        .set_pod_state("es-5", PodState::crash_looping(6, logs));
    let (code, doc, err) = status_json(&bed, &[]);
    // Three of five still make a quorum with a leader: degraded, not down.
    assert_eq!(code, 10, "{doc:#}\n{err}");
    let pending = node(&doc, "es-4");
    assert_eq!(pending["pod"]["phase"], "Pending");
    assert_eq!(
        pending["problem"],
        format!(
            "Pending: no schedulable Kubernetes node can mount its disk (volume node affinity \
             conflict: the disk is in a zone, or on a node, the pod cannot run in): {conflict}"
        )
    );
    let looping = node(&doc, "es-5");
    assert_eq!(looping["pod"]["restarts"], 6);
    // The last five lines the previous container printed (`kubectl logs --previous --tail=5`).
    assert_eq!(
        looping["problem"],
        "crash-looping (6 restarts); last lines of the previous container:\n    loading \
         certificates\n    certificate es-5: name mismatch\n    [FTL] the node certificate does \
         not name this node\n    exiting\n    bye"
    );
    assert!(bed
        .kube
        .requests()
        .iter()
        .any(|r| r.contains("/pods/es-5-") && r.contains("/log?previous=true&tailLines=5")));
    let out = esk(&bed, &["status"]);
    let table = stdout(&out);
    assert!(
        table.contains("  es-5: crash-looping (6 restarts); last lines of the previous container:\n      loading certificates\n"),
        "{table}"
    );
    assert!(
        table.contains("  es-4: Pending: no schedulable Kubernetes node"),
        "{table}"
    );
    // Two of three down: no quorum.
    bed.kube
        .set_pod_state("es-3", PodState::image_pull_backoff("manifest unknown"));
    let (code, doc, _) = status_json(&bed, &[]);
    assert_eq!(code, 11, "{doc:#}");
    assert!(node(&doc, "es-3")["problem"].as_str().unwrap().starts_with(
        "cannot pull image docker.kurrent.io/kurrent-latest/kurrentdb:26.0.0: Failed to pull image"
    ));
    assert_eq!(
        doc["reasons"][0],
        "no quorum: 2 of 5 node(s) in the cluster, 3 needed"
    );
}

#[test]
fn warnings_name_the_fix() {
    let bed = TestBed::start();
    // One Kubernetes node, in another zone: spreading only preferred, disks in a zone with none.
    bed.kube.seed(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1",
        "labels": {"topology.kubernetes.io/zone": "us-central1-b"}}}),
    );
    esk_ok(&bed, &["create", "4", "--zone", "us-central1-a"]);
    esk_ok(&bed, &["resize", "2", "--force", "--zone", "us-central1-a"]);
    // The bed's own nodes in the disks' zone go away (a node pool scaled to zero).
    let gone = bed.run(
        "kubectl",
        &[
            "delete",
            "nodes",
            "-l",
            "topology.kubernetes.io/zone=us-central1-a",
        ],
        None,
    );
    assert!(gone.status.success(), "{}", text(&gone));
    let (_, doc, _) = status_json(&bed, &[]);
    // The record was made by create and last changed by the resize, seconds later.
    let (created, changed) = (&doc["cluster"]["created"], &doc["cluster"]["changed"]);
    assert!(
        changed.as_str().unwrap() > created.as_str().unwrap(),
        "{created} {changed}"
    );
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let all = warnings.join("\n");
    assert!(all.contains("2 nodes need 2 for quorum"), "{all}");
    assert!(
        all.contains("spreading the nodes over Kubernetes nodes is only preferred"),
        "{all}"
    );
    assert!(
        all.contains("disk(s) es-disk-3, es-disk-4 are kept from a shrink and used by no node: `esk resize 2 --prune-disks`"),
        "{all}"
    );
    assert!(
        all.contains("node 1's disk es-disk-1, node 2's disk es-disk-2: in zone us-central1-a, where the cluster has no Kubernetes node"),
        "{all}"
    );
}

#[test]
fn no_cluster_is_not_found_and_bad_flags_are_refused_before_any_call() {
    let bed = bed_with_nodes();
    let (code, doc, err) = status_json(&bed, &[]);
    assert_eq!(code, 12, "{err}");
    assert_eq!(doc["verdict"], "not-found");
    assert_eq!(err, "esk: no cluster es in namespace default\n");
    let out = esk(&bed, &["connection-string"]);
    assert_eq!(out.status.code(), Some(12), "{}", text(&out));
    // --wait does not wait for a cluster that is not there.
    let started = std::time::Instant::now();
    let out = esk(&bed, &["status", "--wait", "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(12), "{}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let before = bed.kube.requests().len();
    let out = esk(&bed, &["status", "-o", "xml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));
    let out = esk(&bed, &["status", "--name", "Bad_Name"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        bed.kube.requests().len(),
        before,
        "a refused run called the cluster"
    );
}

#[test]
fn connection_string_and_ca_cert() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    let out = esk_ok(&bed, &["connection-string"]);
    assert_eq!(
        stdout(&out),
        "kurrentdb+discover://es-client.default.svc.cluster.local:2113?tlsCaFile=ca.crt\n"
    );
    assert!(stderr(&out).contains("--show-password"), "{}", text(&out));
    let secret = bed
        .kube
        .get("Secret", Some("default"), "es-credentials")
        .unwrap();
    let password = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            secret["data"]["admin-password"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let out = esk_ok(
        &bed,
        &[
            "connection-string",
            "--show-password",
            "--ca-file",
            "/etc/es/ca.pem",
        ],
    );
    assert_eq!(
        stdout(&out),
        format!(
            "kurrentdb+discover://admin:{password}@es-client.default.svc.cluster.local:2113?tlsCaFile=/etc/es/ca.pem\n"
        )
    );

    let out = esk_ok(&bed, &["ca-cert"]);
    let ca = ca_cert(&bed).expect("the CA");
    assert_eq!(stdout(&out), ca);
    assert!(!stdout(&out).contains("PRIVATE KEY"));
    let file = bed.dir().join("ca.crt");
    esk_ok(&bed, &["ca-cert", "-o", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), ca);

    // Other profiles and an insecure cluster.
    esk_ok(
        &bed,
        &["--name", "old", "--profile", "eventstore-24", "create", "1"],
    );
    let out = esk_ok(&bed, &["--name", "old", "connection-string"]);
    assert_eq!(
        stdout(&out),
        "esdb+discover://old-client.default.svc.cluster.local:2113?tlsCaFile=ca.crt\n"
    );
    esk_ok(&bed, &["--name", "open", "--insecure", "create", "1"]);
    let out = esk_ok(
        &bed,
        &["--name", "open", "connection-string", "--show-password"],
    );
    assert_eq!(
        stdout(&out),
        "kurrentdb+discover://open-client.default.svc.cluster.local:2113?tls=false\n"
    );
    let out = esk(&bed, &["--name", "open", "ca-cert"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("runs without TLS"), "{}", text(&out));
}

fn secret_password(bed: &TestBed, ns: &str, name: &str, key: &str) -> String {
    let secret = bed.kube.get("Secret", Some(ns), name).unwrap();
    String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            secret["data"][key].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap()
}

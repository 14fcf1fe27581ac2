//! `--wait` means healthy: `esk status --wait`, `create --wait` and `resize --wait` return as
//! soon as one leader and its followers agree, and on timeout name every stuck node and why.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;
use testbed::kube::{Gossip, PodState};

fn bed_with_nodes() -> TestBed {
    let bed = TestBed::start();
    for i in 1..=3 {
        let name = format!("gke-test-pool-{i}");
        bed.kube.seed(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
            "labels": {"kubernetes.io/hostname": name, "topology.gke.io/zone": "us-central1-a"}}}),
        );
    }
    bed
}

fn fqdn(i: u8) -> String {
    format!("es-{i}.es.default.svc.cluster.local")
}

/// Every node discovering, none leading.
fn discovering() -> Gossip {
    let hosts: Vec<String> = (1..=3).map(fqdn).collect();
    hosts
        .iter()
        .fold(Gossip::healthy(&hosts), |g, h| g.state(h, "DiscoverLeader"))
}

#[test]
fn status_wait_returns_as_soon_as_the_cluster_is_healthy() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    bed.kube.set_gossip_all(discovering());
    let started = Instant::now();
    let child = bed
        .command(ESK)
        .args(["status", "--wait", "--timeout", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once esk has read every node's gossip once, the cluster recovers a second later.
    let gossip_reads = || {
        bed.kube
            .requests()
            .iter()
            .filter(|r| r.ends_with("/proxy/gossip"))
            .count()
    };
    let before = gossip_reads();
    while gossip_reads() < before + 3 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let flipped = Instant::now();
    bed.kube.clear_gossip();
    let out = child.wait_with_output().unwrap();
    let after_flip = flipped.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The next look sees it (looks are 0.5 s apart at first), far from the 60 s timeout.
    assert!(
        after_flip < Duration::from_secs(5),
        "returned {after_flip:?} after the cluster became healthy"
    );
    let progress = stderr(&out);
    // Plain lines (no terminal): each node's state as it changes.
    assert!(progress.contains("cluster es: down"), "{progress}");
    assert!(progress.contains("  es-2: DiscoverLeader"), "{progress}");
    assert!(
        progress.contains("cluster es: healthy (leader es-1)"),
        "{progress}"
    );
    assert!(progress.contains("  es-2: Follower"), "{progress}");
    assert!(
        stdout(&out).starts_with("cluster es in namespace default: healthy (leader es-1)"),
        "{}",
        text(&out)
    );
}

#[test]
fn status_wait_times_out_naming_the_stuck_node() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    // es-3 cannot find the others (as with a certificate naming the wrong host).
    bed.kube.set_gossip(
        "es-3",
        Gossip::healthy(&[fqdn(3)]).state(&fqdn(3), "DiscoverLeader"),
    );
    let started = Instant::now();
    let out = esk(&bed, &["status", "--wait", "--timeout", "3", "-o", "json"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(10), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verdict"], "degraded");
    let err = stderr(&out);
    assert!(
        err.contains("not healthy after 3s: cluster es in namespace default is degraded"),
        "{err}"
    );
    let report = &err[err.find("esk: not healthy").expect("the timeout report")..];
    // For the whole wait: at least the 3 s timeout.
    let stuck_for: u64 = report
        .split("  es-3: stuck in DiscoverLeader for ")
        .nth(1)
        .and_then(|rest| rest.split("s: ").next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(stuck_for >= 3, "{report}");
    assert!(
        report.contains("the usual cause is a DNS name or certificate name mismatch"),
        "{report}"
    );
    // Only the stuck node is named.
    assert!(
        !report.contains("  es-1:") && !report.contains("  es-2:"),
        "{report}"
    );
}

#[test]
fn create_wait_waits_for_a_healthy_cluster_and_names_what_is_stuck() {
    let bed = bed_with_nodes();
    bed.kube.set_gossip_all(discovering());
    let out = esk(&bed, &["create", "3", "--wait", "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(11), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "waiting for 3 node(s) to be ready failed; done before that: created disks \
             es-disk-1, es-disk-2, es-disk-3"
        ),
        "{err}"
    );
    assert!(
        err.contains("not healthy after 2s: cluster es in namespace default is down"),
        "{err}"
    );
    assert!(err.contains("  no leader (es-1 DiscoverLeader"), "{err}");
    assert!(
        err.contains("  es-1: stuck in DiscoverLeader for "),
        "{err}"
    );

    // A crash-looping node: named, with its previous container's last lines.
    bed.kube.clear_gossip();
    bed.kube.set_pod_state(
        "es-2",
        PodState::crash_looping(3, "starting\nbad certificate\n"),
    );
    let out = esk(&bed, &["create", "3", "--wait", "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out));
    assert!(
        stderr(&out).contains(
            "  es-2: crash-looping (3 restarts); last lines of the previous container:\n      \
             starting\n      bad certificate"
        ),
        "{}",
        text(&out)
    );

    bed.kube.clear_pod_state("es-2");
    let out = esk_ok(&bed, &["create", "3", "--wait"]);
    assert!(
        stderr(&out).contains("waiting for 3 node(s) to be ready: done"),
        "{}",
        text(&out)
    );
    assert!(stderr(&out).contains("leader es-1"), "{}", text(&out));
}

#[test]
fn resize_wait_waits_for_the_new_nodes() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    bed.kube.set_pod_state(
        "es-5",
        PodState::unschedulable("0/3 nodes are available: 3 Insufficient memory."),
    );
    let out = esk(&bed, &["resize", "5", "--wait", "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out));
    assert!(
        stderr(&out).contains("  es-5: Pending: no Kubernetes node has enough free CPU or memory"),
        "{}",
        text(&out)
    );
    bed.kube.clear_pod_state("es-5");
    esk_ok(&bed, &["resize", "5", "--wait"]);
}

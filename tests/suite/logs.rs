//! `esk logs` end to end: the real esk and kubectl against the test bed, whose kubelet serves
//! each node's log lines with the times a test gives them.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;
use crate::status::bed_with_nodes;
use testbed::kube::PodState;

/// A running node whose container wrote `lines` (time, text).
fn logged(lines: &[(&str, &str)]) -> PodState {
    PodState {
        logs: lines.iter().map(|(_, l)| format!("{l}\n")).collect(),
        log_times: lines.iter().map(|(t, _)| t.to_string()).collect(),
        ..PodState::default()
    }
}

/// The node's pod that is not being deleted.
fn pod_of(bed: &TestBed, node: &str) -> String {
    esk_objects(bed, "Pod", "es")
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .find(|n| n.starts_with(&format!("{node}-")))
        .expect("the node's pod")
}

fn three_nodes_with_logs() -> TestBed {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    bed.kube.set_pod_state(
        "es-1",
        logged(&[
            ("2026-03-01T10:00:00.100000000Z", "one starts"),
            ("2026-03-01T10:00:04Z", "one elected leader"),
        ]),
    );
    bed.kube.set_pod_state(
        "es-2",
        logged(&[
            ("2026-03-01T10:00:00.050000000Z", "two starts"),
            ("2026-03-01T10:00:05.5Z", "two follows"),
        ]),
    );
    bed.kube.set_pod_state(
        "es-3",
        logged(&[
            ("2026-03-01T10:00:01Z", "three starts"),
            ("2026-03-01T10:00:04.000000001Z", "three follows"),
        ]),
    );
    bed
}

#[test]
fn the_nodes_logs_are_merged_in_time_order_each_line_prefixed_with_its_node() {
    let bed = three_nodes_with_logs();
    let out = esk_ok(&bed, &["logs"]);
    assert_eq!(
        stdout(&out),
        "es-2 | two starts\nes-1 | one starts\nes-3 | three starts\nes-1 | one elected leader\n\
         es-3 | three follows\nes-2 | two follows\n",
        "{}",
        text(&out)
    );
    // One `kubectl logs --timestamps` per node pod.
    let reads: Vec<String> = bed
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.contains("/log?"))
        .collect();
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert!(
        reads.iter().all(|r| r.contains("timestamps=true")),
        "{reads:?}"
    );
    let out = esk_ok(&bed, &["logs", "--timestamps"]);
    assert!(
        stdout(&out).starts_with("es-2 | 2026-03-01T10:00:00.050000000Z two starts\n"),
        "{}",
        text(&out)
    );
}

#[test]
fn one_node_with_node_and_unknown_nodes_or_durations_are_refused() {
    let bed = three_nodes_with_logs();
    let out = esk_ok(&bed, &["logs", "--node", "3"]);
    assert_eq!(stdout(&out), "es-3 | three starts\nes-3 | three follows\n");
    let before = bed.kube.requests().len();
    for (args, message) in [
        (
            &["logs", "--node", "4"][..],
            "esk: cluster es has no node 4 (it has nodes 1 to 3)",
        ),
        (
            &["logs", "--node", "x"][..],
            "esk: --node takes a node number from 1 to 99, got \"x\"",
        ),
        (
            &["logs", "--since", "1d"][..],
            "esk: --since takes a duration such as 30s, 10m, 2h or 1h30m, got \"1d\"",
        ),
    ] {
        let out = esk(&bed, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert_eq!(stderr(&out).trim_end(), message);
    }
    // Bad flags are refused before any call; an unknown node after one read of the cluster.
    let logs_read = bed.kube.requests()[before..]
        .iter()
        .filter(|r| r.contains("/log"))
        .count();
    assert_eq!(logs_read, 0);
    // --since reaches the kubelet as sinceSeconds (the lines above are older than an hour).
    let out = esk_ok(&bed, &["logs", "--since", "1h"]);
    assert_eq!(stdout(&out), "", "{}", text(&out));
    assert!(bed
        .kube
        .requests()
        .iter()
        .any(|r| r.contains("sinceSeconds=3600")));
}

#[test]
fn previous_prints_the_containers_before_the_last_restart() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    bed.kube.set_pod_state(
        "es-2",
        PodState::crash_looping(3, "loading\n[FTL] cannot open the database\n"),
    );
    let out = esk_ok(&bed, &["logs", "--previous"]);
    assert_eq!(
        stdout(&out),
        "es-2 | loading\nes-2 | [FTL] cannot open the database\n",
        "{}",
        text(&out)
    );
    // The nodes that never restarted have no previous container: said, not fatal.
    let err = stderr(&out);
    assert!(
        err.contains("esk: no log from es-1: ") && err.contains("previous terminated container"),
        "{err}"
    );
    assert!(bed
        .kube
        .requests()
        .iter()
        .any(|r| r.contains("/pods/es-2-") && r.contains("previous=true")));
}

#[test]
fn follow_prints_new_lines_and_the_new_pod_after_a_restart() {
    let bed = three_nodes_with_logs();
    let mut child = bed
        .command(ESK)
        .args(["logs", "-f", "--node", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("esk runs");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s")
    };
    assert_eq!(next(), "es-1 | one starts");
    assert_eq!(next(), "es-1 | one elected leader");
    let old_name = pod_of(&bed, "es-1");
    // The container writes on: the line arrives over the open stream.
    bed.kube.set_pod_state(
        "es-1",
        logged(&[
            ("2026-03-01T10:00:00.100000000Z", "one starts"),
            ("2026-03-01T10:00:04Z", "one elected leader"),
            ("2026-03-01T10:05:00Z", "one writes on"),
        ]),
    );
    assert_eq!(next(), "es-1 | one writes on");
    let follows = |pod: &str| {
        bed.kube
            .requests()
            .iter()
            .filter(|r| r.contains(&format!("/pods/{pod}/log?")) && r.contains("follow=true"))
            .count()
    };
    assert_eq!(follows(&old_name), 1, "one stream, not polling");
    // The pod is replaced (a restart) and its new container writes more.
    let deleted = bed.run(
        "kubectl",
        &["delete", "pod", &old_name, "--wait=false"],
        None,
    );
    assert!(deleted.status.success(), "{}", text(&deleted));
    bed.kube.set_pod_state(
        "es-1",
        logged(&[
            ("2026-03-01T10:00:00.100000000Z", "one starts"),
            ("2026-03-01T10:00:04Z", "one elected leader"),
            ("2026-03-01T10:05:00Z", "one writes on"),
            ("2026-03-01T10:09:00Z", "one restarted"),
        ]),
    );
    assert_eq!(next(), "es-1 | one restarted");
    let new_name = pod_of(&bed, "es-1");
    assert_ne!(new_name, old_name);
    assert!(follows(&new_name) >= 1, "esk followed the new pod");
    // Interrupted: kubectl is stopped with it.
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    assert_eq!(child.wait().expect("esk ends").code(), Some(130));
}

//! `esk ui`: the real kubectl's port-forward (WebSocket tried first, then SPDY, as kubectl
//! 1.32 does) to the leader's pod, which the test bed's API server upgrades and records.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;
use crate::status::bed_with_nodes;
use testbed::kube::Gossip;

fn fqdn(i: u8) -> String {
    format!("es-{i}.es.default.svc.cluster.local")
}

fn pod_of(bed: &TestBed, node: &str) -> String {
    esk_objects(bed, "Pod", "es")
        .into_iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .find(|n| n.starts_with(&format!("{node}-")))
        .expect("the node's pod")
}

/// Runs `esk ui ARGS` until it prints its first line, then interrupts it.
fn first_line_of_ui(bed: &TestBed, args: &[&str]) -> (String, Option<i32>) {
    let mut child = bed
        .command(ESK)
        .arg("ui")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("esk runs");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    // Still in the foreground, forwarding, until interrupted.
    let running = child.try_wait().expect("wait").is_none();
    unsafe_interrupt(child.id());
    let status = child.wait().expect("esk ends");
    assert!(running, "esk ui ended by itself");
    (line.expect("a URL within 30 s"), status.code())
}

fn unsafe_interrupt(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
}

#[test]
fn ui_forwards_to_the_leaders_pod_and_prints_its_url() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    // es-2 leads.
    let hosts = [fqdn(2), fqdn(1), fqdn(3)];
    bed.kube.set_gossip_all(Gossip::healthy(&hosts));
    let leader_pod = pod_of(&bed, "es-2");
    let (line, code) = first_line_of_ui(&bed, &["--port", "0"]);
    let url = line
        .strip_prefix("es-2 (leader): https://localhost:")
        .unwrap_or_else(|| panic!("{line}"));
    let port: u16 = url.split('/').next().unwrap().parse().expect("a port");
    assert!(port > 0, "{line}");
    assert!(line.contains(&format!("(pod {leader_pod};")), "{line}");
    assert_eq!(code, Some(130), "interrupted");
    let forwards: Vec<String> = bed
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.contains("/portforward"))
        .collect();
    // kubectl 1.32 asks for a WebSocket first (GET) and, refused, falls back to SPDY (POST).
    assert!(forwards[0].starts_with("GET "), "{forwards:?}");
    assert!(
        forwards.iter().any(|r| r.starts_with(&format!(
            "POST /api/v1/namespaces/default/pods/{leader_pod}/portforward"
        ))),
        "{forwards:?}"
    );
    assert!(
        forwards.iter().all(|r| r.contains(&leader_pod)),
        "only the leader's pod: {forwards:?}"
    );
    // --node picks another; a node that is not there is refused.
    let (line, _) = first_line_of_ui(&bed, &["--node", "3", "--port", "0"]);
    assert!(line.starts_with("es-3: https://localhost:"), "{line}");
    let out = esk(&bed, &["ui", "--node", "9"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = esk(&bed, &["ui", "--port", "70000"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

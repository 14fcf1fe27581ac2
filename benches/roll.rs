//! `cargo bench --bench roll`: wall time of restarting every node of a 5-node cluster on the
//! test bed (real kubectl against the emulator), each new pod taking ESK_BENCH_START seconds
//! (default 3) to become Ready — standing in for the server's own restart and catch-up — so
//! what is left over is what the strategy itself costs per node.
//!
//! - esk: `esk restart` (followers first, each back in gossip before the next, the leader
//!   asked to resign through a curl Job and restarted once another node leads), median of 3.
//! - naive serial: what a script does, per node in order: `kubectl rollout restart
//!   deployment/es-i`, then `kubectl get pods` every second until the node's new pod is Ready
//!   (no quorum check, no gossip, the leader restarted whenever its turn comes), one run.

mod common;

use std::time::{Duration, Instant};

use common::{check, median, ESK};
use serde_json::Value;
use testbed::TestBed;

const NODES: usize = 5;

fn bed(start: Duration) -> TestBed {
    let bed = common::gke_cluster(NODES);
    bed.kube.set_pod_start_delay(start);
    bed.kube.set_leader("es-3");
    bed
}

/// Node `i`'s pods: (name, Ready).
fn node_pods(bed: &TestBed, i: usize) -> Vec<(String, bool)> {
    let selector = format!("app.kubernetes.io/instance=es,esk.io/node={i}");
    let out = bed.run(
        "kubectl",
        &["get", "pods", "-l", &selector, "-o", "json"],
        None,
    );
    check("kubectl get pods", &out);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let ready = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                ready,
            )
        })
        .collect()
}

fn naive_serial(bed: &TestBed) -> Duration {
    let started = Instant::now();
    for i in 1..=NODES {
        let before: Vec<String> = node_pods(bed, i).into_iter().map(|(n, _)| n).collect();
        let deployment = format!("deployment/es-{i}");
        check(
            "kubectl rollout restart",
            &bed.run("kubectl", &["rollout", "restart", &deployment], None),
        );
        loop {
            let pods = node_pods(bed, i);
            if !pods.is_empty() && pods.iter().all(|(n, ready)| *ready && !before.contains(n)) {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    started.elapsed()
}

fn main() {
    let secs: f64 = std::env::var("ESK_BENCH_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let start = Duration::from_secs_f64(secs);
    let floor = start.as_secs_f64() * NODES as f64;
    println!(
        "restarting a {NODES}-node cluster on the test bed, each new pod Ready after {secs:.1} s \
         (the nodes' own time: {floor:.1} s)"
    );
    let bed = bed(start);
    let esk: Vec<Duration> = (0..3)
        .map(|_| {
            let started = Instant::now();
            let out = bed.run(ESK, &["restart", "-q"], None);
            let took = started.elapsed();
            check("esk restart", &out);
            took
        })
        .collect();
    let esk = median(esk).as_secs_f64();
    let naive = naive_serial(&bed).as_secs_f64();
    let per_node = |t: f64| (t - floor) / NODES as f64;
    println!(
        "esk restart (resign, gossip, leader last): {esk:>6.1} s   {:>4.1} s per node beyond \
         the nodes' own time",
        per_node(esk)
    );
    println!(
        "naive serial (rollout restart + poll):     {naive:>6.1} s   {:>4.1} s per node beyond \
         the nodes' own time",
        per_node(naive)
    );
    println!("esk / naive: {:.2}x", esk / naive);
}

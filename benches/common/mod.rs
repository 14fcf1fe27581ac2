//! What the benchmarks share: the esk binary under test, checking a run, the median of a few
//! runs, and a GKE-like test bed holding a cluster esk made. Each bench is its own crate and
//! uses only some of these, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::process::Output;
use std::time::Duration;

use serde_json::json;
use testbed::TestBed;

pub const ESK: &str = env!("CARGO_BIN_EXE_esk");

/// Panics with the run's output unless it succeeded: a failed run's time means nothing.
pub fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A GKE bed (three Kubernetes nodes in one zone) on which `esk create N -q` made a cluster.
pub fn gke_cluster(nodes: usize) -> TestBed {
    let bed = TestBed::start();
    for i in 1..=3 {
        bed.kube.seed(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("node-{i}"),
                "labels": {"topology.gke.io/zone": "us-central1-a"}}}));
    }
    check(
        "esk create",
        &bed.run(ESK, &["create", &nodes.to_string(), "-q"], None),
    );
    bed
}

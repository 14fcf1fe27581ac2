//! `cargo bench --bench status`: wall time of `esk status` on the test bed (real kubectl, its
//! proxy and gcloud against the local emulators) for clusters of ESK_BENCH_NODES nodes
//! (default 3,99), median of five runs; beside it, what reading every node's gossip with one
//! `kubectl get --raw` per node (16 at a time) costs instead of through one proxy, and the one
//! `gcloud compute disks list` status makes (its floor: gcloud alone costs about a second).

mod common;

use std::time::{Duration, Instant};

use common::{check, median, ESK};
use testbed::TestBed;

/// One `kubectl get --raw` per node pod, 16 at a time.
fn per_node_get_raw(bed: &TestBed) -> Duration {
    let pods: Vec<String> = bed
        .kube
        .pods("default")
        .iter()
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/component"] == "node")
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect();
    let started = Instant::now();
    for chunk in pods.chunks(16) {
        std::thread::scope(|s| {
            for pod in chunk {
                s.spawn(move || {
                    let path =
                        format!("/api/v1/namespaces/default/pods/https:{pod}:2113/proxy/gossip");
                    check(
                        "kubectl get --raw",
                        &bed.run("kubectl", &["get", "--raw", &path], None),
                    );
                });
            }
        });
    }
    started.elapsed()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("ESK_BENCH_NODES")
        .unwrap_or_else(|_| "3,99".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("esk status on the test bed, median of 5 runs");
    for n in sizes {
        let bed = common::gke_cluster(n);
        let status: Vec<Duration> = (0..5)
            .map(|_| {
                let started = Instant::now();
                let out = bed.run(ESK, &["status", "-o", "json"], None);
                let took = started.elapsed();
                check("esk status", &out);
                took
            })
            .collect();
        let raw: Vec<Duration> = (0..5).map(|_| per_node_get_raw(&bed)).collect();
        let list: Vec<Duration> = (0..5)
            .map(|_| {
                let started = Instant::now();
                let args = [
                    "compute",
                    "disks",
                    "list",
                    "--format=json",
                    "--zones=us-central1-a",
                    "--filter=labels.esk-cluster=es",
                ];
                check("gcloud disks list", &bed.run("gcloud", &args, None));
                started.elapsed()
            })
            .collect();
        println!(
            "N={n:<3} esk status: {:>5.2} s   gcloud disks list alone: {:>5.2} s   gossip by one \
             kubectl get --raw per node instead: {:>5.2} s",
            median(status).as_secs_f64(),
            median(list).as_secs_f64(),
            median(raw).as_secs_f64()
        );
    }
}

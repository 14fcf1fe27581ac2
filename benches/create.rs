//! `cargo bench --bench create`: wall time of `esk create N` against the old scripts' serial
//! one-call-per-node strategy, on the same test bed (real gcloud, aws and kubectl against the
//! local emulators), with every disk operation taking ESK_BENCH_LATENCY seconds (default 2).
//!
//! ESK_BENCH_NODES=1,5,20 picks the sizes; ESK_BENCH_AWS=0 skips the aws rows.

mod common;

use std::time::{Duration, Instant};

use common::{check, ESK};
use testbed::TestBed;

fn gke_bed(latency: Duration) -> TestBed {
    let bed = TestBed::start();
    bed.gce.set_operation_latency(latency);
    bed
}

/// esk: one list, one batched create, one apply.
fn esk_create(bed: &TestBed, n: usize) -> Duration {
    let started = Instant::now();
    check(
        "esk create",
        &bed.run(ESK, &["create", &n.to_string(), "-q"], None),
    );
    started.elapsed()
}

/// The old create_cluster.sh: per node, look the disk up, create it, apply the node's file;
/// then one call per shared object.
fn serial_gke(bed: &TestBed, n: usize) -> Duration {
    let rendered = bed.run(ESK, &["render", &n.to_string()], None);
    check("esk render", &rendered);
    let docs: Vec<String> = String::from_utf8_lossy(&rendered.stdout)
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(str::to_string)
        .collect();
    let started = Instant::now();
    for i in 1..=n {
        let disk = format!("es-disk-{i}");
        check(
            "gcloud list",
            &bed.run(
                "gcloud",
                &[
                    "compute",
                    "disks",
                    "list",
                    &format!("--filter=name={disk}"),
                    "--format=json",
                ],
                None,
            ),
        );
        check(
            "gcloud create",
            &bed.run(
                "gcloud",
                &["compute", "disks", "create", &disk, "--size=20GB"],
                None,
            ),
        );
        let node_label = format!("esk.io/node: '{i}'");
        let node_docs: Vec<&String> = docs.iter().filter(|d| d.contains(&node_label)).collect();
        let manifest = node_docs
            .iter()
            .map(|d| format!("---\n{d}"))
            .collect::<String>();
        check(
            "kubectl apply node",
            &bed.run("kubectl", &["apply", "-f", "-"], Some(&manifest)),
        );
    }
    for d in docs.iter().filter(|d| !d.contains("esk.io/node:")) {
        check(
            "kubectl apply shared",
            &bed.run("kubectl", &["apply", "-f", "-"], Some(&format!("---\n{d}"))),
        );
    }
    started.elapsed()
}

fn aws_bed() -> TestBed {
    let bed = TestBed::with_context("arn:aws:eks:us-east-1:123456789012:cluster/bench");
    bed.moto();
    bed
}

/// Serial EBS: one create-volume and one wait per node, like the old script's loop.
fn serial_aws(bed: &TestBed, n: usize) -> Duration {
    let started = Instant::now();
    for i in 1..=n {
        let tags = format!(
            "--tag-specifications=ResourceType=volume,Tags=[{{Key=Name,Value=es-disk-{i}}}]"
        );
        let out = bed.run(
            "aws",
            &[
                "ec2",
                "create-volume",
                "--availability-zone=us-east-1a",
                "--size=20",
                "--output=json",
                &tags,
            ],
            None,
        );
        check("aws create-volume", &out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let id = v["VolumeId"].as_str().unwrap_or_default().to_string();
        check(
            "aws wait",
            &bed.run(
                "aws",
                &["ec2", "wait", "volume-available", "--volume-ids", &id],
                None,
            ),
        );
    }
    started.elapsed()
}

fn main() {
    let latency: f64 = std::env::var("ESK_BENCH_LATENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    let sizes: Vec<usize> = std::env::var("ESK_BENCH_NODES")
        .unwrap_or_else(|_| "1,5,20".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let latency = Duration::from_secs_f64(latency);
    let starts: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let bed = TestBed::start();
            let took = started.elapsed();
            drop(bed);
            took
        })
        .collect();
    println!(
        "test bed start (both emulators, kubeconfig, dirs): median {:.1} ms of 5",
        common::median(starts).as_secs_f64() * 1000.0
    );
    println!(
        "esk create vs the serial one-call-per-node strategy, disk operations take {latency:?}"
    );
    println!(
        "{:<28}{}",
        "",
        sizes
            .iter()
            .map(|n| format!("{:>10}", format!("N={n}")))
            .collect::<String>()
    );

    let mut rows: Vec<(&str, Vec<Duration>)> = Vec::new();
    // esk's rows are the median of three runs (each on a fresh bed); the serial ones, which
    // take minutes, run once.
    let median = |f: &dyn Fn() -> Duration| common::median((0..3).map(|_| f()).collect());
    rows.push((
        "gke: esk create",
        sizes
            .iter()
            .map(|&n| median(&|| esk_create(&gke_bed(latency), n)))
            .collect(),
    ));
    rows.push((
        "gke: serial (old script)",
        sizes
            .iter()
            .map(|&n| serial_gke(&gke_bed(latency), n))
            .collect(),
    ));
    if std::env::var("ESK_BENCH_AWS").map_or(true, |v| v != "0") {
        rows.push((
            "aws: esk create",
            sizes
                .iter()
                .map(|&n| median(&|| esk_create(&aws_bed(), n)))
                .collect(),
        ));
        rows.push((
            "aws: serial create+wait",
            sizes.iter().map(|&n| serial_aws(&aws_bed(), n)).collect(),
        ));
    }
    for (name, times) in &rows {
        println!(
            "{name:<28}{}",
            times
                .iter()
                .map(|t| format!("{:>9.1}s", t.as_secs_f64()))
                .collect::<String>()
        );
    }
    for pair in rows.chunks(2) {
        if let [(fast, f), (slow, s)] = pair {
            let ratios: String = f
                .iter()
                .zip(s)
                .map(|(f, s)| format!("{:>9.1}x", s.as_secs_f64() / f.as_secs_f64()))
                .collect();
            println!(
                "{:<28}{ratios}",
                format!("{}: serial / esk", slow.split(':').next().unwrap_or(""))
            );
            let _ = fast;
        }
    }
    if let (Some(first), Some(last)) = (rows[0].1.first(), rows[0].1.last()) {
        println!(
            "gke: esk create N={} takes {:.2}x esk create N={} (target: at most 1.5x)",
            sizes.last().unwrap_or(&0),
            last.as_secs_f64() / first.as_secs_f64(),
            sizes.first().unwrap_or(&0)
        );
    }
}

//! `cargo bench --bench grow`: wall time of growing every node disk of a 5-node GKE cluster on
//! the test bed (real kubectl against the emulator, whose external-resizer takes
//! ESK_BENCH_RESIZE seconds per expansion, default 2, standing in for the cloud's
//! `ControllerExpandVolume`), so what is left over is what the strategy itself costs.
//!
//! - esk: `esk disks grow SIZE` (one apply raising every claim, then one read of all the
//!   claims every 0.5 s until each shows the size), median of 3 (20 → 30, 40, 50 GiB); beside
//!   it, a run with nothing to grow (`esk disks grow 50` again), esk's fixed cost per run.
//! - naive serial: what a script does, per claim in order: `kubectl patch` its request, then
//!   `kubectl get` it every 0.5 s (esk's own interval) until its `status.capacity` shows the
//!   size (50 → 60 GiB), one run.

mod common;

use std::time::{Duration, Instant};

use common::{check, median, ESK};
use testbed::TestBed;

const NODES: usize = 5;
/// How often both strategies read the claims back.
const POLL: Duration = Duration::from_millis(500);

fn naive_serial(bed: &TestBed, gib: u64) -> Duration {
    let size = format!("{gib}Gi");
    let patch = format!(r#"{{"spec":{{"resources":{{"requests":{{"storage":"{size}"}}}}}}}}"#);
    let started = Instant::now();
    for i in 1..=NODES {
        let claim = format!("es-data-{i}");
        check(
            "kubectl patch",
            &bed.run("kubectl", &["patch", "pvc", &claim, "-p", &patch], None),
        );
        loop {
            let out = bed.run(
                "kubectl",
                &[
                    "get",
                    "pvc",
                    &claim,
                    "-o",
                    "jsonpath={.status.capacity.storage}",
                ],
                None,
            );
            check("kubectl get pvc", &out);
            if String::from_utf8_lossy(&out.stdout).trim() == size {
                break;
            }
            std::thread::sleep(POLL);
        }
    }
    started.elapsed()
}

/// Every cloud disk of the cluster holds `gib`: the time measured is a real growth.
fn assert_disks(bed: &TestBed, gib: u64) {
    let sizes: Vec<u64> = bed.gce.disks().iter().map(|d| d.size_gb).collect();
    assert_eq!(sizes, vec![gib; NODES], "cloud disk sizes");
}

fn main() {
    let secs: f64 = std::env::var("ESK_BENCH_RESIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let resize = Duration::from_secs_f64(secs);
    println!(
        "growing the {NODES} node disks of a gke cluster on the test bed, each expansion taking \
         {secs:.1} s (the serial floor: {:.1} s)",
        secs * NODES as f64
    );
    let bed = common::gke_cluster(NODES);
    bed.kube.set_expansion_latency(resize);
    let esk: Vec<Duration> = [30u64, 40, 50]
        .iter()
        .map(|gib| {
            let started = Instant::now();
            let out = bed.run(ESK, &["disks", "grow", &gib.to_string(), "-q"], None);
            let took = started.elapsed();
            check("esk disks grow", &out);
            assert_disks(&bed, *gib);
            took
        })
        .collect();
    let esk = median(esk).as_secs_f64();
    // What any run costs (observe, lock, plan, apply, record) with nothing to grow.
    let fixed: Vec<Duration> = (0..3)
        .map(|_| {
            let started = Instant::now();
            let out = bed.run(ESK, &["disks", "grow", "50", "-q"], None);
            let took = started.elapsed();
            check("esk disks grow (no change)", &out);
            took
        })
        .collect();
    let fixed = median(fixed).as_secs_f64();
    let naive = naive_serial(&bed, 60).as_secs_f64();
    assert_disks(&bed, 60);
    println!(
        "esk disks grow (one apply, one wait for all): {esk:>6.1} s   {:>4.1} s beyond one \
         expansion",
        esk - secs
    );
    println!(
        "  of which a run with nothing to grow:       {fixed:>6.1} s   so the growth itself: \
         {:>4.1} s",
        esk - fixed
    );
    println!(
        "naive serial (patch + poll, per claim):       {naive:>6.1} s   {:>4.1} s per claim \
         beyond its expansion",
        (naive - secs * NODES as f64) / NODES as f64
    );
    println!("naive / esk: {:.1}x", naive / esk);
}

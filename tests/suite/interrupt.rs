//! SIGINT / SIGTERM: esk stops its running call, releases the cluster lock, says what exists
//! and that a re-run resumes, and exits 130 / 143; the re-run converges.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// Starts `esk create 3` with slow disk operations and signals it once its disks are asked for.
fn interrupted_create(signal: &str) -> (TestBed, std::process::Output) {
    let bed = TestBed::start();
    bed.gce.set_operation_latency(Duration::from_secs(5));
    let child = bed
        .command(ESK)
        .args(["create", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start esk");
    let started = Instant::now();
    while !bed
        .gce
        .requests()
        .iter()
        .any(|r| r.starts_with("POST /batch"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "esk never created disks"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out = child.wait_with_output().expect("esk output");
    (bed, out)
}

fn assert_clean_stop(bed: &TestBed, out: &std::process::Output, code: i32, name: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let err = stderr(out);
    assert!(err.contains(&format!("interrupted by {name}")), "{err}");
    assert!(
        err.contains("interrupted while creating 3 disk(s)"),
        "{err}"
    );
    assert!(err.contains("released the cluster lock"), "{err}");
    assert!(err.contains("re-running the same command resumes"), "{err}");
    assert!(
        bed.kube.get("Lease", Some("default"), "esk.es").is_none(),
        "the lock outlived the run"
    );
    // The re-run finds what the interrupted one made and finishes, making each disk once.
    bed.gce.set_operation_latency(Duration::ZERO);
    esk_ok(bed, &["create", "3"]);
    assert_eq!(labelled_gce_disks(bed, "es").len(), 3);
    assert_eq!(bed.gce.disks().len(), 3);
    assert_eq!(node_deployments(bed, "es").len(), 3);
}

#[test]
fn sigterm_releases_the_lock_and_exits_143() {
    let (bed, out) = interrupted_create("-TERM");
    assert_clean_stop(&bed, &out, 143, "SIGTERM");
}

#[test]
fn sigint_releases_the_lock_and_exits_130() {
    let (bed, out) = interrupted_create("-INT");
    assert_clean_stop(&bed, &out, 130, "SIGINT");
}

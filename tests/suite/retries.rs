//! Transient faults are retried with backoff and end with exactly the intended disks;
//! permanent ones stop at once with the CLI's message and what exists.

use std::time::{Duration, Instant};

use crate::common::*;

fn gce_fault(
    method: &str,
    path: &str,
    status: u16,
    reason: &str,
    times: usize,
) -> testbed::gce::Fault {
    testbed::gce::Fault {
        method: Some(method.into()),
        path_contains: path.into(),
        status,
        reason: reason.into(),
        times,
    }
}

fn kube_fault(method: &str, path: &str, status: u16, times: usize) -> testbed::kube::Fault {
    testbed::kube::Fault {
        method: Some(method.into()),
        path_contains: path.into(),
        status,
        times,
    }
}

fn three_disks(bed: &TestBed) {
    let disks: Vec<String> = labelled_gce_disks(bed, "es")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(disks, ["es-disk-1", "es-disk-2", "es-disk-3"]);
    assert_eq!(bed.gce.disks().len(), 3, "a retry made an extra disk");
    assert_eq!(node_deployments(bed, "es").len(), 3);
}

#[test]
fn a_throttled_disk_list_is_retried() {
    let bed = TestBed::start();
    bed.gce
        .inject_fault(gce_fault("GET", "/disks", 429, "rateLimitExceeded", 2));
    let out = esk_ok(&bed, &["create", "3"]);
    assert!(stderr(&out).contains("retrying gcloud"), "{}", text(&out));
    three_disks(&bed);
}

#[test]
fn gcloud_retries_a_failed_batch_itself_and_esk_makes_each_disk_once() {
    let bed = TestBed::start();
    // The batch envelope fails twice: gcloud sends it again on its own.
    bed.gce.inject_fault(gce_fault(
        "POST",
        "/batch/compute/v1",
        503,
        "backendError",
        2,
    ));
    esk_ok(&bed, &["create", "3"]);
    three_disks(&bed);
}

#[test]
fn a_create_whose_answer_never_came_is_checked_by_name_before_it_is_tried_again() {
    let bed = TestBed::start();
    // The inserts are accepted at once but their operations take 8 s; esk stops waiting for
    // gcloud after 4 s, so it cannot know whether the disks were made.
    bed.gce.set_operation_latency(Duration::from_secs(8));
    let out = bed
        .command(ESK)
        .args(["create", "3"])
        .env("ESK_CALL_TIMEOUT", "4")
        .output()
        .expect("run esk");
    assert!(out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("no answer within 4s"), "{err}");
    assert!(err.contains("retrying gcloud"), "{err}");
    three_disks(&bed);
    let inserts = bed
        .gce
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.ends_with("/disks"))
        .count();
    assert_eq!(
        inserts,
        3,
        "a disk was inserted twice: {:?}",
        bed.gce.requests()
    );
}

#[test]
fn api_server_errors_are_retried() {
    let bed = TestBed::start();
    bed.kube
        .inject_fault(kube_fault("PATCH", "/deployments/es-2", 503, 2));
    bed.kube
        .inject_fault(kube_fault("GET", "/configmaps", 429, 1));
    bed.kube.inject_fault(kube_fault("POST", "/leases", 500, 1));
    let out = esk_ok(&bed, &["create", "3"]);
    assert!(stderr(&out).contains("retrying kubectl"), "{}", text(&out));
    three_disks(&bed);
    assert!(bed.kube.get("Lease", Some("default"), "esk.es").is_none());
}

#[test]
fn a_quota_error_stops_at_once_with_the_message() {
    let bed = TestBed::start();
    bed.gce
        .inject_fault(gce_fault("POST", "/disks", 403, "quotaExceeded", 1));
    let started = Instant::now();
    let out = esk(&bed, &["create", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("Quota"), "{err}");
    assert!(
        !err.contains("retrying"),
        "a permanent error was retried: {err}"
    );
    assert!(err.contains("re-running resumes"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(bed.gce.disks().is_empty());
}

#[test]
fn a_forbidden_apply_stops_at_once() {
    let bed = TestBed::start();
    bed.kube
        .inject_fault(kube_fault("PATCH", "/deployments/es-1", 403, 1));
    let out = esk(&bed, &["create", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Forbidden") || err.contains("forbidden"),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");
    assert!(
        err.contains("done before that: created disks es-disk-1"),
        "{err}"
    );
    assert!(
        bed.kube.get("Lease", Some("default"), "esk.es").is_none(),
        "lock left behind"
    );
}

#[test]
fn ec2_throttling_beyond_the_aws_clis_own_retries_is_retried_once_more() {
    let bed = TestBed::with_context("arn:aws:eks:us-east-1:123456789012:cluster/test");
    // The aws CLI makes 5 attempts itself; 6 throttled answers outlast one of its calls.
    bed.moto()
        .inject_fault(testbed::moto::AwsFault::request_limit_exceeded(
            "CreateVolume",
            6,
        ));
    let out = esk_ok(&bed, &["create", "1", "--zone", "us-east-1a"]);
    assert!(stderr(&out).contains("retrying aws"), "{}", text(&out));
    let created = bed
        .moto()
        .actions()
        .iter()
        .filter(|a| a.starts_with("CreateVolume"))
        .count();
    assert_eq!(created, 7, "6 throttled tries and the one that worked");
    let out = bed.run(
        "aws",
        &[
            "ec2",
            "describe-volumes",
            "--query",
            "length(Volumes)",
            "--output=text",
        ],
        None,
    );
    assert_eq!(stdout(&out).trim(), "1", "one volume, whatever the retries");
}

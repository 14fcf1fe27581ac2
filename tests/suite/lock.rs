//! The cluster lock: one Lease per cluster, taken by every mutating run and released at its
//! end; a second run waits (or gives up with exit 4 naming the holder); a stale lease is taken
//! over; two runs started together never interleave.

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

fn lease(bed: &TestBed) -> Option<Value> {
    bed.kube.get("Lease", Some("default"), "esk.es")
}

fn micro_time(ago: Duration) -> String {
    let t = std::time::SystemTime::now() - ago;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{secs}"),
            "+%Y-%m-%dT%H:%M:%S.000000Z",
        ])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A Lease as another esk run would have written it (on this machine when `host` is ours).
fn seed_lease(bed: &TestBed, renewed_ago: Duration, host: &str, pid: u32) {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot id");
    let ns = std::fs::read_link("/proc/self/ns/pid").expect("pid namespace");
    // The bed's clean environment has no USER or LOGNAME: esk calls itself "unknown" there.
    let user = "unknown";
    bed.kube.seed(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": "esk.es", "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "esk", "esk.io/lock-of": "es"},
            "annotations": {"esk.io/command": "resize 7", "esk.io/user": user,
                "esk.io/host": host, "esk.io/pid": pid.to_string(), "esk.io/pid-start": "1",
                "esk.io/boot-id": boot.trim(), "esk.io/pid-ns": ns.display().to_string()}
        },
        "spec": {
            "holderIdentity": format!("{user}@{host} pid {pid}"),
            "leaseDurationSeconds": 30,
            "acquireTime": micro_time(renewed_ago + Duration::from_secs(60)),
            "renewTime": micro_time(renewed_ago),
            "leaseTransitions": 0
        }
    }));
}

/// The lock's takes (POST) and releases (DELETE). Renewals (PUT, every 10 s) are left out:
/// a run that lasts longer than that on a loaded machine renews, and these tests count what
/// a run does to take and drop the lock, not how long it took.
fn lease_writes(bed: &TestBed) -> Vec<String> {
    bed.kube
        .requests()
        .into_iter()
        .filter(|r| r.contains("/leases") && (r.starts_with("POST") || r.starts_with("DELETE")))
        .collect()
}

#[test]
fn a_run_takes_the_lock_with_one_call_and_releases_it_with_one() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    assert!(lease(&bed).is_none(), "the lock outlived the run");
    let writes = lease_writes(&bed);
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes[0].starts_with("POST /apis/coordination.k8s.io/v1/namespaces/default/leases"));
    assert!(writes[1]
        .starts_with("DELETE /apis/coordination.k8s.io/v1/namespaces/default/leases/esk.es"));
    // Dry runs and renders take no lock.
    esk_ok(&bed, &["resize", "5", "--dry-run"]);
    esk_ok(&bed, &["render", "3"]);
    assert_eq!(lease_writes(&bed).len(), 2);
}

#[test]
fn a_held_lock_makes_a_second_run_give_up_with_exit_4_naming_the_holder() {
    let bed = TestBed::start();
    seed_lease(&bed, Duration::ZERO, "build-7", 4242);
    let started = std::time::Instant::now();
    let out = esk(&bed, &["create", "3", "--lock-timeout", "2"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("unknown@build-7 pid 4242"), "{err}");
    assert!(
        err.contains("resize 7"),
        "names the holder's command: {err}"
    );
    assert!(err.contains("waiting for the cluster lock"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(2), "gave up early");
    assert!(bed.gce.disks().is_empty(), "made disks without the lock");
    assert_eq!(bed.mutating_requests(), 0);
    // The other run's lock is left alone.
    let l = lease(&bed).expect("the holder's lease");
    assert_eq!(l["spec"]["holderIdentity"], "unknown@build-7 pid 4242");
}

#[test]
fn a_stale_lock_is_taken_over_with_a_warning() {
    let bed = TestBed::start();
    // Ten minutes: older than any clock skew explains (younger ones are watched for 30 s).
    seed_lease(&bed, Duration::from_secs(600), "build-7", 4242);
    let out = esk_ok(&bed, &["create", "3", "--lock-timeout", "1"]);
    let err = stderr(&out);
    assert!(
        err.contains("took over the cluster lock of es held by unknown@build-7 pid 4242"),
        "{err}"
    );
    assert!(err.contains("not renewed for 10m"), "{err}");
    assert_eq!(labelled_gce_disks(&bed, "es").len(), 3);
    assert!(lease(&bed).is_none(), "released after the run");
}

#[test]
fn a_lock_whose_process_on_this_machine_is_gone_is_taken_over_at_once() {
    let bed = TestBed::start();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    // A fresh lease, but its process has ended: no need to wait out its 30 s.
    seed_lease(&bed, Duration::ZERO, host.trim(), 0x3fff_fff0);
    let started = std::time::Instant::now();
    let out = esk_ok(&bed, &["create", "1", "--lock-timeout", "20"]);
    assert!(
        stderr(&out).contains("on this machine has ended"),
        "{}",
        text(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Both runs of a pair, started together.
fn together(bed: &TestBed, a: &[&str], b: &[&str]) -> (std::process::Output, std::process::Output) {
    std::thread::scope(|s| {
        let first = s.spawn(|| esk(bed, a));
        // Let the first reach the lock before the second starts.
        std::thread::sleep(Duration::from_millis(300));
        let second = esk(bed, b);
        (first.join().expect("first run"), second)
    })
}

/// Every PV esk made names a disk that exists: no workload is bound to a deleted disk.
fn no_workload_without_its_disk(bed: &TestBed) {
    let orphans = pvs_without_their_disk(bed);
    assert!(orphans.is_empty(), "{orphans:?}");
}

#[test]
fn resize_and_delete_started_together_run_one_after_the_other() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    bed.gce.set_operation_latency(Duration::from_secs(1));
    let (resize, delete) = together(&bed, &["resize", "5"], &["delete", "--yes"]);
    assert!(resize.status.success(), "{}", text(&resize));
    assert!(delete.status.success(), "{}", text(&delete));
    assert!(
        stderr(&delete).contains("waiting for the cluster lock, held by"),
        "the delete did not wait: {}",
        text(&delete)
    );
    // The delete ran last: nothing of the cluster is left, and nothing half of it either.
    assert!(labelled_gce_disks(&bed, "es").is_empty());
    assert!(node_deployments(&bed, "es").is_empty());
    no_workload_without_its_disk(&bed);
    assert!(lease(&bed).is_none());
}

#[test]
fn two_creates_started_together_both_succeed_with_one_set_of_disks() {
    let bed = TestBed::start();
    bed.gce.set_operation_latency(Duration::from_secs(1));
    let (a, b) = together(&bed, &["create", "5"], &["create", "5"]);
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    assert!(
        stderr(&b).contains("waiting for the cluster lock"),
        "{}",
        text(&b)
    );
    assert!(stdout(&b).contains("disks: 0 created"), "{}", text(&b));
    assert_eq!(labelled_gce_disks(&bed, "es").len(), 5);
    assert_eq!(node_deployments(&bed, "es").len(), 5);
    no_workload_without_its_disk(&bed);
}

#[test]
fn a_missing_namespace_is_made_only_by_a_run_that_changes_something() {
    let bed = TestBed::start();
    let ns = |name: &str| bed.kube.get("Namespace", None, name);
    // Nothing to resize there: a usage error, and no namespace appears.
    let out = esk(&bed, &["resize", "3", "-n", "typo"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(ns("typo").is_none(), "a refused run created the namespace");
    // A create makes it, under the lock.
    esk_ok(&bed, &["create", "3", "-n", "fresh"]);
    assert!(ns("fresh").is_some());
    assert!(bed.kube.get("Lease", Some("fresh"), "esk.es").is_none());
    // In a new namespace the first try finds no namespace, the second takes the lock.
    let fresh: Vec<String> = lease_writes(&bed)
        .into_iter()
        .filter(|w| w.contains("/namespaces/fresh/"))
        .collect();
    assert_eq!(fresh.len(), 3, "{fresh:?}");
}

#[test]
fn disks_of_a_namespace_that_is_gone_are_not_deleted_without_the_lock() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3", "-n", "tmp"]);
    esk_ok(&bed, &["delete", "--keep-disks", "-n", "tmp"]);
    let out = bed.run(
        "kubectl",
        &["delete", "namespace", "tmp", "--wait=false"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = esk(&bed, &["delete", "--yes", "-n", "tmp"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("kubectl create namespace tmp"),
        "{}",
        text(&out)
    );
    assert_eq!(
        labelled_gce_disks(&bed, "es").len(),
        3,
        "disks deleted without the lock"
    );
}

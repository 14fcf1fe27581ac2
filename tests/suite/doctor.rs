//! `esk doctor` on the test bed: all ✓ on a healthy bed, and each check failing alone gives
//! its ✗ line and exit 6; `esk create` refuses a zone with no Kubernetes node (or no CSI
//! driver) before any disk exists; doctor asks about every verb and resource esk uses.

use std::collections::BTreeSet;
use std::process::Output;

use crate::common::*;
use serde_json::json;

const EKS_CONTEXT: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test";

fn doctor(bed: &TestBed, args: &[&str]) -> Output {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    esk(bed, &all)
}

/// The report's lines that start with `mark`.
fn marked(out: &Output, mark: &str) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with(mark))
        .map(str::to_string)
        .collect()
}

/// Exit 6 with exactly one ✗, for check `name`; returns that line.
fn fails_alone(out: &Output, name: &str) -> String {
    assert_eq!(out.status.code(), Some(6), "{}", text(out));
    let failed = marked(out, "✗");
    assert_eq!(failed.len(), 1, "{}", text(out));
    assert!(
        failed[0].starts_with(&format!("✗ {name}: ")),
        "{}",
        text(out)
    );
    assert!(failed[0].contains(" → "), "no fix: {}", failed[0]);
    assert!(
        stderr(out).contains("esk: 1 check(s) failed"),
        "{}",
        text(out)
    );
    failed[0].clone()
}

/// Exit 0, every check ✓, and exactly the checks `names` in that order.
fn all_pass(out: &Output, names: &[&str]) {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let lines: Vec<String> = stdout(out).lines().skip(1).map(str::to_string).collect();
    let shown: Vec<&str> = lines
        .iter()
        .map(|l| {
            assert!(l.starts_with("✓ "), "{}", text(out));
            l[4..].split(':').next().unwrap_or("")
        })
        .collect();
    assert_eq!(shown, names, "{}", text(out));
}

const GKE_CHECKS: &[&str] = &[
    "kubectl",
    "Kubernetes API",
    "permissions",
    "nodes",
    "spreading",
    "CSI driver",
    "gcloud",
    "gcloud location",
    "gcloud credentials",
];

#[test]
fn a_healthy_gke_bed_passes_every_check_and_nothing_changes() {
    let bed = TestBed::start();
    let out = doctor(&bed, &[]);
    all_pass(&out, GKE_CHECKS);
    let report = stdout(&out);
    assert!(
        report.contains("cloud gke (from the context name)"),
        "{report}"
    );
    assert!(
        report.contains("nodes: 3 Kubernetes node(s) with topology.gke.io/zone=us-central1-a"),
        "{report}"
    );
    assert!(
        report.contains("gcloud location: project p, zone us-central1-a"),
        "{report}"
    );
    // The questions really reached the API server, cluster-wide and in the namespace.
    let reviews = bed.kube.access_reviews();
    for asked in [
        "delete persistentvolumes cluster-wide",
        "list nodes cluster-wide",
        "patch deployments.apps in default",
        "get pods/proxy in default",
        "update leases.coordination.k8s.io in default",
        "list volumeattachments.storage.k8s.io cluster-wide",
    ] {
        assert!(reviews.iter().any(|r| r == asked), "{asked}: {reviews:?}");
    }
    assert!(
        report.contains(&format!("all {} allowed", reviews.len())),
        "{report}"
    );
    assert_eq!(bed.mutating_requests(), 0);
    assert!(bed.gce.disks().is_empty());
}

#[test]
fn a_healthy_eks_bed_passes_every_check() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    bed.moto();
    let out = doctor(&bed, &[]);
    all_pass(
        &out,
        &[
            "kubectl",
            "Kubernetes API",
            "permissions",
            "nodes",
            "spreading",
            "CSI driver",
            "aws",
            "AWS zone",
            "AWS credentials",
        ],
    );
    let report = stdout(&out);
    assert!(report.contains("ebs.csi.aws.com installed"), "{report}");
    assert!(report.contains("account 123456789012"), "{report}");
    // Credentials are never shown.
    assert!(!report.contains("testing"), "{report}");
    assert_eq!(bed.mutating_requests(), 0);
}

#[test]
fn kind_and_dynamic_need_no_cloud_cli() {
    let bed = TestBed::with_context("kind-dev");
    let out = esk_with_only(&bed, &["kubectl"], &["doctor", "1"]);
    all_pass(
        &out,
        &[
            "kubectl",
            "Kubernetes API",
            "permissions",
            "nodes",
            "spreading",
        ],
    );
    assert!(
        stdout(&out).contains("1 Kubernetes node(s) for 1 EventStore nodes"),
        "{}",
        text(&out)
    );
    // One node (kind's control plane) for 3 EventStore nodes: spreading will only be
    // preferred, which is said but is no failure.
    let out = doctor(&bed, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        marked(&out, "! spreading: only 1").len(),
        1,
        "{}",
        text(&out)
    );

    let bed = TestBed::with_context("dev");
    let out = doctor(&bed, &["--cloud", "dynamic", "1"]);
    let line = fails_alone(&out, "StorageClass");
    assert!(line.contains("no default StorageClass"), "{line}");
    bed.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/disk", "reclaimPolicy": "Retain",
    }));
    let out = doctor(&bed, &["--cloud", "dynamic", "1"]);
    all_pass(
        &out,
        &[
            "kubectl",
            "Kubernetes API",
            "permissions",
            "nodes",
            "spreading",
            "StorageClass",
        ],
    );
    assert!(
        stdout(&out).contains("fast (example.com/disk)"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_missing_tool_fails_alone() {
    let bed = TestBed::start();
    let out = esk_with_only(&bed, &["kubectl"], &["doctor"]);
    let line = fails_alone(&out, "gcloud");
    assert!(line.contains("not found on PATH"), "{line}");
    // What needs gcloud is skipped, not failed twice.
    assert!(
        stdout(&out).contains("- gcloud credentials: not checked: needs gcloud"),
        "{}",
        text(&out)
    );

    // kind needs no cloud CLI: only kubectl can be missing (gcloud itself needs a full PATH).
    let kind = TestBed::with_context("kind-dev");
    let out = esk_with_only(&kind, &[], &["doctor", "--context", "kind-dev"]);
    let line = fails_alone(&out, "kubectl");
    assert!(line.contains("install kubectl"), "{line}");
    for skipped in ["Kubernetes API", "permissions", "nodes", "spreading"] {
        assert!(
            stdout(&out).contains(&format!("- {skipped}: not checked: needs kubectl")),
            "{}",
            text(&out)
        );
    }

    let eks = TestBed::with_context(EKS_CONTEXT);
    let out = esk_with_only(&eks, &["kubectl"], &["doctor"]);
    fails_alone(&out, "aws");
    assert_eq!(
        bed.mutating_requests() + kind.mutating_requests() + eks.mutating_requests(),
        0
    );
}

#[test]
fn a_server_older_than_1_29_fails_alone() {
    let bed = TestBed::start();
    // 1.28: the kubectl dispatcher then runs its 1.28 client, which is still supported
    // (with 1.27 the client would be too old as well).
    bed.kube.set_server_version(1, 28);
    let out = doctor(&bed, &[]);
    let line = fails_alone(&out, "Kubernetes API");
    assert!(line.contains("server 1.28.0 is older than 1.29"), "{line}");
    assert!(stdout(&out).contains("✓ kubectl: 1.28."), "{}", text(&out));
    assert!(line.contains("upgrade the cluster"), "{line}");
}

#[test]
fn an_unreachable_cluster_fails_and_skips_what_needs_it() {
    let bed = TestBed::start();
    let out = doctor(&bed, &["--context", "elsewhere", "--cloud", "gke"]);
    let line = fails_alone(&out, "Kubernetes API");
    assert!(line.contains("context elsewhere does not answer"), "{line}");
    assert!(
        stdout(&out).contains("- permissions: not checked: needs the Kubernetes API"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_denied_verb_fails_alone_and_is_named() {
    let bed = TestBed::start();
    bed.kube.deny("delete", "persistentvolumes");
    bed.kube.deny("update", "leases.coordination.k8s.io");
    let out = doctor(&bed, &[]);
    let line = fails_alone(&out, "permissions");
    assert!(
        line.contains(
            "2 of 70 denied in namespace default: update leases.coordination.k8s.io, \
             delete persistentvolumes (cluster-wide)"
        ),
        "{line}"
    );
    // The emulator enforces the same list: the real request is refused too.
    let run = bed.run("kubectl", &["delete", "pv", "nothing"], None);
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("cannot delete resource"),
        "{run:?}"
    );
}

#[test]
fn a_missing_csi_driver_fails_alone_and_create_refuses() {
    let bed = TestBed::start();
    let run = bed.run(
        "kubectl",
        &["delete", "csidriver", testbed::bed::GKE_CSI_DRIVER],
        None,
    );
    assert!(run.status.success(), "{run:?}");
    let before = bed.mutating_requests();
    let out = doctor(&bed, &[]);
    let line = fails_alone(&out, "CSI driver");
    assert!(
        line.contains("pd.csi.storage.gke.io is not installed"),
        "{line}"
    );
    assert!(
        line.contains("GcePersistentDiskCsiDriver=ENABLED"),
        "{line}"
    );

    let out = esk(&bed, &["create", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(stderr(&out).trim_end().lines().count(), 1, "{}", text(&out));
    assert!(stderr(&out).contains("CSI driver pd.csi.storage.gke.io is not installed"));
    assert!(bed.gce.disks().is_empty());
    assert_eq!(bed.mutating_requests(), before);
}

#[test]
fn no_node_in_the_zone_fails_alone() {
    let bed = TestBed::start();
    let out = doctor(&bed, &["--zone", "us-central1-b"]);
    let line = fails_alone(&out, "nodes");
    assert!(
        line.contains(
            "no Kubernetes node has topology.gke.io/zone=us-central1-b (nodes: us-central1-a (3))"
        ),
        "{line}"
    );
    assert!(
        stdout(&out).contains("- spreading: not checked: no Kubernetes node in us-central1-b"),
        "{}",
        text(&out)
    );
}

#[test]
fn create_refuses_a_zone_without_kubernetes_nodes_before_any_disk_exists() {
    let eks = TestBed::with_context(EKS_CONTEXT);
    eks.moto();
    for (bed, zone) in [(TestBed::start(), "us-central1-b"), (eks, "us-east-1b")] {
        let out = esk(&bed, &["create", "3", "--zone", zone]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(&format!("zone={zone}")), "{err}");
        assert!(err.contains("would stay Pending"), "{err}");
        // Also as a dry run: it says what the run would do.
        let out = esk(&bed, &["create", "3", "--zone", zone, "--dry-run"]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(bed.gce.disks().is_empty());
        assert_eq!(bed.mutating_requests(), 0);
    }
    // Deleting is never refused for it: a cluster whose nodes went away can still be removed.
    let bed = TestBed::start();
    esk_ok(&bed, &["delete", "--zone", "us-central1-b", "--yes"]);
}

#[test]
fn too_few_nodes_for_required_spreading_fail_alone() {
    let bed = TestBed::start();
    let out = doctor(&bed, &["5", "--set", "node.antiAffinity=required"]);
    let line = fails_alone(&out, "spreading");
    assert!(
        line.contains("only 3 Kubernetes node(s) in us-central1-a for 5 EventStore nodes"),
        "{line}"
    );
    // Left to esk, spreading falls back to preferred: a warning, not a failure.
    let out = doctor(&bed, &["5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(marked(&out, "! spreading").len(), 1, "{}", text(&out));

    // A cluster made with required spreading, then a node gone: the record says required.
    esk_ok(&bed, &["create", "3"]);
    let node = bed
        .kube
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "Node")
        .and_then(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .unwrap();
    let run = bed.run("kubectl", &["delete", "node", &node], None);
    assert!(run.status.success(), "{run:?}");
    let line = fails_alone(&doctor(&bed, &[]), "spreading");
    assert!(line.contains("as the cluster was made"), "{line}");
    assert!(
        line.contains("2 Kubernetes node(s) in us-central1-a for 3"),
        "{line}"
    );
}

#[test]
fn missing_cloud_credentials_fail_alone_and_are_never_shown() {
    let bed = TestBed::start();
    let out = bed
        .command(ESK)
        .arg("doctor")
        .env_remove("CLOUDSDK_AUTH_DISABLE_CREDENTIALS")
        .output()
        .unwrap();
    let line = fails_alone(&out, "gcloud credentials");
    assert!(line.contains("no active account"), "{line}");

    let eks = TestBed::with_context(EKS_CONTEXT);
    eks.moto();
    let out = eks
        .command(ESK)
        .arg("doctor")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let failed = marked(&out, "✗");
    // Without credentials EC2 cannot be asked about the zone either.
    assert_eq!(failed.len(), 2, "{}", text(&out));
    assert!(failed[1].starts_with("✗ AWS credentials: Unable to locate credentials"));
    let eks2 = TestBed::with_context(EKS_CONTEXT);
    eks2.moto();
    let out = doctor(&eks2, &["--zone", "us-east-1q"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        stdout(&out).contains("✗ AWS zone: no availability zone us-east-1q in region us-east-1"),
        "{}",
        text(&out)
    );
}

/// Every request `esk create/restart/resize/delete/credentials` makes, as (verb, resource), and
/// whether it was namespaced.
fn used(bed: &TestBed) -> BTreeSet<String> {
    bed.kube
        .request_attributes()
        .into_iter()
        .map(|a| {
            // Namespaces are asked about cluster-wide; their own URL carries their name.
            if a.contains(" namespaces in ") {
                format!("{} cluster-wide", a.split(" in ").next().unwrap_or(""))
            } else {
                a.replace(" in other", " in NS")
                    .replace(" in default", " in NS")
            }
        })
        .collect()
}

fn asked(bed: &TestBed) -> BTreeSet<String> {
    bed.kube
        .access_reviews()
        .into_iter()
        .map(|a| {
            a.replace(" in other", " in NS")
                .replace(" in default", " in NS")
        })
        .collect()
}

#[test]
fn doctor_asks_about_every_request_esk_makes() {
    let gke = TestBed::start();
    let kind = TestBed::with_context("kind-dev");
    let dynamic = TestBed::with_context("dev");
    dynamic.kube.seed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/disk", "reclaimPolicy": "Retain",
    }));
    let runs: [(&TestBed, &[&str]); 3] = [
        (&gke, &[]),
        (&kind, &[]),
        (&dynamic, &["--cloud", "dynamic", "-n", "other"]),
    ];
    std::thread::scope(|s| {
        for (bed, flags) in runs {
            s.spawn(move || {
                let run = |args: &[&str]| {
                    let mut all = args.to_vec();
                    all.extend_from_slice(flags);
                    esk_ok(bed, &all)
                };
                run(&["create", "3"]);
                // Restarts: the leader resigns through a Job before its workload is patched.
                run(&["restart"]);
                run(&["credentials"]);
                run(&["resize", "1", "--prune-disks", "--yes"]);
                run(&["delete", "--yes"]);
                let used = used(bed);
                run(&["doctor"]);
                let asked = asked(bed);
                let missing: Vec<&String> = used.difference(&asked).collect();
                assert!(
                    missing.is_empty(),
                    "{flags:?}: doctor never asks {missing:?}"
                );
            });
        }
    });
}

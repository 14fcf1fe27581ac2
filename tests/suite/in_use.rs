//! Disks are deleted only when nothing uses them: esk waits for VolumeAttachments to go and
//! retries while the cloud says a disk is attached; past --detach-timeout it stops with exit 1
//! naming what remains, and a re-run finishes.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn a_lingering_volume_attachment_is_waited_for_then_the_disks_go() {
    let bed = TestBed::start();
    bed.kube
        .set_attachment_linger(Some(Duration::from_secs(12)));
    esk_ok(&bed, &["create", "3"]);
    // Every node's volume is attached (an attachment from an earlier pod may linger too).
    let attached: std::collections::BTreeSet<String> = bed
        .kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "VolumeAttachment")
        .filter_map(|o| {
            o["spec"]["source"]["persistentVolumeName"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        attached.len(),
        3,
        "the bed attaches each node's volume: {attached:?}"
    );
    let started = Instant::now();
    let out = esk_ok(&bed, &["delete", "--yes"]);
    let err = stderr(&out);
    assert!(
        err.contains("waiting for the disks to be released"),
        "{err}"
    );
    assert!(err.contains("VolumeAttachment"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(10), "did not wait");
    assert!(labelled_gce_disks(&bed, "es").is_empty());
}

#[test]
fn an_attached_gce_disk_is_retried_until_the_cloud_lets_go() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    bed.gce.attach("es-disk-2", "gke-node-1");
    // The disk lets go after the first delete met it in use (a timed detach would race the
    // time esk takes to get there on a loaded machine).
    bed.gce.detach_after_refused_deletes("es-disk-2", 1);
    let out = esk_ok(&bed, &["delete", "--yes"]);
    assert!(stderr(&out).contains("retrying gcloud"), "{}", text(&out));
    assert!(labelled_gce_disks(&bed, "es").is_empty());
}

#[test]
fn a_disk_still_attached_past_the_timeout_stops_with_exit_1_and_a_rerun_finishes() {
    let bed = TestBed::start();
    esk_ok(&bed, &["create", "3"]);
    bed.gce.attach("es-disk-2", "gke-node-1");
    let out = esk(&bed, &["delete", "--yes", "--detach-timeout", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("1 disk(s) still attached when --detach-timeout ran out: es-disk-2"),
        "{err}"
    );
    assert!(
        err.contains("re-running the same command deletes them"),
        "{err}"
    );
    let left: Vec<String> = labelled_gce_disks(&bed, "es")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        left,
        ["es-disk-2"],
        "the free disks go, the attached one stays"
    );

    bed.gce.detach("es-disk-2");
    esk_ok(&bed, &["delete", "--yes"]);
    assert!(labelled_gce_disks(&bed, "es").is_empty());
}

const EKS_CONTEXT: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test";

/// The EBS volume id of the volume tagged Name=`name`.
fn volume_id(bed: &TestBed, name: &str) -> String {
    let filter = format!("Name=tag:Name,Values={name}");
    let out = bed.run(
        "aws",
        &[
            "ec2",
            "describe-volumes",
            "--filters",
            &filter,
            "--query",
            "Volumes[0].VolumeId",
            "--output=text",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn an_attached_ebs_volume_stops_the_delete_with_exit_1_and_a_rerun_finishes() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    bed.moto();
    esk_ok(&bed, &["create", "3", "--zone", "us-east-1a"]);
    let vol = volume_id(&bed, "es-disk-2");
    bed.moto().attach(&vol).expect("attach the volume in moto");
    let out = esk(&bed, &["delete", "--yes", "--detach-timeout", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("still attached when --detach-timeout ran out: es-disk-2"),
        "{err}"
    );
    assert!(err.contains("VolumeInUse"), "{err}");
    assert_eq!(
        volume_id(&bed, "es-disk-1"),
        "None",
        "free volumes are deleted"
    );
    assert_eq!(
        volume_id(&bed, "es-disk-2"),
        vol,
        "the attached one is kept"
    );

    bed.moto().detach(&vol).expect("detach");
    esk_ok(&bed, &["delete", "--yes"]);
    assert_eq!(volume_id(&bed, "es-disk-2"), "None");
}

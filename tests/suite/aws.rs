//! End to end on EKS: the real aws CLI against moto_server, kubectl against the emulator.

use crate::common::lifecycle::lifecycle;
use crate::common::*;
use serde_json::Value;

const EKS_CONTEXT: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test";

/// Every volume as (Name tag, id, esk-cluster tag).
fn volumes(bed: &TestBed) -> Vec<(String, String, Option<String>)> {
    let v = aws_json(bed, &["ec2", "describe-volumes"]);
    let tag = |vol: &Value, k: &str| {
        vol["Tags"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["Key"] == k))
            .and_then(|t| t["Value"].as_str().map(str::to_string))
    };
    let mut out: Vec<_> = v["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|vol| {
            (
                tag(vol, "Name").unwrap_or_default(),
                vol["VolumeId"].as_str().unwrap().to_string(),
                tag(vol, "esk-cluster"),
            )
        })
        .collect();
    out.sort();
    out
}

fn foreign_volume(bed: &TestBed, name: &str) -> String {
    let tags = format!("--tag-specifications=ResourceType=volume,Tags=[{{Key=Name,Value={name}}}]");
    let v = aws_json(
        bed,
        &[
            "ec2",
            "create-volume",
            "--availability-zone=us-east-1a",
            "--size=1",
            &tags,
        ],
    );
    v["VolumeId"].as_str().unwrap().to_string()
}

#[test]
fn the_whole_lifecycle_keeps_every_disk_it_should() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    bed.moto();
    let foreign = foreign_volume(&bed, "es-disk-9");
    let mine = || {
        volumes(&bed)
            .into_iter()
            .filter(|(_, _, c)| c.as_deref() == Some("es"))
            .map(|(n, id, _)| (n, id))
            .collect::<Vec<_>>()
    };
    lifecycle(&bed, &[], &mine);
    let left = volumes(&bed);
    assert_eq!(left, vec![("es-disk-9".to_string(), foreign, None)]);
}

#[test]
fn volumes_are_tagged_and_bound_through_the_ebs_csi_driver() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    bed.moto();
    esk_ok(&bed, &["create", "3", "--set", "disk.sizeGb=30"]);
    let vols = volumes(&bed);
    assert_eq!(vols.len(), 3);
    let creates = bed
        .moto()
        .actions()
        .iter()
        .filter(|a| *a == "CreateVolume")
        .count();
    assert_eq!(
        creates,
        3,
        "one CreateVolume per disk: {:?}",
        bed.moto().actions()
    );
    for (i, (name, id, cluster)) in vols.iter().enumerate() {
        assert_eq!(name, &format!("es-disk-{}", i + 1));
        assert_eq!(cluster.as_deref(), Some("es"));
        let pv = bed
            .kube
            .get(
                "PersistentVolume",
                None,
                &format!("default.es-disk-{}", i + 1),
            )
            .expect("pv");
        assert_eq!(pv["spec"]["csi"]["driver"], "ebs.csi.aws.com");
        assert_eq!(pv["spec"]["csi"]["volumeHandle"], id.as_str());
        let term =
            &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
        assert_eq!(term["key"], "topology.kubernetes.io/zone");
        assert_eq!(term["values"][0], "us-east-1a");
    }
}

#[test]
fn dry_run_and_bad_input_make_no_aws_calls_that_change_anything() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    bed.moto();
    let out = esk_ok(&bed, &["create", "3", "--dry-run"]);
    assert!(
        stdout(&out).contains("+ create  es-disk-3"),
        "{}",
        text(&out)
    );
    let out = esk(&bed, &["create", "3", "--zone", "eu-west-1a"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("not in region us-east-1"),
        "{}",
        text(&out)
    );
    let out = esk(&bed, &["create", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(bed.mutating_requests(), 0, "{:?}", bed.moto().actions());
}

#[test]
fn missing_aws_cli_is_named() {
    let bed = TestBed::with_context(EKS_CONTEXT);
    let out = esk_with_only(&bed, &["kubectl"], &["create", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("aws not found on PATH: install the AWS CLI"),
        "{err}"
    );
}

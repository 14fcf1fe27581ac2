//! examples/kind-dev.sh works: run against the test bed with the real esk and kubectl. kind
//! itself needs a Docker engine, so a two-line stand-in answers `kind get clusters` as an
//! existing cluster would (the script then creates nothing with kind).

use std::os::unix::fs::PermissionsExt;

use crate::common::*;
use serde_json::json;

#[test]
fn kind_dev_script_bootstraps_a_cluster_and_is_safe_to_rerun() {
    let bed = TestBed::with_context("kind-esk");
    for node in ["esk-control-plane", "esk-worker", "esk-worker2"] {
        bed.kube
            .seed(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}));
    }
    let bin = bed.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(ESK, bin.join("esk")).unwrap();
    let kind = bin.join("kind");
    std::fs::write(
        &kind,
        "#!/bin/sh\n[ \"$1 $2\" = \"get clusters\" ] && echo esk\n",
    )
    .unwrap();
    std::fs::set_permissions(&kind, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kind-dev.sh");
    let mut versions = Vec::new();
    for _ in 0..2 {
        let out = bed
            .command("bash")
            .arg(script)
            .env("PATH", &path)
            .env("ESK_DATA", bed.dir().join("data"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        versions.push(resource_versions(&bed));
    }
    assert_eq!(
        versions[0], versions[1],
        "the second run changed the cluster"
    );
    let nodes = node_deployments(&bed, "es");
    assert_eq!(nodes.len(), 3);
    assert_eq!(env_value(&nodes[0], "INSECURE").as_deref(), Some("true"));
    let pv = bed
        .kube
        .get("PersistentVolume", None, "default.es-disk-2")
        .expect("local pv");
    assert_eq!(
        pv["spec"]["local"]["path"],
        "/var/lib/esk/default/es-disk-2"
    );
}

//! Helpers shared by the end-to-end tests: run the real esk binary in a test bed and read the
//! emulators' state.
#![allow(dead_code)]

use std::process::Output;

use serde_json::Value;
pub use testbed::TestBed;

pub const ESK: &str = env!("CARGO_BIN_EXE_esk");

/// What `delete --keep-disks` leaves besides the disks: the CA and the passwords the data on
/// them was written under.
pub const KEPT_WITH_DISKS: [&str; 2] = ["Secret/es-ca", "Secret/es-credentials"];

/// Runs esk with `args` in the bed (stdin closed, so never interactive).
pub fn esk(bed: &TestBed, args: &[&str]) -> Output {
    bed.run(ESK, args, None)
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs esk and insists it succeeds.
pub fn esk_ok(bed: &TestBed, args: &[&str]) -> Output {
    let out = esk(bed, args);
    assert!(out.status.success(), "esk {args:?} failed:\n{}", text(&out));
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Objects of `kind` in the Kubernetes emulator carrying esk's labels for cluster `name`.
pub fn esk_objects(bed: &TestBed, kind: &str, name: &str) -> Vec<Value> {
    bed.kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == kind)
        .filter(|o| {
            let l = &o["metadata"]["labels"];
            l["app.kubernetes.io/managed-by"] == "esk" && l["app.kubernetes.io/instance"] == name
        })
        .collect()
}

/// Every esk-labelled object of cluster `name`, as "Kind/name".
pub fn all_esk_objects(bed: &TestBed, name: &str) -> Vec<String> {
    let mut out: Vec<String> = bed
        .kube
        .objects()
        .into_iter()
        .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/instance"] == name)
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    out.sort();
    out
}

/// The value of env var `suffix` (e.g. "CLUSTER_SIZE", whatever its prefix) in a Deployment.
pub fn env_value(deployment: &Value, suffix: &str) -> Option<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| {
            e["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(&format!("_{suffix}")))
        })
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// Node Deployments of cluster `name`, sorted by name.
pub fn node_deployments(bed: &TestBed, name: &str) -> Vec<Value> {
    let mut d: Vec<Value> = esk_objects(bed, "Deployment", name)
        .into_iter()
        .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/component"] == "node")
        .collect();
    d.sort_by_key(|o| {
        o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    d
}

/// The real aws CLI against the bed's moto, with `--output=json`; panics unless it succeeds.
pub fn aws_json(bed: &TestBed, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--output=json");
    let out = bed.run("aws", &args, None);
    assert!(out.status.success(), "aws {args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("aws printed JSON")
}

/// The claims that are `--cloud dynamic` disks of cluster `name` (objects store order:
/// by name).
pub fn disk_claims(bed: &TestBed, name: &str) -> Vec<serde_json::Value> {
    bed.kube
        .objects()
        .into_iter()
        .filter(|o| {
            o["kind"] == "PersistentVolumeClaim"
                && o["metadata"]["labels"]["esk.io/disk-of"] == name
        })
        .collect()
}

/// (name, id) of every GCE disk labelled for cluster `name`, sorted by name.
pub fn labelled_gce_disks(bed: &TestBed, name: &str) -> Vec<(String, u64)> {
    let mut d: Vec<(String, u64)> = bed
        .gce
        .disks()
        .into_iter()
        .filter(|d| d.labels.get("esk-cluster").map(String::as_str) == Some(name))
        .map(|d| (d.name, d.id))
        .collect();
    d.sort();
    d
}

/// Every GCE-backed PV whose disk no longer exists, as "PV <name> names missing disk <disk>":
/// empty when no workload is bound to a deleted disk.
pub fn pvs_without_their_disk(bed: &TestBed) -> Vec<String> {
    let disks: Vec<String> = bed.gce.disks().into_iter().map(|d| d.name).collect();
    bed.kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "PersistentVolume")
        .filter_map(|pv| {
            let handle = pv["spec"]["csi"]["volumeHandle"].as_str().unwrap_or("");
            let disk = handle.rsplit('/').next().unwrap_or("");
            (!disks.iter().any(|d| d == disk))
                .then(|| format!("PV {} names missing disk {disk}", pv["metadata"]["name"]))
        })
        .collect()
}

/// resourceVersion of every object, to show that a re-run changed nothing.
pub fn resource_versions(bed: &TestBed) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = bed
        .kube
        .objects()
        .into_iter()
        .map(|o| {
            (
                format!(
                    "{}/{}/{}",
                    o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]
                ),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}
pub mod lifecycle;

/// The cluster CA certificate esk keeps in Secret es-ca (decoded), if any.
pub fn ca_cert(bed: &TestBed) -> Option<String> {
    use base64::Engine;
    let secret = bed.kube.get("Secret", Some("default"), "es-ca")?;
    let b64 = secret["data"]["ca.crt"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

/// The path of `program` on this machine's PATH.
pub fn which(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|f| f.exists())
        })
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}

/// Runs esk with a PATH holding only `tools` (to see how it handles the others missing).
pub fn esk_with_only(bed: &TestBed, tools: &[&str], args: &[&str]) -> Output {
    let bin = bed.dir().join(format!("bin-{}", tools.join("-")));
    std::fs::create_dir_all(&bin).unwrap();
    for tool in tools {
        let link = bin.join(tool);
        if !link.exists() {
            std::os::unix::fs::symlink(which(tool), link).unwrap();
        }
    }
    bed.command(ESK)
        .args(args)
        .env("PATH", &bin)
        .output()
        .unwrap()
}

/// The zone label (`topology.kubernetes.io/zone`) of the Kubernetes node `node` in the bed.
pub fn node_zone(bed: &TestBed, node: &str) -> String {
    let n = bed.kube.get("Node", None, node).expect("node");
    n["metadata"]["labels"]["topology.kubernetes.io/zone"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

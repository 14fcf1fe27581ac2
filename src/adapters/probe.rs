//! What `esk doctor` asks the cloud CLIs: their versions, who they act as, and whether the
//! disks' zone answers. Read-only calls; never a credential's value.

use anyhow::{Context, Result};
use serde_json::Value;

use super::kubectl::first_line;
use super::process::{args, Tool};

/// A cloud CLI on PATH, or `None`.
pub fn find(name: &'static str) -> Option<Tool> {
    Tool::find(name, name).ok()
}

/// `gcloud version --format=json`: the SDK's version (e.g. `528.0.0`).
pub fn gcloud_version(gcloud: &Tool) -> Result<String, String> {
    let out = gcloud
        .run_ok(&args(["version", "--format=json"]), None)
        .map_err(|e| first_line(&format!("{e:#}")))?;
    let v: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
    v["Google Cloud SDK"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no \"Google Cloud SDK\" version".to_string())
}

/// `gcloud config list --format=json`: project, zone, account and auth settings, the
/// environment's CLOUDSDK_* included.
pub fn gcloud_config(gcloud: &Tool) -> Result<Value> {
    let out = gcloud.run_ok(&args(["config", "list", "--format=json"]), None)?;
    serde_json::from_str(&out).context("gcloud config list printed invalid JSON")
}

/// `gcloud compute zones describe`: proves the credentials work and the project and zone
/// exist. `project` and `zone` are validated ids.
pub fn gcloud_read_zone(gcloud: &Tool, project: &str, zone: &str) -> Result<(), String> {
    let mut a = args(["compute", "zones", "describe", zone, "--format=json"]);
    a.push(format!("--project={project}"));
    let out = gcloud.run(&a, None).map_err(|e| format!("{e:#}"))?;
    if out.success() {
        Ok(())
    } else {
        Err(first_line(&out.stderr))
    }
}

/// `aws --version` (v1 printed it on stderr).
pub fn aws_version(aws: &Tool) -> Result<String, String> {
    let out = aws
        .run(&args(["--version"]), None)
        .map_err(|e| format!("{e:#}"))?;
    let text = format!("{}{}", out.stdout, out.stderr);
    if out.success() {
        Ok(first_line(&text))
    } else {
        Err(first_line(&text))
    }
}

fn aws_json(aws: &Tool, a: &[String]) -> Result<Value, String> {
    let out = aws.run(a, None).map_err(|e| format!("{e:#}"))?;
    if !out.success() {
        return Err(first_line(&out.stderr));
    }
    serde_json::from_str(&out.stdout).map_err(|e| format!("aws printed invalid JSON: {e}"))
}

/// `aws sts get-caller-identity`: whether the credentials work (needs no permission).
pub fn aws_identity(aws: &Tool, region: &str) -> Result<Value, String> {
    let mut a = args(["sts", "get-caller-identity", "--output=json"]);
    a.push(format!("--region={region}"));
    aws_json(aws, &a)
}

/// `aws ec2 describe-availability-zones` for the given zones (validated ids).
pub fn aws_zones(aws: &Tool, region: &str, zones: &[String]) -> Result<Value, String> {
    let mut a = args(["ec2", "describe-availability-zones", "--output=json"]);
    a.push(format!("--region={region}"));
    a.push("--zone-names".into());
    a.extend(zones.iter().cloned());
    aws_json(aws, &a)
}

//! Reading the cluster's own objects: everything esk applied for it (with the record, the
//! Secrets and the hashes stamped on the node workloads) in one call, Jobs until they end,
//! and what still holds a volume before its disk is deleted.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

use super::Kubectl;
use crate::adapters::process::{args, transient};
use crate::domain::LiveClaim;
use crate::manifest::{ObjectRef, KINDS, NODE_LABEL};
use crate::names::{record_name, selector_string};
use crate::record::Record;
use crate::secrets::{decode, SecretData};
use crate::spec::Spec;

/// What `observe` learns from the cluster.
pub struct ClusterState {
    pub objects: Vec<(ObjectRef, Option<u8>)>,
    pub record: Option<Record>,
    /// The cluster's Secrets, decoded (kept in memory only; never printed).
    pub secrets: SecretData,
    /// Node workloads and the hashes esk stamped on them.
    pub live: BTreeMap<String, crate::domain::LiveTemplate>,
    /// Claim name → its request, capacity and class.
    pub claims: BTreeMap<String, LiveClaim>,
    /// PersistentVolumes with no class (`""`, as an earlier esk made them).
    pub classless_volumes: std::collections::BTreeSet<String>,
    /// PersistentVolume name → its `spec.capacity.storage`.
    pub volume_capacities: BTreeMap<String, String>,
}

/// How waiting for Jobs ended.
#[derive(Debug, PartialEq, Eq)]
pub enum JobsEnd {
    Done,
    /// These Jobs failed past their retries, in the order asked for.
    Failed(Vec<String>),
    TimedOut,
}

/// A claim's request, capacity and class, if it has a request.
fn live_claim(item: &Value) -> Option<LiveClaim> {
    let request = item["spec"]["resources"]["requests"]["storage"].as_str()?;
    Some(LiveClaim {
        request: request.to_string(),
        capacity: item["status"]["capacity"]["storage"]
            .as_str()
            .map(str::to_string),
        class: item["spec"]["storageClassName"]
            .as_str()
            .map(str::to_string),
    })
}

impl Kubectl {
    /// Every claim in the namespace (`--cloud dynamic`: the claims are the disks and carry
    /// no object labels of the cluster).
    pub fn namespace_claims(&self) -> Result<BTreeMap<String, LiveClaim>> {
        let list = self.get_json(&args(["persistentvolumeclaims"]))?;
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let name = c["metadata"]["name"].as_str()?.to_string();
                Some((name, live_claim(c)?))
            })
            .collect())
    }

    /// The StorageClasses whose volumes can grow (`allowVolumeExpansion: true`).
    pub fn expandable_classes(&self) -> Result<std::collections::BTreeSet<String>> {
        let list = self.get_json(&args(["storageclasses.storage.k8s.io"]))?;
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["allowVolumeExpansion"] == true)
            .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_string))
            .collect())
    }

    /// Asks for more storage on each claim (`name`, `size`): a merge patch of its request,
    /// which the API server lets through only for a claim whose class expands volumes.
    pub fn grow_claims(&self, claims: &[(String, String)]) -> Result<()> {
        for (name, size) in claims {
            let patch = serde_json::json!({"spec": {"resources": {"requests": {"storage": size}}}});
            let mut a = self.base();
            a.extend(args([
                "patch",
                "persistentvolumeclaim",
                name,
                "--type",
                "merge",
                "-p",
                &patch.to_string(),
            ]));
            self.tool.run_retry(&a, None)?;
        }
        Ok(())
    }

    /// Each named claim's `status.capacity.storage` (None while it has none).
    pub fn claim_capacities(&self, names: &[String]) -> Result<BTreeMap<String, Option<String>>> {
        let mut a = vec!["persistentvolumeclaims".to_string()];
        a.extend(names.iter().cloned());
        let v = self.get_json(&a)?;
        let items: Vec<Value> = match v["items"].as_array() {
            Some(items) => items.clone(),
            None => vec![v],
        };
        Ok(items
            .iter()
            .filter_map(|c| {
                let name = c["metadata"]["name"].as_str()?.to_string();
                let cap = c["status"]["capacity"]["storage"]
                    .as_str()
                    .map(str::to_string);
                Some((name, cap))
            })
            .collect())
    }

    /// Every object of the kinds esk manages that carries the cluster's labels.
    pub fn cluster_state(&self, spec: &Spec) -> Result<ClusterState> {
        let kinds: Vec<&str> = KINDS
            .iter()
            .filter(|(k, _)| *k != "Namespace")
            .map(|(_, plural)| *plural)
            .collect();
        let mut a = self.base();
        a.extend(args([
            "get",
            &kinds.join(","),
            "-l",
            &selector_string(spec),
            "-o",
            "json",
        ]));
        let out = self.tool.run_retry(&a, None)?;
        let list: Value = serde_json::from_str(&out).context("kubectl get printed invalid JSON")?;
        let mut objects = Vec::new();
        let mut record = None;
        let mut secrets = SecretData::new();
        let mut live = BTreeMap::new();
        let mut claims = BTreeMap::new();
        let mut classless_volumes = std::collections::BTreeSet::new();
        let mut volume_capacities = BTreeMap::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let kind = item["kind"].as_str().unwrap_or_default().to_string();
            let name = item["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let node = item["metadata"]["labels"][NODE_LABEL]
                .as_str()
                .and_then(crate::spec::parse_member);
            if kind == "ConfigMap" && name == record_name(spec) {
                let data: BTreeMap<String, String> =
                    serde_json::from_value(item["data"].clone()).unwrap_or_default();
                record = Record::from_data(&data);
            }
            if kind == "PersistentVolume"
                && item["spec"]["storageClassName"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty()
            {
                classless_volumes.insert(name.clone());
            }
            if let Some(capacity) = item["spec"]["capacity"]["storage"].as_str() {
                if kind == "PersistentVolume" {
                    volume_capacities.insert(name.clone(), capacity.to_string());
                }
            }
            if kind == "PersistentVolumeClaim" {
                if let Some(claim) = live_claim(item) {
                    claims.insert(name.clone(), claim);
                }
            }
            if kind == "Secret" {
                secrets.insert(name.clone(), decode(&item["data"]));
            }
            if matches!(kind.as_str(), "Deployment" | "StatefulSet")
                && item["metadata"]["labels"][crate::manifest::COMPONENT] == "node"
            {
                let a = &item["metadata"]["annotations"];
                let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
                live.insert(
                    name.clone(),
                    crate::domain::LiveTemplate {
                        pod_spec: text(crate::domain::POD_SPEC),
                        template: text(crate::domain::TEMPLATE),
                    },
                );
            }
            objects.push((ObjectRef { kind, name }, node));
        }
        objects.sort();
        Ok(ClusterState {
            objects,
            record,
            secrets,
            live,
            claims,
            classless_volumes,
            volume_capacities,
        })
    }

    /// How many pods of each Job labelled `selector` have `succeeded` and `failed`, by name.
    fn job_counts(&self, selector: &str) -> Result<BTreeMap<String, (u64, u64)>> {
        let list = self.get_json(&args(["jobs.batch", "-l", selector]))?;
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|j| {
                let count = |what: &str| j["status"][what].as_u64().unwrap_or(0);
                (
                    j["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    (count("succeeded"), count("failed")),
                )
            })
            .collect())
    }

    /// Polls the Jobs `names` (labelled `selector`) every `poll` until each has succeeded,
    /// any has failed more than its backoff of 2 retries, or `timeout` has passed.
    pub fn wait_jobs(
        &self,
        selector: &str,
        names: &[String],
        timeout: std::time::Duration,
        poll: std::time::Duration,
    ) -> Result<JobsEnd> {
        let started = std::time::Instant::now();
        loop {
            let counts = self.job_counts(selector)?;
            let count = |n: &String| counts.get(n).copied().unwrap_or_default();
            let failed: Vec<String> = names.iter().filter(|n| count(n).1 > 2).cloned().collect();
            if !failed.is_empty() {
                return Ok(JobsEnd::Failed(failed));
            }
            if names.iter().all(|n| count(n).0 >= 1) {
                return Ok(JobsEnd::Done);
            }
            if started.elapsed() > timeout {
                return Ok(JobsEnd::TimedOut);
            }
            std::thread::sleep(poll);
        }
    }

    /// What still holds the given volumes: VolumeAttachments naming one of `pvs` and pods
    /// mounting one of `claims`, as "what (why)" lines; empty when the disks are free. One
    /// call for both kinds.
    pub fn volume_users(&self, pvs: &[String], claims: &[String]) -> Result<Vec<String>> {
        let a = [
            self.base(),
            args(["get", "volumeattachments.storage.k8s.io,pods", "-o", "json"]),
        ]
        .concat();
        let out = self.tool.run_with_retries(&a, None, transient)?;
        let text = if out.success() {
            out.stdout
        } else if out.stderr.contains("forbidden")
            || out.stderr.contains("doesn't have a resource type")
        {
            // Without access to VolumeAttachments, the cloud's own in-use answer is the guard.
            self.get_json(&args(["pods"]))?.to_string()
        } else {
            return Err(self.tool.failure(&a, &out));
        };
        let list: Value =
            serde_json::from_str(&text).context("kubectl get printed invalid JSON")?;
        let mut users = Vec::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or("?");
            match item["kind"].as_str() {
                Some("VolumeAttachment") => {
                    let pv = item["spec"]["source"]["persistentVolumeName"]
                        .as_str()
                        .unwrap_or("");
                    if pvs.iter().any(|p| p == pv) {
                        users.push(format!(
                            "{pv} (VolumeAttachment {name} on node {})",
                            item["spec"]["nodeName"].as_str().unwrap_or("?")
                        ));
                    }
                }
                Some("Pod") if item["metadata"]["namespace"] == self.namespace.as_str() => {
                    for v in item["spec"]["volumes"].as_array().into_iter().flatten() {
                        let claim = v["persistentVolumeClaim"]["claimName"]
                            .as_str()
                            .unwrap_or("");
                        if claims.iter().any(|c| c == claim) {
                            users.push(format!("{claim} (mounted by pod {name})"));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(users)
    }
}

//! kind, minikube, k3d, Docker Desktop: a "disk" is a directory on one node, bound through a
//! `local` PersistentVolume. The directories cannot be listed from outside the nodes, so a
//! registry ConfigMap (kept by `delete --keep-disks`) records each one's node and path.
//! Directories are made and removed by short Jobs pinned to their node, one directory each.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::kubectl::{JobsEnd, Kubectl};
use super::process::args;
use super::DiskAdapter;
use crate::domain::{Disk, DiskSource, Owner};
use crate::manifest::{Manifest, ObjectRef, MANAGED_BY, NAMESPACE_LABEL};
use crate::spec::Spec;

pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
const REGISTRY_LABEL: &str = "esk.io/disk-registry";
const JOB_LABEL: &str = "esk.io/disk-job";
const JOB_IMAGE: &str = "busybox:1.36.1";
const JOB_TIMEOUT: Duration = Duration::from_secs(180);

pub struct Local {
    kubectl: Option<Kubectl>,
    spec: Spec,
    /// Cluster nodes, sorted; node i goes to nodes[(i-1) % len] unless the registry says
    /// otherwise.
    nodes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    index: u8,
    node: String,
    path: String,
}

impl Local {
    /// For `render`: no cluster to ask, so every volume goes to kind's default single node.
    pub fn offline(spec: &Spec) -> Local {
        Local {
            kubectl: None,
            spec: spec.clone(),
            nodes: vec!["kind-control-plane".into()],
        }
    }

    pub fn new(spec: &Spec, kubectl: &Kubectl) -> Result<Local> {
        let nodes = kubectl.node_names()?;
        if nodes.is_empty() {
            bail!("the cluster has no nodes to put local volumes on");
        }
        Ok(Local {
            kubectl: Some(kubectl.clone()),
            spec: spec.clone(),
            nodes,
        })
    }

    fn kubectl(&self) -> Result<&Kubectl> {
        self.kubectl
            .as_ref()
            .context("internal error: local adapter used without kubectl")
    }

    fn base_dir(&self) -> Result<String> {
        let base = self.spec.profile.str("disk.localPath")?;
        let ok = base.starts_with('/')
            && base.len() > 1
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
            && !base.contains("..");
        if !ok {
            bail!(crate::error::UsageError::new(format!(
                "disk.localPath \"{}\" must be an absolute path of letters, digits, '/', '-', '_' and '.'",
                base.escape_debug()
            )));
        }
        Ok(format!(
            "{}/{}",
            base.trim_end_matches('/'),
            self.spec.namespace
        ))
    }

    fn source(&self, entry: &Entry) -> DiskSource {
        DiskSource {
            kind: "local".into(),
            driver: String::new(),
            handle: String::new(),
            path: entry.path.clone(),
            topology_key: HOSTNAME_KEY.into(),
            topology_value: entry.node.clone(),
        }
    }

    fn planned(&self, name: &str, i: u8) -> Entry {
        let node = self.nodes[(usize::from(i) - 1) % self.nodes.len()].clone();
        let path = format!("{}/{name}", self.base_dir().unwrap_or_default());
        Entry {
            index: i,
            node,
            path,
        }
    }

    fn registry_name(&self) -> String {
        format!("esk-disks.{}", self.spec.name)
    }

    fn read_registry(&self) -> Result<BTreeMap<String, Entry>> {
        let cm = self.kubectl()?.get_json(&args([
            "configmap",
            &self.registry_name(),
            "--ignore-not-found",
        ]))?;
        let mut out = BTreeMap::new();
        if let Some(data) = cm["data"].as_object() {
            for (name, v) in data {
                let v: Value = serde_json::from_str(v.as_str().unwrap_or("{}")).unwrap_or_default();
                if let (Some(i), Some(node), Some(path)) =
                    (v["index"].as_u64(), v["node"].as_str(), v["path"].as_str())
                {
                    // The registry is a ConfigMap anyone with access to the namespace could
                    // edit: trust only entries that point where esk would have put the disk.
                    if !self.plausible(name, node, path) {
                        bail!(crate::error::Refused::new(format!(
                            "ConfigMap {} has an entry for {name} that esk did not write \
                             (node {node:?}, path {path:?}); fix or remove it",
                            self.registry_name()
                        )));
                    }
                    out.insert(
                        name.clone(),
                        Entry {
                            index: i as u8,
                            node: node.into(),
                            path: path.into(),
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// An entry as esk writes them: a disk named like a DNS label, in a directory of that
    /// name under `<some base>/<namespace>/`, on a node with a valid name.
    fn plausible(&self, name: &str, node: &str, path: &str) -> bool {
        let suffix = format!("/{}/{name}", self.spec.namespace);
        crate::spec::Name::parse("disk", name, 63).is_ok()
            && crate::manifest::is_dns_subdomain(node)
            && path.starts_with('/')
            && path.ends_with(&suffix)
            && path.len() > suffix.len()
            && !path.split('/').any(|c| c == ".." || c == ".")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
    }

    fn registry_manifest(&self, entries: &BTreeMap<String, Entry>) -> Manifest {
        let data: serde_json::Map<String, Value> = entries
            .iter()
            .map(|(name, e)| {
                let v = json!({"index": e.index, "node": e.node, "path": e.path});
                (name.clone(), Value::String(v.to_string()))
            })
            .collect();
        let value = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.registry_name(),
                "namespace": self.spec.namespace.as_str(),
                "labels": {
                    MANAGED_BY: "esk",
                    REGISTRY_LABEL: self.spec.name.as_str(),
                    NAMESPACE_LABEL: self.spec.namespace.as_str(),
                },
            },
            "data": data,
        });
        manifest("ConfigMap", &self.registry_name(), value)
    }

    /// A Job on `entry.node` that runs one command over a hostPath mount. No shell: the
    /// command is an argument vector, and the mount is the disk's own directory (mkdir) or
    /// its parent (rm), never more.
    fn job(&self, verb: &str, disk: &str, entry: &Entry) -> Result<Manifest> {
        let uid = self.spec.profile.u64("runAsUser")?;
        // The recorded path, not today's disk.localPath: the data is where it was put.
        let parent = entry
            .path
            .strip_suffix(&format!("/{disk}"))
            .filter(|p| !p.is_empty())
            .with_context(|| format!("path {} does not end with {disk}", entry.path))?
            .to_string();
        // Root, but with the one capability the command needs: chown gives the new
        // directory (made root's by the kubelet) to the server's user; rm removes files
        // that user owns, in directories only it may write.
        let (mount, host_type, command, capability) = match verb {
            "mkdir" => (
                entry.path.clone(),
                "DirectoryOrCreate",
                vec!["chown".to_string(), format!("{uid}:{uid}"), "/disk".into()],
                "CHOWN",
            ),
            _ => (
                parent,
                "Directory",
                vec![
                    "rm".into(),
                    "-rf".into(),
                    "--".into(),
                    format!("/disk/{disk}"),
                ],
                "DAC_OVERRIDE",
            ),
        };
        let name = format!("{}-{verb}-{}", self.spec.name, entry.index);
        let value = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": self.spec.namespace.as_str(),
                "labels": {MANAGED_BY: "esk", JOB_LABEL: self.spec.name.as_str()},
            },
            "spec": {
                "backoffLimit": 2,
                "ttlSecondsAfterFinished": 600,
                "template": {
                    "metadata": {"labels": {MANAGED_BY: "esk", JOB_LABEL: self.spec.name.as_str()}},
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": {HOSTNAME_KEY: entry.node},
                        "tolerations": [{"operator": "Exists"}],
                        // No API access, no service variables; nothing is written but /disk.
                        "automountServiceAccountToken": false,
                        "enableServiceLinks": false,
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": verb,
                            "image": JOB_IMAGE,
                            "command": command,
                            "securityContext": {
                                "readOnlyRootFilesystem": true,
                                "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"], "add": [capability]},
                            },
                            "volumeMounts": [{"name": "disk", "mountPath": "/disk"}],
                        }],
                        "volumes": [{"name": "disk", "hostPath": {"path": mount, "type": host_type}}],
                    },
                },
            },
        });
        Ok(manifest("Job", &name, value))
    }

    /// Applies the Jobs, waits for all to succeed, then removes them.
    fn run_jobs(&self, jobs: Vec<Manifest>) -> Result<()> {
        let kubectl = self.kubectl()?;
        let names: Vec<String> = jobs.iter().map(|j| j.object.name.clone()).collect();
        let refs: Vec<ObjectRef> = jobs.iter().map(|j| j.object.clone()).collect();
        // A finished Job of the same name from an earlier run would be immutable.
        kubectl.delete(&refs)?;
        kubectl.apply(&jobs)?;
        let selector = format!("{JOB_LABEL}={}", self.spec.name);
        let poll = Duration::from_millis(500);
        match kubectl.wait_jobs(&selector, &names, JOB_TIMEOUT, poll)? {
            JobsEnd::Done => {}
            JobsEnd::Failed(failed) => {
                bail!("disk Job(s) failed: {failed:?}; see `kubectl logs job/<name>`")
            }
            JobsEnd::TimedOut => bail!(
                "disk Job(s) did not finish within {}s: {names:?}",
                JOB_TIMEOUT.as_secs()
            ),
        }
        kubectl.delete(&refs)
    }
}

fn manifest(kind: &str, name: &str, value: Value) -> Manifest {
    Manifest {
        source: "local disks".into(),
        object: ObjectRef {
            kind: kind.into(),
            name: name.into(),
        },
        // JSON is YAML; this conversion cannot fail for a value built with json!.
        value: serde_yaml::to_value(value).unwrap_or_default(),
    }
}

impl DiskAdapter for Local {
    fn list(&self, _names: &[String]) -> Result<Vec<Disk>> {
        Ok(self
            .read_registry()?
            .into_iter()
            .map(|(name, e)| Disk {
                id: format!("{}:{}", e.node, e.path),
                source: self.source(&e),
                node: Some(e.index),
                replaced: None,
                owner: Owner::This,
                name,
            })
            .collect())
    }

    fn planned_source(&self, name: &str, node: u8) -> DiskSource {
        self.source(&self.planned(name, node))
    }

    fn create(&self, disks: &[(u8, String)]) -> Result<Vec<Disk>> {
        if disks.is_empty() {
            return Ok(Vec::new());
        }
        self.base_dir()?;
        let mut registry = self.read_registry()?;
        let mut jobs = Vec::new();
        let mut out = Vec::new();
        for (i, name) in disks {
            let entry = self.planned(name, *i);
            jobs.push(self.job("mkdir", name, &entry)?);
            out.push(Disk {
                id: format!("{}:{}", entry.node, entry.path),
                source: self.source(&entry),
                node: Some(*i),
                replaced: None,
                owner: Owner::This,
                name: name.clone(),
            });
            registry.insert(name.clone(), entry);
        }
        // Registry first: a directory is never made without a record of where it is.
        self.kubectl()?
            .apply(&[self.registry_manifest(&registry)])?;
        self.run_jobs(jobs)?;
        Ok(out)
    }

    fn adopt(&self, _disks: &[(u8, Disk)]) -> Result<()> {
        bail!(crate::error::UsageError::new(
            "--adopt-disks is for cloud disks; local volumes have nothing to adopt"
        ))
    }

    fn no_backups(&self) -> crate::error::Refused {
        crate::error::Refused::new(
            "--cloud kind has no disk snapshots: each disk is a directory on a node (under \
             disk.localPath); copy those directories while the cluster is stopped (`esk \
             delete --keep-disks`) to back them up",
        )
    }

    fn delete(&self, disks: &[Disk], _detach: std::time::Duration) -> Result<()> {
        super::assert_owned(disks)?;
        let mut registry = self.read_registry()?;
        let mut jobs = Vec::new();
        for d in disks {
            if let Some(entry) = registry.get(&d.name) {
                jobs.push(self.job("rmdir", &d.name, entry)?);
            }
        }
        self.run_jobs(jobs)?;
        for d in disks {
            registry.remove(&d.name);
        }
        let kubectl = self.kubectl()?;
        if registry.is_empty() {
            kubectl.delete(&[ObjectRef {
                kind: "ConfigMap".into(),
                name: self.registry_name(),
            }])
        } else {
            kubectl.apply(&[self.registry_manifest(&registry)])
        }
    }
}

//! The one kubectl wrapper: apply many objects in one call, get by label, delete by name.

use anyhow::{Context, Result};
use serde_json::Value;

use super::process::{args, Tool};
use crate::manifest::{to_yaml_stream, Manifest, ObjectRef, KINDS};

mod facts;
mod forward;
mod logs;
mod optional;
mod raw;
mod state;

pub use facts::{first_line, ClusterNodes, KubeNode, ResourceAttributes, Versions};
pub use logs::LogQuery;
pub use raw::{RawAnswer, RawVerb};
pub use state::{ClusterState, JobsEnd};

#[derive(Clone)]
pub struct Kubectl {
    tool: Tool,
    context: Option<String>,
    namespace: String,
}

impl Kubectl {
    pub fn new(context: Option<String>, namespace: &str) -> Result<Kubectl, crate::error::Refused> {
        Ok(Kubectl {
            tool: Tool::find(
                "kubectl",
                "kubectl (https://kubernetes.io/docs/tasks/tools/)",
            )?,
            context,
            namespace: namespace.to_string(),
        })
    }

    fn base(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(c) = &self.context {
            a.push(format!("--context={c}"));
        }
        a.push(format!("--namespace={}", self.namespace));
        a
    }

    /// The current context's name (for guessing the cloud).
    pub fn current_context(&self) -> Result<Option<String>> {
        if let Some(c) = &self.context {
            return Ok(Some(c.clone()));
        }
        let out = self.tool.run(&args(["config", "current-context"]), None)?;
        Ok(out
            .success()
            .then(|| out.stdout.trim().to_string())
            .filter(|s| !s.is_empty()))
    }

    /// Uses `context` for every later call, so a context switch elsewhere mid-run cannot
    /// redirect esk.
    pub fn pin_context(&mut self, context: Option<String>) {
        if self.context.is_none() {
            self.context = context;
        }
    }

    /// kube-system's uid: a stable identity of the Kubernetes cluster. It becomes a disk label
    /// on gcloud's and aws's command lines, so only a UUID's alphabet passes.
    pub fn cluster_id(&self) -> Result<String> {
        let ns = self.get_json(&args(["namespace", "kube-system"]))?;
        ns["metadata"]["uid"]
            .as_str()
            .filter(|u| !u.is_empty() && u.len() <= 63)
            .filter(|u| u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .map(str::to_ascii_lowercase)
            .context("namespace kube-system has no uid (letters, digits, '-') to identify the cluster by")
    }

    pub fn namespace_exists(&self) -> Result<bool> {
        let mut a = self.base();
        a.extend(args([
            "get",
            "namespace",
            "--ignore-not-found",
            "-o",
            "name",
        ]));
        a.push(self.namespace.clone());
        Ok(!self.tool.run_retry(&a, None)?.trim().is_empty())
    }

    /// One server-side apply of every manifest.
    pub fn apply(&self, manifests: &[Manifest]) -> Result<()> {
        if manifests.is_empty() {
            return Ok(());
        }
        let mut a = self.base();
        a.extend(args([
            "apply",
            "--server-side",
            "--field-manager=esk",
            "--force-conflicts",
            "-f",
            "-",
        ]));
        // Server-side apply is idempotent: a retry after a lost answer changes nothing twice.
        self.tool.run_retry(&a, Some(&to_yaml_stream(manifests)))?;
        Ok(())
    }

    /// A JSON merge patch of one object (field manager `esk-restart`, so esk's own applies
    /// neither own nor remove what it sets). The same patch again changes nothing.
    pub fn patch_merge(&self, kind: &str, name: &str, patch: &str) -> Result<()> {
        let mut a = self.base();
        a.extend(args([
            "patch",
            "--type=merge",
            "--field-manager=esk-restart",
        ]));
        a.push(format!("{}/{name}", resource(kind)));
        a.push(format!("--patch={patch}"));
        self.tool.run_retry(&a, None)?;
        Ok(())
    }

    /// Deletes exactly these objects (missing ones are fine), waiting until they are gone.
    pub fn delete(&self, objects: &[ObjectRef]) -> Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        let mut a = self.base();
        // Foreground: a workload is gone only once its pods are, so a recreated node can never
        // run beside the old one on the same disk, and a disk is no longer in use when esk
        // deletes it.
        a.extend(args([
            "delete",
            "--ignore-not-found",
            "--wait=true",
            "--cascade=foreground",
        ]));
        for o in objects {
            a.push(format!("{}/{}", resource(&o.kind), o.name));
        }
        self.tool.run_retry(&a, None)?;
        Ok(())
    }

    /// Deletes one pod at once (`--force --grace-period=0`), without its kubelet's word: only
    /// for a pod on a Node that is not Ready, whose kubelet would never confirm a graceful
    /// delete.
    pub fn force_delete_pod(&self, name: &str) -> Result<()> {
        let mut a = self.base();
        a.extend(args([
            "delete",
            "--ignore-not-found",
            "--force",
            "--grace-period=0",
            "--wait=false",
        ]));
        a.push(format!("pod/{name}"));
        self.tool.run_retry(&a, None)?;
        Ok(())
    }

    /// A private `kubectl proxy` in this context: many API reads for the cost of one process.
    pub fn proxy(&self) -> Result<super::kube_proxy::KubeProxy> {
        super::kube_proxy::KubeProxy::start(&self.tool, self.context.as_deref())
    }

    /// Node names of the cluster (for spreading local volumes).
    pub fn node_names(&self) -> Result<Vec<String>> {
        let list = self.get_json(&args(["nodes"]))?;
        let mut names: Vec<String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// `kubectl <args> -o json` in the namespace, parsed.
    pub fn get_json(&self, get_args: &[String]) -> Result<Value> {
        let mut a = self.base();
        a.push("get".into());
        a.extend(get_args.iter().cloned());
        a.extend(args(["-o", "json"]));
        let out = self.tool.run_retry(&a, None)?;
        if out.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&out).context("kubectl get printed invalid JSON")
    }
}

/// The resource name kubectl takes for a kind.
pub fn resource(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, r)| *r)
        .unwrap_or(kind)
}

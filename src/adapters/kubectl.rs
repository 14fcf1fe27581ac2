//! The one kubectl wrapper: apply many objects in one call, get by label, delete by name.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

use super::process::{args, transient, Tool};
use crate::manifest::{to_yaml_stream, Manifest, ObjectRef, KINDS, NODE_LABEL};
use crate::names::record_name;
use crate::names::selector_string;
use crate::record::Record;
use crate::secrets::{decode, SecretData};
use crate::spec::Spec;

#[derive(Clone)]
pub struct Kubectl {
    tool: Tool,
    context: Option<String>,
    namespace: String,
}

/// What `observe` learns from the cluster.
pub struct ClusterState {
    pub objects: Vec<(ObjectRef, Option<u8>)>,
    pub record: Option<Record>,
    /// The cluster's Secrets, decoded (kept in memory only; never printed).
    pub secrets: SecretData,
    /// Node workloads and the hashes esk stamped on them.
    pub live: BTreeMap<String, crate::domain::LiveTemplate>,
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

    /// One raw request to the API server (`kubectl get|create|replace|delete --raw PATH`, the
    /// body on stdin): the lock's compare-and-swap calls, which need the server's own answer
    /// (a create that finds the object, a replace or delete whose resourceVersion is stale).
    pub fn raw(&self, verb: RawVerb, path: &str, body: Option<&str>) -> Result<RawAnswer> {
        let mut a = self.base();
        a.push(verb.as_str().to_string());
        a.push(format!("--raw={path}"));
        if body.is_some() {
            a.extend(args(["-f", "-"]));
        }
        // The server's own answers (exists, stale, missing) are never retried.
        let answered = |o: &super::process::Output| {
            ["(AlreadyExists)", "(Conflict)", "(NotFound)"]
                .iter()
                .any(|r| o.stderr.contains(r))
        };
        let out = self
            .tool
            .run_with_retries(&a, body, |o| transient(o) && !answered(o))?;
        if out.success() {
            return Ok(RawAnswer::Ok(out.stdout));
        }
        let reason = ["AlreadyExists", "Conflict", "NotFound"]
            .into_iter()
            .find(|r| out.stderr.contains(&format!("({r})")));
        Ok(match reason {
            Some("AlreadyExists") => RawAnswer::AlreadyExists,
            Some("Conflict") => RawAnswer::Conflict,
            Some(_) => RawAnswer::NotFound(out.stderr.trim().to_string()),
            None => return Err(self.tool.failure(&a, &out)),
        })
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

/// How waiting for Jobs ended.
#[derive(Debug, PartialEq, Eq)]
pub enum JobsEnd {
    Done,
    /// These Jobs failed past their retries, in the order asked for.
    Failed(Vec<String>),
    TimedOut,
}

/// The raw verbs: GET, POST, PUT, DELETE.
#[derive(Clone, Copy, Debug)]
pub enum RawVerb {
    Get,
    Create,
    Replace,
    Delete,
}

impl RawVerb {
    fn as_str(self) -> &'static str {
        match self {
            RawVerb::Get => "get",
            RawVerb::Create => "create",
            RawVerb::Replace => "replace",
            RawVerb::Delete => "delete",
        }
    }
}

/// How the API server answered a raw request.
#[derive(Debug, PartialEq, Eq)]
pub enum RawAnswer {
    /// 2xx, with the body.
    Ok(String),
    AlreadyExists,
    /// A stale resourceVersion: someone else changed the object first.
    Conflict,
    /// The object (or its namespace) does not exist; the server's message.
    NotFound(String),
}

/// The resource name kubectl takes for a kind.
pub fn resource(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, r)| *r)
        .unwrap_or(kind)
}

/// A Kubernetes node: its name and labels (zones, hostname).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The cluster's nodes and, when asked for, its CSI drivers, from one call.
#[derive(Clone, Debug)]
pub struct ClusterNodes {
    pub nodes: Vec<KubeNode>,
    /// CSIDriver names; `Err` says why they could not be listed (e.g. forbidden), `Ok(None)`
    /// that they were not asked for.
    pub csi_drivers: Result<Option<Vec<String>>, String>,
}

/// What `kubectl version -o json` says: the client always, the server if it answered.
pub struct Versions {
    pub client: Value,
    /// The server's `/version`, or the first line of kubectl's error.
    pub server: Result<Value, String>,
}

/// One question for a SelfSubjectAccessReview (`namespace: None` asks cluster-wide).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceAttributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: Option<String>,
}

/// How many `kubectl create` processes ask the access reviews at once (each asks its share
/// one request after another).
const REVIEW_PROCESSES: usize = 4;

/// First non-empty line of a command's error output, for one-line reports.
pub fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
        .chars()
        .take(300)
        .collect()
}

impl Kubectl {
    /// Nodes with their labels and (with `csi_drivers`) CSIDriver names, in one `kubectl get`.
    /// Being refused the CSIDrivers alone still returns the nodes.
    pub fn cluster_nodes(&self, csi_drivers: bool) -> Result<ClusterNodes> {
        let kinds = if csi_drivers {
            "nodes,csidrivers.storage.k8s.io"
        } else {
            "nodes"
        };
        let mut a = self.base();
        a.extend(args(["get", kinds, "-o", "json"]));
        let out = self.tool.run(&a, None)?;
        // kubectl prints what it could list and an error line per kind it could not.
        let drivers_failed = !out.success()
            && csi_drivers
            && out
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .all(|l| l.contains("csidrivers"));
        if !out.success() && !drivers_failed {
            return Err(self.tool.failure(&a, &out));
        }
        let list: Value =
            serde_json::from_str(&out.stdout).context("kubectl get printed invalid JSON")?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let mut nodes: Vec<KubeNode> = items
            .iter()
            .filter(|i| i["kind"] == "Node")
            .filter_map(|n| {
                let labels = n["metadata"]["labels"]
                    .as_object()
                    .map(|l| {
                        l.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(KubeNode {
                    name: n["metadata"]["name"].as_str()?.to_string(),
                    labels,
                })
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let csi_drivers = if drivers_failed {
            Err(first_line(&out.stderr))
        } else if csi_drivers {
            Ok(Some(
                items
                    .iter()
                    .filter(|i| i["kind"] == "CSIDriver")
                    .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_string))
                    .collect(),
            ))
        } else {
            Ok(None)
        };
        Ok(ClusterNodes { nodes, csi_drivers })
    }

    /// `kubectl version -o json`: the client's version, and the server's or why it did not
    /// answer.
    pub fn versions(&self) -> Result<Versions> {
        let mut a = Vec::new();
        if let Some(c) = &self.context {
            a.push(format!("--context={c}"));
        }
        a.extend(args(["version", "-o", "json"]));
        let out = self.tool.run(&a, None)?;
        let v: Value = match serde_json::from_str(&out.stdout) {
            Ok(v) => v,
            // A context that does not exist stops kubectl before it prints anything.
            Err(_) => {
                let client = self
                    .tool
                    .run_ok(&args(["version", "--client", "-o", "json"]), None)?;
                let mut v: Value = serde_json::from_str(&client)
                    .context("kubectl version --client printed invalid JSON")?;
                v["serverVersion"] = Value::Null;
                v
            }
        };
        let server = match &v["serverVersion"] {
            s if s.is_object() && out.success() => Ok(s.clone()),
            _ => Err(first_line(&out.stderr)),
        };
        Ok(Versions {
            client: v["clientVersion"].clone(),
            server,
        })
    }

    /// Asks the API server whether the current user may do each of `questions`
    /// (SelfSubjectAccessReviews, which every authorizer answers, webhooks included), in a
    /// few `kubectl create` calls; the answers come back in the order asked.
    pub fn can_i(&self, questions: &[ResourceAttributes]) -> Result<Vec<bool>> {
        if questions.is_empty() {
            return Ok(Vec::new());
        }
        let per_call = questions.len().div_ceil(REVIEW_PROCESSES);
        let chunks: Vec<&[ResourceAttributes]> = questions.chunks(per_call).collect();
        let answers =
            super::process::parallel_map(&chunks, REVIEW_PROCESSES, |chunk| self.review(chunk));
        let mut out = Vec::with_capacity(questions.len());
        for a in answers {
            out.extend(a?);
        }
        Ok(out)
    }

    fn review(&self, questions: &[ResourceAttributes]) -> Result<Vec<bool>> {
        let items: Vec<Value> = questions
            .iter()
            .map(|q| {
                let mut attributes = serde_json::json!({
                    "verb": q.verb, "group": q.group, "resource": q.resource,
                });
                if !q.subresource.is_empty() {
                    attributes["subresource"] = q.subresource.clone().into();
                }
                if let Some(ns) = &q.namespace {
                    attributes["namespace"] = ns.clone().into();
                }
                serde_json::json!({
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes},
                })
            })
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut a = Vec::new();
        if let Some(c) = &self.context {
            a.push(format!("--context={c}"));
        }
        // Reviews are made by esk, so client-side validation (which would fetch the whole
        // OpenAPI document: reviews have no PATCH for server-side validation) is skipped.
        a.extend(args([
            "create",
            "--validate=false",
            "-o",
            "json",
            "-f",
            "-",
        ]));
        let out = self.tool.run_ok(&a, Some(&list.to_string()))?;
        // kubectl prints one JSON document per object created.
        let answers: Vec<Value> = serde_json::Deserializer::from_str(&out)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .context("kubectl create printed invalid JSON")?;
        let answers: Vec<Value> = answers
            .into_iter()
            .flat_map(|v| match v["items"].as_array() {
                Some(items) if v["kind"] == "List" => items.clone(),
                _ => vec![v],
            })
            .collect();
        // Each answer repeats its question: match on that, not on the order.
        let asked = |r: &Value| {
            let a = &r["spec"]["resourceAttributes"];
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            ResourceAttributes {
                verb: s("verb"),
                group: s("group"),
                resource: s("resource"),
                subresource: s("subresource"),
                namespace: Some(s("namespace")).filter(|n| !n.is_empty()),
            }
        };
        questions
            .iter()
            .map(|q| {
                answers
                    .iter()
                    .find(|r| asked(r) == *q)
                    .map(|r| r["status"]["allowed"].as_bool().unwrap_or(false))
                    .with_context(|| {
                        format!(
                            "kubectl printed no access review answer for {} {}",
                            q.verb, q.resource
                        )
                    })
            })
            .collect()
    }
}

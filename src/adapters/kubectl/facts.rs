//! What doctor asks the cluster: its nodes and CSI drivers, kubectl's and the server's
//! versions, and access reviews for what esk must be allowed to do.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

use super::Kubectl;
use crate::adapters::process::args;

/// A Kubernetes node: its name and labels (zones, hostname).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Not reported NotReady (a node without a Ready condition counts as ready): the
    /// scheduler places pods only on ready nodes.
    pub ready: bool,
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
                let ready = !n["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] != "True");
                Some(KubeNode {
                    name: n["metadata"]["name"].as_str()?.to_string(),
                    labels,
                    ready,
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
        let answers = crate::adapters::process::parallel_map(&chunks, REVIEW_PROCESSES, |chunk| {
            self.review(chunk)
        });
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

//! `esk lint`: EventStore-specific rules over any Kubernetes manifests (esk's own render, a
//! hand-written set, a Helm chart's output). Generic linters know Kubernetes; these rules know
//! what an EventStoreDB / KurrentDB cluster needs: one private disk per node, the gossip and
//! replication ports open between nodes, discovery through a headless Service, quorum.
//!
//! Pure: parsed documents in, findings out. `command` reads files and prints; `create` and
//! `resize` call [`refuse_on_errors`] on their own render.

mod cluster;
pub mod command;
mod inventory;
mod model;
mod netpol;
mod node;
mod quantity;
mod rules;

use std::fmt;

use serde::Serialize;
use serde_yaml::Value;

use crate::error::{Refused, UsageError};
use crate::manifest::Manifest;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the cluster or loses data: `esk lint` exits 5, `create` refuses.
    Error,
    /// Weakens it (availability, an unpinned cost): shown, exit 0.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One rule: a stable id, its severity, what it finds and the usual fix (README's table).
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub what: &'static str,
    pub fix: &'static str,
}

const fn rule(id: &'static str, severity: Severity, what: &'static str, fix: &'static str) -> Rule {
    Rule {
        id,
        severity,
        what,
        fix,
    }
}

use Severity::{Error as E, Warning as W};

/// Every rule. Ids are stable: never renumber, only add.
#[rustfmt::skip]
pub const RULES: &[Rule] = &[
    rule("ES001", E, "node data on a ReadWriteMany or ReadOnlyMany claim",
         "give each node its own ReadWriteOnce claim"),
    rule("ES002", E, "node data on emptyDir, hostPath, a generic ephemeral volume or the container's own filesystem",
         "mount a PersistentVolumeClaim at the data directory"),
    rule("ES003", W, "node data volume smaller than 10Gi",
         "request at least 10Gi (the database and its index grow)"),
    rule("ES004", E, "a NetworkPolicy blocks a client port of the nodes",
         "allow ingress to the client port (2113; 1113 on 5.x) from the clients"),
    rule("ES005", E, "a NetworkPolicy blocks gossip, replication or internal ports between the nodes",
         "allow the nodes to reach each other on those ports (ingress and egress)"),
    rule("ES006", W, "CPU request below 500m or memory request below 1Gi (or none)",
         "request at least 500m CPU and 1Gi memory for each node"),
    rule("ES007", E, "cluster size differs between nodes or from the number of nodes",
         "set CLUSTER_SIZE to the number of nodes on every node (lint the whole set)"),
    rule("ES008", E, "a 2-node cluster: it stops when either node does",
         "run 1 or 3 nodes"),
    rule("ES009", W, "an even number of nodes: no more failures survived than with one fewer",
         "run an odd number of nodes"),
    rule("ES010", E, "headless Service of the nodes without publishNotReadyAddresses: true",
         "set publishNotReadyAddresses: true (nodes are not Ready until gossip has elected a leader)"),
    rule("ES011", E, "discovery DNS name (CLUSTER_DNS) is not a headless Service selecting the nodes",
         "set CLUSTER_DNS to <headless-service>.<namespace>.svc.cluster.local"),
    rule("ES012", E, "PersistentVolume reclaim policy Delete or Recycle",
         "set persistentVolumeReclaimPolicy: Retain"),
    rule("ES013", W, "StorageClass that deletes its volumes (reclaimPolicy Delete or unset)",
         "use a StorageClass with reclaimPolicy: Retain for node data"),
    rule("ES014", E, "two servers can run on one disk: a Deployment rolling its node over a ReadWriteOnce disk, or several replicas on one claim",
         "use strategy Recreate and replicas: 1 per node Deployment (or a StatefulSet)"),
    rule("ES015", E, "node image untagged or :latest",
         "pin the image to a version tag or digest"),
    rule("ES016", W, "no PodDisruptionBudget covers a multi-node cluster",
         "add a PodDisruptionBudget with maxUnavailable: 1 over the nodes"),
    rule("ES017", W, "PodDisruptionBudget lets more than one node go down",
         "set maxUnavailable: 1"),
    rule("ES018", W, "no pod anti-affinity spreads the nodes",
         "add podAntiAffinity on kubernetes.io/hostname over the nodes' labels"),
    rule("ES019", E, "public LoadBalancer without source ranges",
         "set loadBalancerSourceRanges, or make the load balancer internal"),
    rule("ES020", W, "insecure mode: no TLS and no authentication",
         "remove INSECURE and give the nodes certificates"),
    rule("ES021", E, "removed API version (extensions/v1beta1, apps/v1beta1, apps/v1beta2, policy/v1beta1, batch/v1beta1, ...)",
         "use the kind's current version (the finding names it: apps/v1, batch/v1, policy/v1, networking.k8s.io/v1, ...)"),
    rule("ES022", W, "in-tree cloud disk volume (gcePersistentDisk, awsElasticBlockStore, azureDisk, cinder): served only through CSI migration",
         "use a PersistentVolume with the cloud's CSI driver (pd.csi.storage.gke.io, ebs.csi.aws.com, ...)"),
    rule("ES023", W, "public LoadBalancer whose source ranges include 0.0.0.0/0 or ::/0",
         "list only the client networks in loadBalancerSourceRanges"),
    rule("ES024", E, "a Service named eventstore/kurrentdb (or eventstore-*/kurrentdb-*) makes Kubernetes inject EVENTSTORE_*/KURRENTDB_* service-link variables, which 21.10+ servers refuse as unknown settings",
         "set enableServiceLinks: false on the server pods, or rename the Service"),
    rule("ES025", E, "a claim requests more storage than the PersistentVolume it names: it never binds",
         "request at most the volume's capacity (or grow the volume)"),
    rule("ES026", W, "the default credentials admin:changeit / ops:changeit in use",
         "change the admin and ops passwords and keep them in a Secret"),
];

pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Which object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Object {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub object: Object,
    /// Where the object came from: a file, `-`, or a template name.
    pub file: String,
    pub message: String,
    pub fix: String,
}

impl Finding {
    /// A finding of `rule` (its severity and usual fix from [`RULES`]).
    fn new(rule: &'static str, object: &Object, file: &str, message: String) -> Finding {
        let known = rule_by_id(rule);
        debug_assert!(known.is_some(), "unknown rule {rule}");
        Finding {
            rule,
            severity: known.map_or(Severity::Error, |r| r.severity),
            object: object.clone(),
            file: file.to_string(),
            message,
            fix: known.map_or("", |r| r.fix).to_string(),
        }
    }
}

impl Finding {
    /// The same finding with a fix for this object rather than the rule's usual one.
    fn with_fix(mut self, fix: String) -> Finding {
        self.fix = fix;
        self
    }
}

/// Input text shown on one line: control characters (a newline in a name) escaped.
fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `FILE: SEVERITY RULE KIND/NS/NAME: MESSAGE; fix: FIX`, always one line.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {} {}: {}; fix: {}",
            one_line(&self.file),
            self.severity,
            self.rule,
            one_line(&self.object.to_string()),
            one_line(&self.message),
            one_line(&self.fix)
        )
    }
}

/// One parsed document and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub value: Value,
    pub file: String,
}

/// The text without byte-order marks: the one a Windows editor puts at the start (kubectl
/// reads past it), and those at the start of a line where such files were concatenated
/// (`cat *.yaml`).
fn without_bom(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\n\u{feff}", "\n")
}

/// A JSON file (one object or several in a row, as kubectl reads them), as documents.
pub fn parse_json(text: &str, file: &str) -> Result<Vec<Doc>, UsageError> {
    let text = without_bom(text);
    let text = text.as_str();
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    for (i, value) in stream.enumerate() {
        let value = value.map_err(|e| UsageError::new(format!("{file}: not valid JSON: {e}")))?;
        let value = serde_yaml::to_value(value)
            .map_err(|e| UsageError::new(format!("{file}: not valid JSON: {e}")))?;
        push_objects(value, file, i + 1, &mut out)?;
    }
    Ok(out)
}

/// Splits a YAML stream into documents; a `List` contributes its items. Empty documents are
/// skipped; anything else must be an object with apiVersion and kind.
pub fn parse(text: &str, file: &str) -> Result<Vec<Doc>, UsageError> {
    use serde::Deserialize;
    let text = without_bom(text);
    let text = text.as_str();
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match Value::deserialize(doc) {
            Ok(v) => v,
            // JSON is YAML, but not tab-indented JSON (`kubectl get -o json` piped in, a JSON
            // stream): read it as kubectl does.
            Err(_) if text.trim_start().starts_with('{') => {
                if let Ok(docs) = parse_json(text, file) {
                    return Ok(docs);
                }
                return Err(UsageError::new(format!("{file}: not valid YAML or JSON")));
            }
            Err(e) => return Err(UsageError::new(format!("{file}: not valid YAML: {e}"))),
        };
        push_objects(value, file, i + 1, &mut out)?;
    }
    Ok(out)
}

fn push_objects(value: Value, file: &str, n: usize, out: &mut Vec<Doc>) -> Result<(), UsageError> {
    if value.is_null() {
        return Ok(());
    }
    if value.get("kind").and_then(Value::as_str) == Some("Kustomization")
        || is_bare_kustomization(&value)
    {
        return Err(kustomization(file));
    }
    let is_object = value.get("kind").and_then(Value::as_str).is_some()
        && value.get("apiVersion").and_then(Value::as_str).is_some();
    if !is_object {
        return Err(UsageError::new(format!(
            "{file}: document {n} is not a Kubernetes object (it needs apiVersion and kind)"
        )));
    }
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_sequence);
    if is_list {
        if let Some(Value::Sequence(items)) = value.get("items") {
            for item in items.clone() {
                push_objects(item, file, n, out)?;
            }
        }
        return Ok(());
    }
    out.push(Doc {
        value,
        file: file.to_string(),
    });
    Ok(())
}

/// A kustomization written without apiVersion and kind (kustomize accepts that): no kind,
/// and only kustomization fields, at least one that only a kustomization has.
fn is_bare_kustomization(value: &Value) -> bool {
    const FIELDS: &[&str] = &[
        "resources",
        "bases",
        "components",
        "patches",
        "patchesStrategicMerge",
        "patchesJson6902",
        "namePrefix",
        "nameSuffix",
        "namespace",
        "commonLabels",
        "commonAnnotations",
        "labels",
        "images",
        "replicas",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
        "crds",
        "vars",
        "replacements",
        "openapi",
        "transformers",
        "generators",
        "validators",
        "buildMetadata",
        "sortOptions",
        "helmCharts",
        "helmGlobals",
    ];
    let Some(map) = value.as_mapping() else {
        return false;
    };
    value.get("kind").is_none()
        && !map.is_empty()
        && map
            .keys()
            .all(|k| k.as_str().is_some_and(|k| FIELDS.contains(&k)))
        && map.keys().any(|k| {
            k.as_str().is_some_and(|k| {
                ["resources", "bases", "components", "patchesStrategicMerge"].contains(&k)
            })
        })
}

/// A kustomization is not what gets applied: its build is.
pub fn kustomization(file: &str) -> UsageError {
    let dir = std::path::Path::new(file)
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty() && file != "-")
        .unwrap_or_else(|| "DIR".into());
    UsageError::new(format!(
        "{file} is a kustomization, not the manifests it builds: run `kubectl kustomize {dir} | esk lint -`"
    ))
}

/// Every finding for these documents, errors first, then by rule and object.
pub fn lint(docs: &[Doc]) -> Vec<Finding> {
    let inventory = inventory::Inventory::new(docs);
    let mut findings = rules::run(&inventory);
    findings.sort_by(|a, b| {
        (a.severity, a.rule, &a.object, &a.message)
            .cmp(&(b.severity, b.rule, &b.object, &b.message))
    });
    findings.dedup();
    findings
}

/// `create`/`resize`: lint their own render (which `--templates` can change). Errors refuse
/// (exit 3, nothing changed) unless `force`; what is returned are the lines to show as
/// warnings (with `force`, the errors too).
pub fn refuse_on_errors(manifests: &[Manifest], force: bool) -> anyhow::Result<Vec<String>> {
    let docs: Vec<Doc> = manifests
        .iter()
        .map(|m| Doc {
            value: m.value.clone(),
            file: m.source.clone(),
        })
        .collect();
    let findings = lint(&docs);
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if !errors.is_empty() && !force {
        let list: Vec<String> = errors
            .iter()
            .map(|f| format!("{} {}: {}", f.rule, f.object, f.message))
            .collect();
        return Err(Refused::new(format!(
            "the rendered manifests fail {} lint rule check(s): {}; fix the templates (see \
             `esk render N | esk lint`) or add --force to apply them anyway",
            errors.len(),
            list.join("; ")
        ))
        .into());
    }
    Ok(findings
        .iter()
        .map(|f| match f.severity {
            Severity::Error => format!(
                "warning: lint error {} {}: {} (applied anyway: --force)",
                f.rule, f.object, f.message
            ),
            Severity::Warning => format!("warning: lint {} {}: {}", f.rule, f.object, f.message),
        })
        .collect())
}

#[cfg(test)]
mod tests;

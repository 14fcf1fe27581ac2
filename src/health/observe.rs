//! One look at the running cluster, at a bounded cost whatever its size: two `kubectl get`s
//! (the cluster's labelled objects; the claims, volumes, events and Nodes around them) and,
//! through one private `kubectl proxy`, every node's gossip in parallel (plus the previous
//! container's last log lines for crash-looping pods).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::facts::{label, PodFacts};
use super::Observation;
use crate::adapters::kube_proxy::KubeProxy;
use crate::adapters::kubectl::Kubectl;
use crate::adapters::process::{args, parallel_map};
use crate::manifest::COMPONENT;
use crate::names::{record_name, selector_string};
use crate::spec::Spec;

/// Gossip requests in flight at once.
const CONCURRENCY: usize = 16;
/// How long one node may take to answer.
const GOSSIP_TIMEOUT: Duration = Duration::from_secs(10);
/// The only Secret keys an observation keeps.
const KEPT_SECRET_KEYS: &[&str] = &["ca.crt", "tls.crt", "admin-password"];
/// Log lines kept from a crash-looping container.
pub const LOG_LINES: usize = 5;

/// The cluster's objects and those around them, from two gets run at once.
pub fn read_objects(kubectl: &Kubectl, spec: &Spec) -> Result<Observation> {
    let selector = selector_string(spec);
    let (labelled, around) = std::thread::scope(|s| {
        let around = s.spawn(|| {
            kubectl.get_json(&args([
                "nodes,persistentvolumes,persistentvolumeclaims,events",
            ]))
        });
        let labelled = kubectl.get_json(&args([
            "deployments.apps,statefulsets.apps,pods,configmaps,secrets",
            "-l",
            &selector,
        ]));
        (
            labelled,
            around
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        )
    });
    let items = |v: Value| -> Vec<Value> {
        match v {
            Value::Object(mut m) => match m.remove("items") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    };
    let mut objects = items(labelled?);
    for secret in objects.iter_mut().filter(|o| o["kind"] == "Secret") {
        // Certificates (for their expiry) and the admin password (for connection-string)
        // only: private keys are not kept.
        if let Some(data) = secret.get_mut("data").and_then(Value::as_object_mut) {
            data.retain(|k, _| KEPT_SECRET_KEYS.contains(&k.as_str()));
        }
    }
    let mut obs = Observation {
        objects,
        ..Observation::default()
    };
    for item in items(around?) {
        match item["kind"].as_str() {
            Some("Node") => obs.nodes.push(item),
            Some("PersistentVolume") => obs.volumes.push(item),
            Some("PersistentVolumeClaim") => obs.claims.push(item),
            Some("Event") => obs.events.push(item),
            _ => {}
        }
    }
    Ok(obs)
}

/// The Kubernetes cluster's identity (kube-system's uid), which decides which disks are this
/// cluster's, and the cluster's record with its managed fields (when esk last changed it), in
/// one small get.
pub fn read_identity(kubectl: &Kubectl, spec: &Spec) -> Result<(String, Option<Value>)> {
    let record = format!("configmap/{}", record_name(spec));
    let found = kubectl.get_json(&args([
        "namespace/kube-system",
        &record,
        "--show-managed-fields",
        "--ignore-not-found",
    ]))?;
    let items = match found["items"].as_array() {
        Some(items) => items.clone(),
        None => vec![found],
    };
    let kube_id = items
        .iter()
        .find(|i| i["kind"] == "Namespace")
        .and_then(|ns| ns["metadata"]["uid"].as_str())
        .filter(|u| !u.is_empty() && u.len() <= 63)
        .map(str::to_ascii_lowercase)
        .context("namespace kube-system has no uid to identify the cluster by")?;
    let record = items.into_iter().find(|i| i["kind"] == "ConfigMap");
    Ok((kube_id, record))
}

/// A pod name safe to put in a URL path (the API server's names are DNS subdomains).
fn url_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Reads, through `proxy`, the gossip of every node pod that has an address, and the
/// previous container's logs of those that crash-loop.
pub fn read_gossip(proxy: &KubeProxy, spec: &Spec, obs: &mut Observation) {
    let ns = spec.namespace.as_str();
    let scheme = if spec.security.tls { "https" } else { "http" };
    let pods: Vec<PodFacts> = obs
        .objects
        .iter()
        .filter(|o| o["kind"] == "Pod" && label(o, COMPONENT) == Some("node"))
        .map(PodFacts::from)
        .filter(|p| url_safe(&p.name) && !p.deleting)
        .collect();
    let mut requests: Vec<(String, bool, String)> = Vec::new();
    for p in &pods {
        if p.ip.is_some() && p.phase == "Running" {
            let path = format!(
                "/api/v1/namespaces/{ns}/pods/{scheme}:{}:2113/proxy/gossip",
                p.name
            );
            requests.push((p.name.clone(), false, path));
        }
        let looping = p
            .waiting
            .as_ref()
            .is_some_and(|(r, _)| r == "CrashLoopBackOff");
        if looping {
            let path = format!(
                "/api/v1/namespaces/{ns}/pods/{}/log?previous=true&tailLines={LOG_LINES}",
                p.name
            );
            requests.push((p.name.clone(), true, path));
        }
    }
    let replies = parallel_map(&requests, CONCURRENCY, |(_, _, path)| {
        proxy.get(path, GOSSIP_TIMEOUT)
    });
    for ((pod, is_log, _), reply) in requests.into_iter().zip(replies) {
        let result = match reply {
            Ok(r) if r.status == 200 => Ok(r.body),
            Ok(r) => Err(r.body),
            Err(e) => Err(format!("{e:#}")),
        };
        if is_log {
            if let Ok(text) = result {
                obs.previous_logs.insert(pod, text);
            }
        } else {
            obs.gossip.insert(pod, result);
        }
    }
}

/// Everything but the disks, with the proxy already running.
pub fn observe(kubectl: &Kubectl, proxy: &KubeProxy, spec: &Spec) -> Result<Observation> {
    let mut obs = read_objects(kubectl, spec)?;
    read_gossip(proxy, spec, &mut obs);
    Ok(obs)
}

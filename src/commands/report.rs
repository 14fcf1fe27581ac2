//! `esk report [-o FILE]`: one archive to attach to a support ticket. It holds what `esk
//! status -o json` shows, each node's gossip, the cluster record, the manifests esk renders for
//! the cluster (no Secrets), the events about its objects, each node's current and previous
//! log (the last lines), certificate expiry, `esk doctor` and lint output, and the versions of
//! esk, kubectl (and the API server) and the cloud CLI. What could not be read is listed in
//! `errors.txt` instead of stopping the report.
//!
//! Secrets never enter it: Secret objects are not collected, every file is scrubbed of PEM
//! private keys and of every value of the cluster's Secrets (passwords, keys; also base64 and
//! JSON-escaped), read only for that and kept in memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::existing::{found, open};
use crate::adapters::kubectl::{Kubectl, LogQuery};
use crate::adapters::probe;
use crate::adapters::process::{args, parallel_map};
use crate::bundle::{scrub, Tar};
use crate::cli::Global;
use crate::connection::{Connection, DEFAULT_CA_FILE};
use crate::error::UsageError;
use crate::health::output::{render, Format};
use crate::health::{self, clock, observe, Observation};
use crate::manifest::to_yaml_stream;
use crate::names::{record_name, selector_string};
use crate::render::Templates;
use crate::spec::{Cloud, Spec};

/// Log lines kept per container.
const LOG_TAIL: u32 = 1000;
/// Secret keys that hold public material, not searched for (a certificate is no secret).
const PUBLIC_KEYS: &[&str] = &["ca.crt", "tls.crt", "ca-next.crt"];

/// The files of the report, in order, before scrubbing.
#[derive(Default)]
struct Files {
    files: Vec<(String, String)>,
    errors: Vec<String>,
}

impl Files {
    fn add(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.files.push((path.into(), text.into()));
    }

    fn json(&mut self, path: &str, value: &Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
        self.add(path, text);
    }

    fn failed(&mut self, what: &str, why: impl std::fmt::Display) {
        self.errors.push(format!("{what}: {why}"));
    }
}

/// `-o FILE`, or `esk-report-<name>-<UTC time>.tar` here; an existing file is never replaced.
fn output_path(output: Option<&Path>, spec_name: &str) -> Result<PathBuf, UsageError> {
    let path = output.map_or_else(
        || {
            let stamp = clock::rfc3339(clock::now()).replace([':', '-'], "");
            PathBuf::from(format!("esk-report-{spec_name}-{stamp}.tar"))
        },
        Path::to_path_buf,
    );
    if path.exists() {
        return Err(UsageError::new(format!(
            "{} exists; esk report does not replace files (choose another -o)",
            path.display()
        )));
    }
    Ok(path)
}

pub(super) fn run(g: &Global, output: Option<&Path>) -> Result<()> {
    if let Some(o) = output {
        output_path(Some(o), &g.name)?;
    }
    let (base, kubectl, context) = open(g)?;
    let context = context.as_deref();
    let mut obs = observe::read_objects(&kubectl, &base)?;
    let mut spec = found(g, base, &obs)?;
    let path = output_path(output, spec.name.as_str())?;
    let mut files = Files::default();
    match kubectl.proxy() {
        Ok(proxy) => observe::read_gossip(&proxy, &spec, &mut obs),
        Err(e) => files.failed("gossip (kubectl proxy)", format!("{e:#}")),
    }
    match observe::read_identity(&kubectl, &spec) {
        Ok((kube_id, _)) => {
            spec.kube_id = kube_id;
            // A spread cluster's disks are in every zone its record names, not only the
            // adapter's one zone (GCE lists disks per zone).
            let zones: Vec<String> = health::recorded(&spec, &obs)
                .map(|r| {
                    let mut zones: Vec<String> = Vec::new();
                    for z in std::iter::once(&r.zone)
                        .chain(&r.zones)
                        .chain(r.node_zones.values())
                    {
                        if !z.is_empty() && !zones.contains(z) {
                            zones.push(z.clone());
                        }
                    }
                    zones
                })
                .filter(|z| z.len() > 1)
                .unwrap_or_default();
            obs.disks = Some(super::status::list_disks(&spec, context, &kubectl, &zones));
        }
        Err(e) => files.failed("disks", format!("{e:#}")),
    }
    collect(g, &spec, &kubectl, &obs, &mut files);
    let secrets = secret_values(&kubectl, &spec)?;
    let top = format!("esk-report-{}", spec.name);
    let mut tar = Tar::default();
    let mtime = u64::try_from(clock::now()).unwrap_or(0);
    if !files.errors.is_empty() {
        let text = files.errors.join("\n") + "\n";
        files.add("errors.txt", text);
    }
    for (name, text) in &files.files {
        let clean = scrub(text, &secrets);
        tar.add(&format!("{top}/{name}"), mtime, clean.as_bytes())
            .map_err(anyhow::Error::msg)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(&tar.finish())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", path.display());
    let short = secrets
        .iter()
        .filter(|s| !s.is_empty() && s.len() < crate::bundle::MIN_SECRET_LEN)
        .count();
    if short > 0 {
        eprintln!(
            "esk: {short} value(s) of the cluster's Secrets are shorter than {} characters and              were not scrubbed (they cannot be told from ordinary words); look before sharing",
            crate::bundle::MIN_SECRET_LEN
        );
    }
    if !files.errors.is_empty() {
        eprintln!(
            "esk: {} part(s) could not be read; errors.txt in the report says which",
            files.errors.len()
        );
    }
    Ok(())
}

/// Every value of the cluster's Secrets but public certificates, decoded: what the archive
/// is scrubbed of.
fn secret_values(kubectl: &Kubectl, spec: &Spec) -> Result<Vec<String>> {
    let list = kubectl.get_json(&args(["secrets", "-l", &selector_string(spec)]))?;
    let mut values = Vec::new();
    for secret in list["items"].as_array().into_iter().flatten() {
        let data = secret["data"].as_object().into_iter().flatten();
        for value in data
            .filter(|(k, _)| !PUBLIC_KEYS.contains(&k.as_str()))
            .map(|(_, v)| v)
        {
            if let Some(decoded) = value.as_str().and_then(decode) {
                values.push(decoded);
            }
        }
    }
    Ok(values)
}

fn decode(b64: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

fn collect(g: &Global, spec: &Spec, kubectl: &Kubectl, obs: &Observation, files: &mut Files) {
    let h = health::assess(spec, obs, clock::now());
    let connection = Connection::of(spec, DEFAULT_CA_FILE);
    match render(&h, Some(&connection), Format::Json) {
        Ok(text) => files.add("status.json", text),
        Err(e) => files.failed("status", e),
    }
    for (pod, gossip) in &obs.gossip {
        match gossip {
            Ok(body) => files.add(format!("gossip/{pod}.json"), body.clone()),
            Err(why) => files.failed(&format!("gossip of {pod}"), why),
        }
    }
    let record = obs
        .objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == record_name(spec).as_str());
    match record {
        Some(r) => files.json(
            "record.json",
            &json!({"metadata": {"name": r["metadata"]["name"],
            "namespace": r["metadata"]["namespace"]}, "data": r["data"]}),
        ),
        None => files.failed("record", "no record ConfigMap"),
    }
    let manifests = Templates::load(g.templates.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|t| super::offline_manifests(spec, &t, false));
    match manifests {
        Ok(mut m) => {
            m.retain(|m| m.object.kind != "Secret");
            files.add("manifests.yaml", to_yaml_stream(&m));
            files.add("lint.txt", lint(&m));
        }
        Err(e) => files.failed("manifests", format!("{e:#}")),
    }
    files.json("events.json", &Value::Array(events(spec, obs)));
    logs(kubectl, &h, files);
    files.add("certificates.txt", certificates(obs));
    match super::doctor::report_text(g) {
        Ok(text) => files.add("doctor.txt", text),
        Err(e) => files.failed("doctor", format!("{e:#}")),
    }
    files.add("versions.txt", versions(kubectl, spec));
}

/// The events about the cluster's objects: its pods, workloads, claims and volumes.
fn events(spec: &Spec, obs: &Observation) -> Vec<Value> {
    let prefix = format!("{}-", spec.name);
    obs.events
        .iter()
        .filter(|e| {
            let name = e["involvedObject"]["name"].as_str().unwrap_or("");
            name == spec.name.as_str() || name.starts_with(&prefix)
        })
        .cloned()
        .collect()
}

/// Each node's current and previous log, the last [`LOG_TAIL`] lines, with their times.
fn logs(kubectl: &Kubectl, h: &health::Health, files: &mut Files) {
    let mut reads = Vec::new();
    for n in &h.nodes {
        if let Some(pod) = &n.pod {
            for previous in [false, true] {
                reads.push((n.name.clone(), pod.name.clone(), previous));
            }
        }
    }
    let answers = parallel_map(&reads, 16, |(_, pod, previous)| {
        let query = LogQuery {
            previous: *previous,
            tail: Some(LOG_TAIL),
            ..LogQuery::default()
        };
        kubectl.logs(pod, &query)
    });
    for ((node, _, previous), answer) in reads.iter().zip(answers) {
        let file = if *previous {
            format!("logs/{node}.previous.log")
        } else {
            format!("logs/{node}.log")
        };
        match answer {
            Ok(Ok(text)) => files.add(file, text),
            // Most nodes never restarted: no previous container is no error.
            Ok(Err(why)) if *previous => files.add(file, format!("# {why}\n")),
            Ok(Err(why)) => files.failed(&file, why),
            Err(e) => files.failed(&file, format!("{e:#}")),
        }
    }
}

/// `secret/key: not after DATE` for every certificate of the cluster's Secrets.
fn certificates(obs: &Observation) -> String {
    let mut lines = Vec::new();
    for secret in obs.objects.iter().filter(|o| o["kind"] == "Secret") {
        let name = secret["metadata"]["name"].as_str().unwrap_or("");
        for (key, value) in secret["data"].as_object().into_iter().flatten() {
            if !key.ends_with(".crt") {
                continue;
            }
            let until = value
                .as_str()
                .and_then(decode)
                .and_then(|pem| health::certificate_expiry(&pem));
            lines.push(match until {
                Some(t) => format!("{name}/{key}: not after {}", clock::rfc3339(t)),
                None => format!("{name}/{key}: not a readable certificate"),
            });
        }
    }
    lines.sort();
    lines.join("\n") + "\n"
}

fn lint(manifests: &[crate::manifest::Manifest]) -> String {
    let docs: Vec<crate::lint::Doc> = manifests
        .iter()
        .map(|m| crate::lint::Doc {
            value: m.value.clone(),
            file: m.source.clone(),
        })
        .collect();
    let findings = crate::lint::lint(&docs);
    let mut text: String = findings.iter().map(|f| format!("{f}\n")).collect();
    text.push_str(&format!(
        "esk lint: {} finding(s) in {} object(s)\n",
        findings.len(),
        docs.len()
    ));
    text
}

fn versions(kubectl: &Kubectl, spec: &Spec) -> String {
    let mut text = format!("esk {}\n", env!("CARGO_PKG_VERSION"));
    match kubectl.versions() {
        Ok(v) => {
            text.push_str(&format!("kubectl {}\n", v.client));
            match v.server {
                Ok(s) => text.push_str(&format!("server {s}\n")),
                Err(e) => text.push_str(&format!("server: {e}\n")),
            }
        }
        Err(e) => text.push_str(&format!("kubectl: {e:#}\n")),
    }
    let cloud = match spec.cloud {
        Cloud::Gke => probe::find("gcloud").map(|t| ("gcloud", probe::gcloud_version(&t))),
        Cloud::Aws => probe::find("aws").map(|t| ("aws", probe::aws_version(&t))),
        Cloud::Kind | Cloud::Dynamic => None,
    };
    match cloud {
        Some((name, Ok(v))) => text.push_str(&format!("{name} {v}\n")),
        Some((name, Err(e))) => text.push_str(&format!("{name}: {e}\n")),
        None => {}
    }
    text
}

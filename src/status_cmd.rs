//! The verbs that read a running cluster: `esk status [--wait]`, `esk connection-string`,
//! `esk ca-cert`. What the cluster was made with comes from its record, so none of them needs
//! the flags it was created with.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::adapters;
use crate::adapters::kubectl::Kubectl;
use crate::cli::{Global, Read};
use crate::connection::{connection_string as conn_string, Connection};
use crate::error::{exit, Unhealthy, UsageError};
use crate::health::output::{render, Format};
use crate::health::{self, clock, observe, wait, Observation};
use crate::manifest::COMPONENT;
use crate::plan::Disk;
use crate::profile::Profile;
use crate::report::Reporter;
use crate::secrets;
use crate::spec::{Cloud, NodeCount, Spec, Workload};

/// Runs one of the reading verbs.
pub fn run(g: &Global, verb: &Read, report: &Reporter) -> Result<()> {
    match verb {
        Read::Status {
            output,
            wait,
            timeout,
        } => status(
            g,
            output,
            wait.then(|| Duration::from_secs(*timeout)),
            report,
        ),
        Read::ConnectionString {
            show_password,
            ca_file,
        } => connection_string(g, *show_password, ca_file),
        Read::CaCert { output } => ca_cert(g, output.as_deref()),
    }
}

/// The CA file a connection string names unless told otherwise.
pub const DEFAULT_CA_FILE: &str = "ca.crt";

/// Validates the flags (nothing runs before), then pins the kube context.
fn open(g: &Global) -> Result<(Spec, Kubectl, Option<String>)> {
    let explicit = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
    g.spec(NodeCount::new(1)?, explicit.or(Some(Cloud::Gke)))?;
    let mut kubectl = Kubectl::new(g.context.clone(), &g.namespace)?;
    let context = kubectl.current_context()?;
    kubectl.pin_context(context.clone());
    let detected = explicit.or_else(|| context.as_deref().and_then(Cloud::from_context));
    let spec = g.spec(NodeCount::new(1)?, detected)?;
    Ok((spec, kubectl, context))
}

/// The spec of the cluster as it was made: the record's size, profile, workload, cloud and
/// TLS mode (flags given now win for profile and cloud).
pub(crate) fn resolve(g: &Global, mut spec: Spec, obs: &Observation) -> Result<Spec> {
    let node_workloads: Vec<&serde_json::Value> = obs
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        .filter(|o| o["metadata"]["labels"][COMPONENT] == "node")
        .collect();
    match health::recorded(&spec, obs) {
        Some(r) => {
            if g.profile.is_none() && !r.profile.is_empty() && r.profile != spec.profile.name {
                // A profile file that is gone now: the default's settings are the best guess.
                if let Ok(mut p) = Profile::load(&r.profile) {
                    for assignment in &g.set {
                        p.set(assignment)?;
                    }
                    spec.profile = p;
                }
            }
            if let Ok(n) = NodeCount::new(r.nodes) {
                spec.nodes = n;
            }
            spec.workload = r.workload.parse().unwrap_or(spec.workload);
            if g.cloud.is_none() {
                spec.cloud = r.cloud.parse().unwrap_or(spec.cloud);
            }
            spec.security.tls = r.tls;
            spec.security.required_anti_affinity = r.anti_affinity != "preferred";
            spec.replicas = r.replicas;
        }
        None => {
            let set = node_workloads.iter().find(|w| w["kind"] == "StatefulSet");
            let count = match set {
                Some(s) => {
                    spec.workload = Workload::StatefulSet;
                    s["spec"]["replicas"].as_u64().unwrap_or(1) as u8
                }
                None => node_workloads.len().min(usize::from(NodeCount::MAX)) as u8,
            };
            if let Ok(n) = NodeCount::new(count) {
                spec.nodes = n;
            }
            spec.replicas = obs
                .objects
                .iter()
                .filter(|o| o["kind"] == "Deployment")
                .filter(|o| o["metadata"]["labels"][COMPONENT] == "replica")
                .count()
                .min(usize::from(NodeCount::MAX)) as u8;
        }
    }
    Ok(spec)
}

fn not_found(spec: &Spec) -> anyhow::Error {
    Unhealthy::new(
        exit::NOT_FOUND,
        format!("no cluster {} in namespace {}", spec.name, spec.namespace),
    )
    .into()
}

/// The cluster's disks through its disk adapter (errors kept as text: a status still shows).
fn list_disks(spec: &Spec, context: Option<&str>, kubectl: &Kubectl) -> Result<Vec<Disk>, String> {
    adapters::connect(spec, context, kubectl)
        .and_then(|c| c.disks.list(&[]))
        .map_err(|e| format!("{e:#}"))
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// The cluster's disks, listed as soon as the Kubernetes cluster's identity is known (it
/// decides which disks are this cluster's), before the record says what the cluster is:
/// `cloud` from the flags or the context, listed again in the rare case the record disagrees.
/// The same small get brings the record with its managed fields (when esk last changed it).
struct EarlyDisks {
    listed_as: Option<Spec>,
    disks: Result<Vec<Disk>, String>,
    record: Option<serde_json::Value>,
}

fn early_disks(base: &Spec, context: Option<&str>, kubectl: &Kubectl) -> EarlyDisks {
    match observe::read_identity(kubectl, base) {
        Ok((kube_id, record)) => {
            let guess = Spec {
                kube_id,
                ..base.clone()
            };
            let disks = list_disks(&guess, context, kubectl);
            EarlyDisks {
                listed_as: Some(guess),
                disks,
                record,
            }
        }
        Err(e) => EarlyDisks {
            listed_as: None,
            disks: Err(format!("{e:#}")),
            record: None,
        },
    }
}

impl EarlyDisks {
    /// Puts the disks (as `spec` sees them) and the record's managed fields into `obs`.
    fn complete(
        self,
        obs: &mut Observation,
        spec: &mut Spec,
        context: Option<&str>,
        kubectl: &Kubectl,
    ) {
        if let Some(record) = self.record {
            let same = |o: &serde_json::Value| {
                o["kind"] == "ConfigMap" && o["metadata"]["name"] == record["metadata"]["name"]
            };
            if let Some(stored) = obs.objects.iter_mut().find(|o| same(o)) {
                stored["metadata"]["managedFields"] = record["metadata"]["managedFields"].clone();
            }
        }
        obs.disks = Some(match self.listed_as {
            None => self.disks,
            Some(guess) => {
                spec.kube_id = guess.kube_id.clone();
                if guess.cloud == spec.cloud && guess.profile.name == spec.profile.name {
                    self.disks
                } else {
                    list_disks(spec, context, kubectl)
                }
            }
        });
    }
}

/// `esk status [-o table|json|yaml] [--wait [--timeout S]]`.
pub fn status(g: &Global, output: &str, wait: Option<Duration>, report: &Reporter) -> Result<()> {
    let format: Format = output.parse()?;
    let (base, kubectl, context) = open(g)?;
    let context = context.as_deref();
    let (health, stuck, found, spec) = std::thread::scope(|s| -> Result<_> {
        // Four things at once: the proxy starts, the disks are listed (the slow one), and
        // the two gets read the objects.
        let proxy = s.spawn(|| kubectl.proxy());
        let disks = s.spawn(|| early_disks(&base, context, &kubectl));
        let mut obs = observe::read_objects(&kubectl, &base)?;
        let mut spec = resolve(g, base.clone(), &obs)?;
        let proxy = join(proxy)?;
        let found = health::found(&spec, &obs);
        let (mut obs, stuck) = match wait {
            // A cluster that is not there is not waited for (a mistyped name would hang).
            Some(timeout) if found => {
                let waited = wait::poll(&kubectl, &proxy, &spec, timeout, report)?;
                (waited.observation, waited.stuck)
            }
            _ => {
                if found {
                    observe::read_gossip(&proxy, &spec, &mut obs);
                }
                (obs, None)
            }
        };
        drop(proxy);
        join(disks).complete(&mut obs, &mut spec, context, &kubectl);
        Ok((
            health::assess(&spec, &obs, clock::now()),
            stuck,
            found,
            spec,
        ))
    })?;
    let connection = found.then(|| Connection::of(&spec, DEFAULT_CA_FILE));
    let text = render(&health, connection.as_ref(), format)?;
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("writing the status")?;
    if health.verdict == health::Verdict::Healthy {
        return Ok(());
    }
    let message = stuck.unwrap_or_else(|| health.summary());
    Err(Unhealthy::new(health.exit_code, message).into())
}

/// The cluster's objects, its spec from the record, or exit 12 when there is no such cluster.
fn existing(g: &Global) -> Result<(Spec, Observation)> {
    let (base, kubectl, _) = open(g)?;
    let obs = observe::read_objects(&kubectl, &base)?;
    let spec = resolve(g, base, &obs)?;
    if !health::found(&spec, &obs) {
        return Err(not_found(&spec));
    }
    Ok((spec, obs))
}

/// `esk connection-string [--show-password] [--ca-file PATH]`.
pub fn connection_string(g: &Global, show_password: bool, ca_file: &str) -> Result<()> {
    if ca_file.is_empty() || ca_file.contains(['\n', '\r', '\0']) {
        return Err(UsageError::new("--ca-file must be a single-line path").into());
    }
    let (spec, obs) = existing(g)?;
    let password = if show_password && spec.security.tls {
        let name = secrets::credentials_secret(&spec);
        let secret = obs
            .objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name.as_str());
        let password = secret.and_then(|s| secrets::decode(&s["data"]).remove("admin-password"));
        Some(password.with_context(|| {
            format!(
                "no admin password in Secret {name} in namespace {}",
                spec.namespace
            )
        })?)
    } else {
        None
    };
    println!("{}", conn_string(&spec, password.as_deref(), ca_file));
    if spec.security.tls && !show_password {
        eprintln!(
            "note: without credentials; --show-password adds the admin password (Secret {}); \
             `esk ca-cert -o {ca_file}` writes the CA file",
            secrets::credentials_secret(&spec)
        );
    }
    Ok(())
}

/// `esk ca-cert [-o FILE]`: the public CA certificate clients trust (never its key).
pub fn ca_cert(g: &Global, output: Option<&Path>) -> Result<()> {
    let (spec, obs) = existing(g)?;
    if !spec.security.tls {
        return Err(UsageError::new(format!(
            "cluster {} runs without TLS: it has no CA",
            spec.name
        ))
        .into());
    }
    let name = secrets::ca_configmap(&spec);
    let pem = obs
        .objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name.as_str())
        .and_then(|cm| cm["data"]["ca.crt"].as_str())
        .with_context(|| {
            format!(
                "no ca.crt in ConfigMap {name} in namespace {}",
                spec.namespace
            )
        })?;
    if health::certificate_expiry(pem).is_none() {
        anyhow::bail!("ConfigMap {name} holds no PEM certificate in ca.crt");
    }
    match output {
        None => print!("{pem}"),
        Some(path) if path == Path::new("-") => print!("{pem}"),
        Some(path) => {
            std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote the CA certificate of cluster {} to {}",
                spec.name,
                path.display()
            );
        }
    }
    Ok(())
}

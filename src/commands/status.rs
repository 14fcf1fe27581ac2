//! `esk status [--wait]`: disks, claims, pods and each node's EventStore role, a verdict and
//! an exit code.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};

use super::existing::{open, resolve};
use crate::adapters;
use crate::adapters::kubectl::Kubectl;
use crate::cli::Global;
use crate::connection::{Connection, DEFAULT_CA_FILE};
use crate::domain::Disk;
use crate::error::Unhealthy;
use crate::health::output::{render, Format};
use crate::health::{self, clock, disk_use, observe, wait, Observation};
use crate::report::Reporter;
use crate::spec::Spec;

/// The cluster's disks through its disk adapter (errors kept as text: a status still shows),
/// in every zone the record names for a cluster spread over zones.
pub(super) fn list_disks(
    spec: &Spec,
    context: Option<&str>,
    kubectl: &Kubectl,
    zones: &[String],
) -> Result<Vec<Disk>, String> {
    adapters::connect(spec, context, kubectl)
        .and_then(|c| {
            if !zones.is_empty() {
                c.disks.place(&crate::domain::Placement {
                    zones: zones.to_vec(),
                    nodes: Default::default(),
                });
            }
            c.disks.list(&[])
        })
        .map_err(|e| format!("{e:#}"))
}

/// The zones a spread cluster's record names (its chosen zones and each node's), if any.
fn recorded_zones(record: Option<&serde_json::Value>) -> Vec<String> {
    let data = record.map(|r| &r["data"]);
    let mut zones: Vec<String> = Vec::new();
    let chosen = data.and_then(|d| d["zones"].as_str()).unwrap_or_default();
    let per_node = data
        .and_then(|d| d["nodeZones"].as_str())
        .unwrap_or_default();
    let each = per_node
        .split(',')
        .filter_map(|p| p.split_once('=').map(|(_, z)| z));
    for z in chosen.split(',').chain(each) {
        if !z.is_empty()
            && crate::spec::cloud_id("zone", z).is_ok()
            && !zones.iter().any(|x| x == z)
        {
            zones.push(z.to_string());
        }
    }
    zones
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
            let disks = list_disks(&guess, context, kubectl, &recorded_zones(record.as_ref()));
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
        let zones = recorded_zones(self.record.as_ref());
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
                    list_disks(spec, context, kubectl, &zones)
                }
            }
        });
    }
}

/// `esk status [-o table|json|yaml] [--wait [--timeout S]]`.
pub(super) fn run(g: &Global, output: &str, wait: Option<u64>, report: &Reporter) -> Result<()> {
    let wait = wait.map(Duration::from_secs);
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
                let mut waited = wait::poll(&kubectl, &proxy, &spec, timeout, report)?;
                let o = &mut waited.observation;
                o.disk_use = disk_use::read(&proxy, &spec, &o.objects);
                (waited.observation, waited.stuck)
            }
            _ => {
                if found {
                    // Gossip from the nodes and disk use from their kubelets, at once.
                    let objects = obs.objects.clone();
                    let used = std::thread::scope(|s| {
                        let used = s.spawn(|| disk_use::read(&proxy, &spec, &objects));
                        observe::read_gossip(&proxy, &spec, &mut obs);
                        join(used)
                    });
                    obs.disk_use = used;
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

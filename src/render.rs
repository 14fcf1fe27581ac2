//! Templates → manifests. Templates are data (`templates/*.j2`), embedded in the binary and
//! overridable file by file with `--templates DIR`. Every `{{ value }}` is JSON-escaped (the
//! auto-escape mode for all templates) with every non-ASCII character as a `\u` escape, so no
//! value can break out of its YAML scalar or be changed by YAML's line folding.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{AutoEscape, Environment, Value as JValue};
use serde::Deserialize;

use crate::domain::{DiskSource, LiveClaim};
use crate::error::UsageError;
use crate::manifest::{kind_rank, Manifest};
use crate::names::{
    client_dns, cluster_dns, labels, member_fqdn, pv_name, pvc_name, replica_service, selector,
};
use crate::spec::Spec;

mod safety;

use safety::{check_expression_lengths, contained, yaml_safe_formatter};

/// Embeds `templates/<name>` under its file name.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

const BUILT_IN: &[(&str, &str)] = templates!(
    "_helpers.j2",
    "_pod.j2",
    "headless-service.yaml.j2",
    "replica-service.yaml.j2",
    "client-service.yaml.j2",
    "frontend-configmap.yaml.j2",
    "frontend-deployment.yaml.j2",
    "frontend-service.yaml.j2",
    "pdb.yaml.j2",
    "storage-class.yaml.j2",
    "networkpolicy.yaml.j2",
    "node-pv.yaml.j2",
    "node-pvc.yaml.j2",
    "node-deployment.yaml.j2",
    "statefulset.yaml.j2",
);

/// One node's inputs to the per-node templates.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeDisk {
    pub index: u8,
    pub source: DiskSource,
    /// The node's claim as it is live, if it exists (its class and capacity are kept).
    pub claim: Option<LiveClaim>,
    /// The node's PersistentVolume's live capacity, if it exists: rendered as it is, since the
    /// resizer grows the cloud disk only while the volume holds less than its claim asks.
    pub volume_capacity: Option<String>,
}

pub struct Templates {
    env: Environment<'static>,
    names: Vec<String>,
    /// How errors name each template: its file for one from `--templates`, else its name.
    origins: BTreeMap<String, String>,
}

impl Templates {
    /// The built-in templates, with any `*.j2` file in `dir` replacing or adding to them.
    pub fn load(dir: Option<&Path>) -> Result<Templates, UsageError> {
        let mut sources: BTreeMap<String, String> = BUILT_IN
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        let mut origins: BTreeMap<String, String> =
            sources.keys().map(|n| (n.clone(), n.clone())).collect();
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                UsageError::new(format!("cannot read templates from {}: {e}", dir.display()))
            })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".j2") {
                    let path = entry.path().display().to_string();
                    let text = std::fs::read_to_string(entry.path()).map_err(|e| {
                        UsageError::new(format!("cannot read template {path}: {e}"))
                    })?;
                    sources.insert(name.clone(), text);
                    origins.insert(name, path);
                }
            }
        }
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Json);
        env.set_formatter(yaml_safe_formatter);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_trim_blocks(false);
        for (name, text) in &sources {
            let origin = origins.get(name).unwrap_or(name);
            check_expression_lengths(origin, text)?;
            contained(|| env.add_template_owned(name.clone(), text.clone()))
                .map_err(|panic| crashed(origin, &panic))?
                .map_err(|e| template_error(&e, &origins, None))?;
        }
        let names = sources
            .keys()
            .filter(|n| !n.starts_with('_'))
            .cloned()
            .collect();
        Ok(Templates {
            env,
            names,
            origins,
        })
    }

    /// Every manifest for `spec`, in apply order. `disks` holds one entry per node.
    pub fn render(&self, spec: &Spec, disks: &[NodeDisk]) -> Result<Vec<Manifest>, UsageError> {
        let mut env = self.env.clone();
        register_label_functions(&mut env, spec);
        let ctx = merge(&base_context(spec), "zone_spread", zone_spread(spec, disks));
        let failed =
            |node: Option<u8>| move |e: minijinja::Error| template_error(&e, &self.origins, node);
        let mut out = Vec::new();
        for name in &self.names {
            let origin = self.origins.get(name).unwrap_or(name);
            let template = env.get_template(name).map_err(failed(None))?;
            if name.starts_with("node-") {
                for disk in disks {
                    let node = node_context(spec, disk);
                    let ctx = merge(&ctx, "node", node);
                    let text = contained(|| template.render(ctx))
                        .map_err(|panic| crashed(origin, &panic))?
                        .map_err(failed(Some(disk.index)))?;
                    out.extend(parse_documents(origin, Some(disk.index), &text, spec)?);
                }
            } else {
                let text = contained(|| template.render(&ctx))
                    .map_err(|panic| crashed(origin, &panic))?
                    .map_err(failed(None))?;
                out.extend(parse_documents(origin, None, &text, spec)?);
            }
        }
        out.sort_by(|a, b| {
            (kind_rank(&a.object.kind), a.node(), &a.object.name).cmp(&(
                kind_rank(&b.object.kind),
                b.node(),
                &b.object.name,
            ))
        });
        Ok(out)
    }
}

/// One line naming the template file, the line and (for per-node templates) the node.
fn template_error(
    e: &minijinja::Error,
    origins: &BTreeMap<String, String>,
    node: Option<u8>,
) -> UsageError {
    // An error in an imported template comes wrapped ("could not render include"); the
    // innermost one says where it is.
    let mut e = e;
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(inner) = inner.downcast_ref::<minijinja::Error>() {
            if inner.name().is_some() {
                e = inner;
            }
        }
        source = inner.source();
    }
    let file = e
        .name()
        .map(|n| origins.get(n).map_or(n, String::as_str))
        .unwrap_or("?");
    let line = e.line().map(|l| format!(" line {l}")).unwrap_or_default();
    let node = node.map(|i| format!(" (node {i})")).unwrap_or_default();
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    UsageError::new(format!(
        "template {}{line}{node}: {}{detail}",
        shown(file),
        e.kind()
    ))
}

/// One line for a template that made minijinja panic (see `safety::contained`).
fn crashed(origin: &str, panic: &str) -> UsageError {
    UsageError::new(format!(
        "template {}: syntax error: the template engine cannot compile it ({}); check its \
         {{% %}} blocks",
        shown(origin),
        shown(panic)
    ))
}

/// A file name or value as an error message shows it: escaped onto one line, and cut short.
fn shown(s: &str) -> String {
    const MAX: usize = 100;
    let escaped = s.escape_debug().to_string();
    match escaped.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

/// The documents one template rendered. The rendered text has no file of its own, so a YAML
/// error names the template and quotes the line of its output (which may come from a template
/// it imports).
fn parse_documents(
    origin: &str,
    node: Option<u8>,
    text: &str,
    spec: &Spec,
) -> Result<Vec<Manifest>, UsageError> {
    let node = node.map(|i| format!(" (node {i})")).unwrap_or_default();
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| {
            let line = e.location().map(|l| crate::profile::line_at(text, l));
            let quoted = line
                .and_then(|l| text.lines().nth(l - 1))
                .map(|t| format!(" line {} (`{}`)", line.unwrap_or(0), shown(t.trim())))
                .unwrap_or_default();
            UsageError::new(format!(
                "template {}{node}: output{quoted} is not valid YAML: {}",
                shown(origin),
                crate::profile::without_position(&e.to_string())
            ))
        })?;
        if value.is_null() {
            continue;
        }
        let m = Manifest::from_value(origin, value, spec.namespace.as_str(), spec.name.as_str())
            .map_err(|e| UsageError::new(format!("template {}{node}: {e}", shown(origin))))?;
        out.push(m);
    }
    Ok(out)
}

fn base_context(spec: &Spec) -> JValue {
    let ports = if spec.generation() < 20 {
        vec![
            port("ext-http", 2113, false),
            port("ext-tcp", 1113, false),
            port("int-http", 2112, true),
            port("int-tcp", 1112, true),
        ]
    } else {
        vec![port("http", 2113, false), port("replication", 1112, true)]
    };
    minijinja::context! {
        cluster => minijinja::context! {
            name => spec.name.as_str(),
            namespace => spec.namespace.as_str(),
            size => spec.nodes.get(),
            replicas => spec.replicas,
            replica_service => replica_service(spec),
            dns => cluster_dns(spec),
            client_dns => client_dns(spec),
            cloud => spec.cloud.as_str(),
        },
        storage_class => minijinja::context! {
            name => crate::names::storage_class(spec),
            provisioner => spec.cloud.csi_driver().unwrap_or_default(),
        },
        profile => JValue::from_serialize(&spec.profile.values),
        ports => ports,
        http_scheme => if spec.security.tls { "https" } else { "http" },
        tls => spec.security.tls,
        tls_common_name => crate::tls::NODE_COMMON_NAME,
        ca_configmap => crate::names::ca_configmap(spec),
        credentials_secret => crate::names::credentials_secret(spec),
        anti_affinity => if spec.security.required_anti_affinity { "required" } else { "preferred" },
        workload => spec.workload.as_str(),
        public => spec.security.public,
        allow_cidrs => spec.security.allow_cidrs.clone(),
        node_secrets => spec.nodes.indices().map(|i| minijinja::context! {
            secret => crate::names::node_secret(spec, i),
            host => spec.node_name(i),
        }).collect::<Vec<_>>(),
    }
}

/// How the voting nodes' pods spread over zones, when their disks are in more than one:
/// `ScheduleAnyway`. On gke and aws each pod's zone is its disk's (the volume's node affinity
/// is the hard rule, and the disks are what esk spreads), so a hard spread could only ever
/// block a pod: a disk made before the spread, or a node that `node replace`/`node move` put
/// in another zone (3 nodes over 3 zones, node 3 moved to zone a: skew 2, and a
/// `DoNotSchedule` spread would leave it Pending, counting even a zone that is down, whose
/// Nodes' taints it ignores by default). None for a cluster in one zone: its pods stay as
/// they were. `--cloud dynamic` on a Kubernetes cluster over several zones: `DoNotSchedule`,
/// the pods choosing the zones and, with a `WaitForFirstConsumer` class, their volumes
/// following. (kubernetes pkg/scheduler/framework/plugins/podtopologyspread/filtering.go,
/// v1.32: the skew counts every zone the pod's node affinity allows.)
fn zone_spread(spec: &Spec, disks: &[NodeDisk]) -> JValue {
    if spec.cloud == crate::spec::Cloud::Dynamic {
        return if spec.location.kube_zones.len() > 1 {
            JValue::from("DoNotSchedule")
        } else {
            JValue::from(())
        };
    }
    if voting_per_zone(disks).len() < 2 {
        return JValue::from(());
    }
    JValue::from("ScheduleAnyway")
}

/// How many voting nodes' cloud disks each zone holds.
fn voting_per_zone(disks: &[NodeDisk]) -> BTreeMap<&str, usize> {
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    for d in disks
        .iter()
        .filter(|d| crate::spec::replica_of(d.index).is_none())
    {
        if d.source.kind == "csi" && !d.source.topology_value.is_empty() {
            *per_zone
                .entry(d.source.topology_value.as_str())
                .or_default() += 1;
        }
    }
    per_zone
}

/// A container port; `internal` ones are reachable only from the cluster's own nodes.
fn port(name: &str, port: u16, internal: bool) -> JValue {
    minijinja::context! { name => name, port => port, internal => internal }
}

fn node_context(spec: &Spec, disk: &NodeDisk) -> JValue {
    let i = disk.index;
    minijinja::context! {
        index => i,
        name => spec.node_name(i),
        fqdn => member_fqdn(spec, i),
        // Read-only replicas: labelled component `replica`, so the voting nodes' selectors
        // (PodDisruptionBudget, anti-affinity, Services, NetworkPolicy) never pick them.
        replica => crate::spec::replica_of(i).is_some(),
        component => if crate::spec::replica_of(i).is_some() { "replica" } else { "node" },
        pv => pv_name(spec, i),
        tls_secret => crate::names::node_secret(spec, i),
        // With dynamic provisioning the claim is the disk, named by the adapter.
        pvc => if disk.source.kind == "dynamic" { disk.source.handle.clone() } else { pvc_name(spec, i) },
        disk => JValue::from_serialize(&disk.source),
        storage_class => node_storage_class(spec, disk),
        // The live volume's, else the claim's (the volume is gone), else a new disk's size;
        // never the size asked for: a volume rendered with it would hold it already, and its
        // cloud disk would never grow (a claim re-made mid-migration binds it as it is).
        capacity => disk
            .volume_capacity
            .clone()
            .or_else(|| disk.claim.as_ref().and_then(|c| c.capacity.clone()))
            .unwrap_or_else(|| format!("{}Gi", spec.profile.u64("disk.sizeGb").unwrap_or_default())),
    }
}

/// The class of node i's PV and claim: esk's expanding class for a CSI disk, except where the
/// live claim has none (`""`, made by an earlier esk; the field cannot change); `""` on kind.
fn node_storage_class(spec: &Spec, disk: &NodeDisk) -> String {
    let legacy = disk
        .claim
        .as_ref()
        .is_some_and(|c| c.class.as_deref() == Some(""));
    if disk.source.kind == "csi" && !legacy {
        crate::names::storage_class(spec)
    } else {
        String::new()
    }
}

fn merge(base: &JValue, key: &str, value: JValue) -> JValue {
    let mut map: BTreeMap<String, JValue> = BTreeMap::new();
    if let Ok(iter) = base.try_iter() {
        for k in iter {
            if let Ok(v) = base.get_item(&k) {
                map.insert(k.to_string(), v);
            }
        }
    }
    map.insert(key.to_string(), value);
    JValue::from_serialize(&map)
}

fn register_label_functions(env: &mut Environment<'static>, spec: &Spec) {
    let s = spec.clone();
    env.add_function("labels", move |component: String, node: Option<u8>| {
        JValue::from_serialize(labels(&s, &component, node))
    });
    let s = spec.clone();
    env.add_function("selector", move |component: String, node: Option<u8>| {
        JValue::from_serialize(selector(&s, &component, node))
    });
}

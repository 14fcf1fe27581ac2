//! The probes behind `esk doctor`, all read-only and run at once: kubectl (version, access
//! reviews, nodes and CSI drivers, the cluster record, StorageClasses) beside the cloud CLI
//! (version, location, credentials). Each finding goes through the pure `kube`, `placement` and `cloud` judgements.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::placement::{self, Spreading};
use super::{cloud, kube};
use super::{questions, Check, Report};
use crate::adapters::kubectl::{first_line, ClusterNodes, Kubectl, Versions};
use crate::adapters::process::{args, Tool};
use crate::adapters::{aws, gcloud, probe};
use crate::names::record_name;
use crate::record::Record;
use crate::spec::{cloud_id, Cloud, NodeCount, Spec};

/// EventStore nodes assumed when neither the command line nor the record says.
pub const DEFAULT_NODES: u8 = 3;

/// What the Kubernetes side found (`None`: not reached).
struct ClusterFacts {
    versions: Result<Versions, String>,
    access: Option<Result<Vec<bool>, String>>,
    nodes: Option<Result<ClusterNodes, String>>,
    record: Option<Record>,
    classes: Option<Result<Value, String>>,
}

/// Where doctor looks: the cluster as the flags name it, the kube context's client (none when
/// kubectl cannot even start), and where the cloud came from (for the report's first line).
pub struct Target {
    pub spec: Spec,
    pub kubectl: Option<Kubectl>,
    pub context: Option<String>,
    /// "--cloud", "the context name" or "the profile".
    pub cloud_source: &'static str,
}

/// Runs every check for `target`; `nodes` is the EventStore node count to check spreading
/// for (default: the recorded one, else 3).
pub fn run(target: Target, nodes: Option<NodeCount>) -> Result<Report> {
    let Target {
        spec,
        kubectl,
        context,
        cloud_source: source,
    } = target;
    let context_shown = context.clone().unwrap_or_else(|| "(none)".into());

    let (facts, cloud_checks, zone) = std::thread::scope(|s| {
        let facts = s.spawn(|| kubectl.as_ref().map(|k| cluster_facts(k, &spec)));
        let (cloud_checks, zone) = cloud_side(&spec, context.as_deref());
        (join(facts), cloud_checks, zone)
    });

    let mut checks = Vec::new();
    let client = facts
        .as_ref()
        .and_then(|f| f.versions.as_ref().ok())
        .map(|v| &v.client);
    checks.push(match (&facts, client) {
        (
            Some(ClusterFacts {
                versions: Err(e), ..
            }),
            _,
        ) => Check::fail("kubectl", e.clone(), "reinstall kubectl"),
        (_, client) => kube::kubectl(client),
    });
    checks.extend(cluster_checks(
        &spec,
        facts.as_ref(),
        &context_shown,
        zone.as_deref(),
        nodes,
    ));
    checks.extend(cloud_checks);
    Ok(Report {
        target: format!(
            "cluster {} in namespace {}, cloud {} (from {source}), context {context_shown}",
            spec.name, spec.namespace, spec.cloud
        ),
        checks,
    })
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// A failed probe as one line: the command and what it printed.
fn text<T>(r: Result<T>) -> Result<T, String> {
    r.map_err(|e| {
        let all = format!("{e:#}");
        let joined: Vec<&str> = all
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        joined.join(" ").chars().take(400).collect()
    })
}

/// kubectl's version first (it says whether the API answers), then everything else at once.
fn cluster_facts(kubectl: &Kubectl, spec: &Spec) -> ClusterFacts {
    let versions = text(kubectl.versions());
    let mut facts = ClusterFacts {
        versions,
        access: None,
        nodes: None,
        record: None,
        classes: None,
    };
    if !matches!(&facts.versions, Ok(v) if v.server.is_ok()) {
        return facts;
    }
    let zonal = matches!(spec.cloud, Cloud::Gke | Cloud::Aws);
    let asked = questions(spec.cloud, spec.namespace.as_str());
    std::thread::scope(|s| {
        let access = s.spawn(|| text(kubectl.can_i(&asked)));
        let nodes = s.spawn(|| text(kubectl.cluster_nodes(zonal)));
        let classes = (spec.cloud == Cloud::Dynamic)
            .then(|| s.spawn(|| text(kubectl.get_json(&args(["storageclasses.storage.k8s.io"])))));
        let record = kubectl
            .get_json(&[
                "configmap".to_string(),
                record_name(spec),
                "--ignore-not-found".to_string(),
            ])
            .ok()
            .and_then(|cm| {
                let data: BTreeMap<String, String> =
                    serde_json::from_value(cm["data"].clone()).ok()?;
                Record::from_data(&data)
            });
        facts.access = Some(join(access));
        facts.nodes = Some(join(nodes));
        facts.classes = classes.map(join);
        facts.record = record;
    });
    facts
}

/// The Kubernetes API, permissions, nodes, spreading and storage checks.
fn cluster_checks(
    spec: &Spec,
    facts: Option<&ClusterFacts>,
    context: &str,
    zone: Option<&str>,
    nodes_arg: Option<NodeCount>,
) -> Vec<Check> {
    let mut names = vec!["Kubernetes API", "permissions", "nodes", "spreading"];
    names.push(match spec.cloud {
        Cloud::Gke | Cloud::Aws => "CSI driver",
        Cloud::Dynamic => "StorageClass",
        Cloud::Kind => "",
    });
    names.retain(|n| !n.is_empty());
    let skip_all = |from: usize, why: &str| -> Vec<Check> {
        names[from..].iter().map(|n| Check::skip(n, why)).collect()
    };
    let Some(facts) = facts else {
        return skip_all(0, "needs kubectl");
    };
    let server = match &facts.versions {
        Ok(v) => &v.server,
        Err(_) => return skip_all(0, "needs kubectl"),
    };
    let mut checks = vec![kube::server(server, context)];
    if server.is_err() {
        checks.extend(skip_all(1, "needs the Kubernetes API"));
        return checks;
    }
    let asked = questions(spec.cloud, spec.namespace.as_str());
    checks.push(match &facts.access {
        Some(Ok(answers)) => {
            let pairs: Vec<_> = asked.into_iter().zip(answers.iter().copied()).collect();
            kube::permissions(&pairs, spec.namespace.as_str())
        }
        Some(Err(e)) => Check::fail("permissions", format!("access reviews failed: {e}"), ""),
        None => Check::skip("permissions", "needs the Kubernetes API"),
    });
    let cluster = match &facts.nodes {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            checks.push(Check::fail(
                "nodes",
                format!("could not list nodes: {e}"),
                "ask for `list nodes` cluster-wide",
            ));
            checks.extend(skip_all(3, "needs the node list"));
            return checks;
        }
        None => return [checks, skip_all(2, "needs the Kubernetes API")].concat(),
    };
    let zones = placement::chosen_zones(spec, facts.record.as_ref(), zone, &cluster.nodes);
    if zones.len() > 1 {
        // Spread over zones: every chosen zone must be able to run its share of the nodes.
        checks.push(placement::nodes_in_zones(
            spec.cloud,
            &zones,
            &cluster.nodes,
        ));
        let wanted = nodes_arg
            .map(NodeCount::get)
            .or(facts.record.as_ref().map(|r| r.nodes))
            .unwrap_or(DEFAULT_NODES);
        checks.push(placement::spreading_over_zones(
            &spreading_mode(spec, facts.record.as_ref()),
            spec.cloud,
            &zones,
            wanted,
            &cluster.nodes,
        ));
    } else {
        checks.push(placement::nodes(spec.cloud, zone, &cluster.nodes));
        checks.push(spreading(
            spec,
            facts.record.as_ref(),
            zone,
            nodes_arg,
            cluster,
        ));
    }
    match spec.cloud {
        Cloud::Gke | Cloud::Aws => {
            checks.extend(placement::csi_driver(spec.cloud, &cluster.csi_drivers));
        }
        Cloud::Dynamic => {
            let wanted = spec.profile.str("disk.storageClass").unwrap_or_default();
            checks.push(match &facts.classes {
                Some(Ok(classes)) => placement::storage_class(classes, &wanted),
                Some(Err(e)) => Check::fail(
                    "StorageClass",
                    format!("could not list StorageClasses: {e}"),
                    "ask for `list storageclasses.storage.k8s.io`",
                ),
                None => Check::skip("StorageClass", "not listed"),
            });
        }
        Cloud::Kind => {}
    }
    checks
}

/// The anti-affinity mode set (else recorded, else auto).
fn spreading_mode(spec: &Spec, record: Option<&Record>) -> Spreading {
    let setting = spec.profile.str("node.antiAffinity").unwrap_or_default();
    match (setting.as_str(), record.map(|r| r.anti_affinity.as_str())) {
        ("required", _) => Spreading::Required("node.antiAffinity=required".into()),
        ("preferred", _) => Spreading::Preferred,
        (_, Some("required")) => Spreading::Required("as the cluster was made".into()),
        (_, Some("preferred")) => Spreading::Preferred,
        _ => Spreading::Auto,
    }
}

/// Spreading for the node count asked (else recorded, else 3), in the mode set (else
/// recorded, else auto), over the nodes pods can use.
fn spreading(
    spec: &Spec,
    record: Option<&Record>,
    zone: Option<&str>,
    nodes_arg: Option<NodeCount>,
    cluster: &ClusterNodes,
) -> Check {
    let wanted = nodes_arg
        .map(NodeCount::get)
        .or(record.map(|r| r.nodes))
        .unwrap_or(DEFAULT_NODES);
    let mode = spreading_mode(spec, record);
    let zonal = placement::topology_key(spec.cloud).is_some();
    let (available, scope) = match zone {
        Some(z) if zonal => match placement::schedulable_nodes(spec.cloud, z, &cluster.nodes) {
            0 => return Check::skip("spreading", format!("no Kubernetes node in {z}")),
            n => (n, format!(" in {z}")),
        },
        None if zonal => return Check::skip("spreading", "the disks' zone is not known"),
        _ => (cluster.nodes.len(), String::new()),
    };
    placement::spreading(&mode, wanted, available, &scope)
}

/// The zones whose existence the cloud checks read: `--zones` when given, else the one.
fn zones_to_check(spec: &Spec, zone: &str) -> Vec<String> {
    if spec.location.zones.len() > 1 {
        spec.location.zones.clone()
    } else {
        vec![zone.to_string()]
    }
}

/// The cloud CLI's checks and the zone the disks go to (`None` when unknown or not zonal).
fn cloud_side(spec: &Spec, context: Option<&str>) -> (Vec<Check>, Option<String>) {
    match spec.cloud {
        Cloud::Gke => gcloud_side(spec, context),
        Cloud::Aws => aws_side(spec, context),
        Cloud::Kind | Cloud::Dynamic => (Vec::new(), None),
    }
}

fn gcloud_side(spec: &Spec, context: Option<&str>) -> (Vec<Check>, Option<String>) {
    const INSTALL: &str = "the Google Cloud CLI, https://cloud.google.com/sdk";
    let Some(tool) = probe::find("gcloud") else {
        return (
            vec![
                cloud::tool_version("gcloud", None, INSTALL),
                Check::skip("gcloud location", "needs gcloud"),
                Check::skip("gcloud credentials", "needs gcloud"),
            ],
            gcloud::location_without_io(spec, context).1,
        );
    };
    let valid = |what: &str, v: Option<String>| v.map(|v| cloud_id(what, &v)).transpose();
    let (offline_project, offline_zone) = gcloud::location_without_io(spec, context);
    // Usually the context names project and zone: read the zone while gcloud's config is
    // read too (each gcloud process costs about a second).
    let early = match (
        valid("project", offline_project.clone()),
        valid("zone", offline_zone.clone()),
    ) {
        (Ok(Some(p)), Ok(Some(z))) => Some((p, z)),
        _ => None,
    };
    let (version, config, early_read) = std::thread::scope(|s| {
        let version = s.spawn(|| probe::gcloud_version(&tool));
        let read = early
            .as_ref()
            .map(|(p, z)| s.spawn(|| probe::gcloud_read_zone(&tool, p, z)));
        let config = text(probe::gcloud_config(&tool));
        (join(version), config, read.map(join))
    });
    let version_check = cloud::tool_version(
        "gcloud",
        Some(version.as_deref().map_err(String::as_str)),
        INSTALL,
    );
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            let fail = Check::fail("gcloud location", format!("gcloud config list: {e}"), "");
            return (
                vec![
                    version_check,
                    fail,
                    Check::skip("gcloud credentials", "needs gcloud"),
                ],
                None,
            );
        }
    };
    let project =
        offline_project.or_else(|| config["core"]["project"].as_str().map(str::to_string));
    let zone = offline_zone.or_else(|| config["compute"]["zone"].as_str().map(str::to_string));
    let (project, zone) = match (valid("project", project), valid("zone", zone)) {
        (Ok(Some(p)), Ok(Some(z))) => (p, z),
        (Err(e), _) | (_, Err(e)) => {
            let fail = Check::fail("gcloud location", e.to_string(), "fix the gcloud config");
            return (vec![version_check, fail], None);
        }
        _ => {
            let fail = Check::fail(
                "gcloud location",
                "no project or zone",
                "pass --project and --zone, or `gcloud config set project P` and \
                 `gcloud config set compute/zone Z`",
            );
            return (
                vec![
                    version_check,
                    fail,
                    Check::skip("gcloud credentials", "needs a zone"),
                ],
                None,
            );
        }
    };
    let location = Check::pass("gcloud location", format!("project {project}, zone {zone}"));
    let identity = cloud::gcloud_identity(&config);
    let read = identity.as_ref().map(|_| match early_read {
        Some(read) => read,
        None => probe::gcloud_read_zone(&tool, &project, &zone),
    });
    let mut access = cloud::gcloud_access(identity.as_deref(), read.as_ref(), &project, &zone);
    // --zones: every other zone must be readable too (each read is one gcloud process).
    let others: Vec<String> = zones_to_check(spec, &zone)
        .into_iter()
        .filter(|z| *z != zone)
        .collect();
    if identity.is_some() && !others.is_empty() {
        let reads = crate::parallel::parallel_map(&others, others.len(), |z| {
            probe::gcloud_read_zone(&tool, &project, z)
        });
        let mut each = vec![access];
        for (z, r) in others.iter().zip(reads) {
            each.push(cloud::gcloud_access(
                identity.as_deref(),
                Some(&r),
                &project,
                z,
            ));
        }
        access = cloud::all_zones("gcloud credentials", each);
    }
    (vec![version_check, location, access], Some(zone))
}

fn aws_side(spec: &Spec, context: Option<&str>) -> (Vec<Check>, Option<String>) {
    const INSTALL: &str = "the AWS CLI, https://aws.amazon.com/cli/";
    let tool: Option<Tool> = probe::find("aws");
    let located = aws::Aws::offline(spec, context);
    let place = located.as_ref().ok().map(|a| (a.region(), a.zone()));
    // Version, zone and identity at once: each aws process costs about half a second.
    let (version, found) = std::thread::scope(|s| {
        let version = tool.as_ref().map(|t| s.spawn(|| probe::aws_version(t)));
        let found = match (&tool, place) {
            (Some(t), Some((region, zone))) => {
                let wanted = zones_to_check(spec, zone);
                let zones = s.spawn(move || probe::aws_zones(t, region, &wanted));
                Some((join(zones), probe::aws_identity(t, region)))
            }
            _ => None,
        };
        (version.map(join), found)
    });
    let mut checks = vec![cloud::tool_version(
        "aws",
        version
            .as_ref()
            .map(|v| v.as_deref().map_err(String::as_str)),
        INSTALL,
    )];
    let (region, zone) = match &located {
        Ok(a) => (a.region(), a.zone()),
        Err(e) => {
            checks.push(Check::fail(
                "AWS zone",
                first_line(&e.to_string()),
                "pass --region (or set AWS_REGION) and --zone",
            ));
            checks.push(Check::skip("AWS credentials", "needs a region"));
            return (checks, None);
        }
    };
    let Some((zones, identity)) = found else {
        checks.push(Check::skip("AWS zone", "needs aws"));
        checks.push(Check::skip("AWS credentials", "needs aws"));
        return (checks, Some(zone.to_string()));
    };
    let each: Vec<Check> = zones_to_check(spec, zone)
        .iter()
        .map(|z| cloud::aws_zone(&zones, region, z))
        .collect();
    checks.push(cloud::all_zones("AWS zone", each));
    checks.push(cloud::aws_credentials(&identity));
    (checks, Some(zone.to_string()))
}

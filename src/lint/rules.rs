//! The rules about one node (its disk, resources, image, mode) and about single objects
//! (volumes, storage classes, load balancers, API versions). Cluster-wide rules are in
//! `cluster`, NetworkPolicy reachability in `netpol`.

use serde_yaml::Value;

use super::inventory::Inventory;
use super::model::{at, pod_of, same_namespace, seq, service_selects, text, Item};
use super::node::{config_value, csi_of, image_ref, shared_fs, Data, Node, Workload, IN_TREE};
use super::quantity::{self, GI};
use super::Finding;

/// Every rule over the inventory.
pub fn run(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in &inv.nodes {
        let mut push = |rule, message| {
            out.push(Finding::new(
                rule,
                &node.item.object,
                node.item.file,
                message,
            ));
        };
        storage(inv, node, &mut push);
        resources(node, &mut push);
        image(node, &mut push);
        if node
            .setting("INSECURE")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            push(
                "ES020",
                "INSECURE=true: no TLS between nodes or to clients, and no authentication".into(),
            );
        }
    }
    for node in &inv.nodes {
        // ES025 on the claim: that is what to change.
        if let Data::Claim(name) = node.data() {
            if let Some(claim) = inv.claim(node, &name) {
                if let Some(m) = bound_volume(inv, claim).and_then(|v| claim_fits(claim, v)) {
                    out.push(Finding::new("ES025", &claim.object, claim.file, m));
                }
            }
        }
        for (message, fix) in in_tree_volumes(node) {
            out.push(
                Finding::new("ES022", &node.item.object, node.item.file, message).with_fix(fix),
            );
        }
    }
    super::cluster::check(inv, &mut out);
    super::netpol::check(inv, &mut out);
    for item in &inv.items {
        if let Some((message, fix)) = removed_api(item) {
            out.push(Finding::new("ES021", &item.object, item.file, message).with_fix(fix));
        }
        if item.kind() == "PersistentVolume" {
            if let Some((message, fix)) = in_tree_pv(item) {
                out.push(Finding::new("ES022", &item.object, item.file, message).with_fix(fix));
            }
        }
        let mut push = |rule, message| {
            out.push(Finding::new(rule, &item.object, item.file, message));
        };
        match item.kind() {
            "PersistentVolume" => persistent_volume(item, &mut push),
            "StorageClass" => storage_class(item, &mut push),
            "Service" => {
                if leads_to_server(inv, item) {
                    load_balancer(item, &mut push);
                }
                service_links(inv, item, &mut push);
            }
            _ => {}
        }
        default_credentials(item, &mut push);
    }
    out
}

type Push<'p> = dyn FnMut(&'static str, String) + 'p;

/// A claim spec's access modes and size: ES001 and ES003. True when it is ReadWriteMany or
/// ReadOnlyMany.
fn claim_spec(spec: Option<&Value>, what: &str, push: &mut Push) -> bool {
    claim_spec_on(spec, what, None, push)
}

/// [`claim_spec`], the size being the bound volume's capacity when the input has the volume
/// (a claim may ask for less than its volume has; the database gets the whole volume).
fn claim_spec_on(spec: Option<&Value>, what: &str, volume: Option<&Item>, push: &mut Push) -> bool {
    let modes: Vec<String> = seq(spec.and_then(|s| s.get("accessModes")))
        .iter()
        .filter_map(|m| text(Some(m)))
        .collect();
    let shared = modes
        .iter()
        .any(|m| m == "ReadWriteMany" || m == "ReadOnlyMany");
    if shared {
        push(
            "ES001",
            format!(
                "the database is on {what} with access modes {}: several pods can mount it at once",
                modes.join(", ")
            ),
        );
    }
    let capacity = volume.and_then(|v| v.at(&["spec", "capacity", "storage"]));
    let (size, what) = match (capacity, volume) {
        (Some(c), Some(v)) => (Some(c), format!("{what} (volume {})", v.object.name)),
        _ => (
            spec.and_then(|s| at(s, &["resources", "requests", "storage"])),
            what.to_string(),
        ),
    };
    if let Some(bytes) = size.and_then(quantity::parse) {
        if bytes < 10.0 * GI {
            let shown = text(size).unwrap_or_default();
            push(
                "ES003",
                format!("the database is on {what} of only {shown}"),
            );
        }
    }
    shared
}

/// The PersistentVolume in the input a claim binds to: the one it names (`volumeName`), else
/// one whose `claimRef` names the claim.
fn bound_volume<'i, 'a>(inv: &'i Inventory<'a>, claim: &Item) -> Option<&'i Item<'a>> {
    let pvs = || inv.of_kind("PersistentVolume");
    if let Some(name) = text(claim.at(&["spec", "volumeName"])) {
        return pvs().find(|pv| pv.object.name == name);
    }
    pvs().find(|pv| {
        text(pv.at(&["spec", "claimRef", "name"])).as_deref() == Some(claim.object.name.as_str())
            && same_namespace(
                text(pv.at(&["spec", "claimRef", "namespace"])).as_deref(),
                claim.namespace(),
            )
    })
}

/// ES025: a claim asking for more than its volume has stays Pending.
fn claim_fits(claim: &Item, volume: &Item) -> Option<String> {
    let asked = claim.at(&["spec", "resources", "requests", "storage"]);
    let has = volume.at(&["spec", "capacity", "storage"]);
    let (a, h) = (quantity::parse(asked?)?, quantity::parse(has?)?);
    (a > h).then(|| {
        format!(
            "requests {} but volume {} has {}: the claim never binds and the node never starts",
            text(asked).unwrap_or_default(),
            volume.object.name,
            text(has).unwrap_or_default()
        )
    })
}

/// ES001, ES002, ES003 and ES014: where the database lives.
fn storage(inv: &Inventory, node: &Node, push: &mut Push) {
    let data = node.data();
    let mut shared = false;
    let mut file_system = match &data {
        Data::Shared(kind) => Some(*kind),
        _ => None,
    };
    match &data {
        Data::Ephemeral(what) => push(
            "ES002",
            format!("the database is on {what}: it is lost (or stranded on one machine) when the pod moves"),
        ),
        Data::Claim(name) => {
            if let Some(claim) = inv.claim(node, name) {
                let volume = bound_volume(inv, claim);
                let fits = volume.and_then(|v| claim_fits(claim, v));
                // A claim that does not fit gets no volume: its size says nothing.
                let sized = volume.filter(|_| fits.is_none());
                shared = claim_spec_on(claim.at(&["spec"]), &format!("claim {name}"), sized, push);
                file_system = volume.and_then(|v| v.at(&["spec"])).and_then(shared_fs);
            }
        }
        Data::ClaimTemplate(t) => {
            let name = text(at(t, &["metadata", "name"])).unwrap_or_default();
            claim_spec(t.get("spec"), &format!("volumeClaimTemplate {name}"), push);
        }
        Data::InTree(_) | Data::Shared(_) | Data::Other => {}
    }
    let one_disk = match (&data, file_system) {
        (Data::Claim(name), Some(fs)) => Some(format!("claim {name} (a shared {fs} file system)")),
        (_, Some(fs)) => Some(format!("one shared {fs} file system")),
        (Data::Claim(name), None) if !shared => Some(format!("claim {name}")),
        (Data::InTree(kind), None) => Some(format!("one {kind}")),
        _ => None,
    };
    let Some(disk) = one_disk else {
        return;
    };
    let message = match node.workload {
        Workload::Deployment | Workload::StatefulSet | Workload::Controller
            if node.replicas > 1 =>
        {
            Some(format!(
            "{} replicas run on {disk}: two servers on one database",
            node.replicas
            ))
        }
        Workload::Deployment if rolls(node.item.value) => Some(format!(
            "strategy RollingUpdate (the default when unset) starts the new pod before the old one stops, both on {disk}"
        )),
        _ => None,
    };
    if let Some(m) = message {
        push("ES014", m);
    }
}

/// Whether a Deployment's update runs an old and a new pod at once (the default
/// RollingUpdate, unless maxSurge is 0).
fn rolls(deployment: &Value) -> bool {
    let strategy = at(deployment, &["spec", "strategy"]);
    let kind = text(strategy.and_then(|s| s.get("type")));
    if kind.as_deref().is_some_and(|k| k != "RollingUpdate") {
        return false;
    }
    let surge = text(strategy.and_then(|s| at(s, &["rollingUpdate", "maxSurge"])));
    !matches!(surge.as_deref(), Some("0" | "0%"))
}

/// ES022's message and fix for an in-tree volume: current Kubernetes still accepts it but
/// hands it to the CSI driver (CSI migration), which must be installed.
fn in_tree(what: &str, kind: &str) -> (String, String) {
    let (driver, handle) = csi_of(kind);
    (
        format!(
            "{what} is an in-tree {kind}: current Kubernetes serves it only by migrating it to the CSI driver {driver}"
        ),
        format!(
            "use a PersistentVolume with csi: {{driver: {driver}, volumeHandle: {handle}}} and a claim bound to it"
        ),
    )
}

/// ES022 on a node's pod volumes.
fn in_tree_volumes(node: &Node) -> Vec<(String, String)> {
    seq(node.pod.get("volumes"))
        .iter()
        .filter_map(|v| {
            let kind = IN_TREE.iter().find(|k| v.get(**k).is_some())?;
            let name = text(v.get("name")).unwrap_or_default();
            Some(in_tree(&format!("volume {name}"), kind))
        })
        .collect()
}

/// ES022 on a PersistentVolume.
fn in_tree_pv(pv: &Item) -> Option<(String, String)> {
    let kind = IN_TREE.iter().find(|k| pv.at(&["spec", k]).is_some())?;
    Some(in_tree("the volume", kind))
}

/// ES006: requests (a limit alone is also the request, as Kubernetes defaults it).
fn resources(node: &Node, push: &mut Push) {
    let r = node.container.get("resources");
    let get = |key: &str| {
        at(r.unwrap_or(&Value::Null), &["requests", key])
            .or_else(|| at(r.unwrap_or(&Value::Null), &["limits", key]))
    };
    let mut low = Vec::new();
    for (key, floor, shown_floor) in [("cpu", 0.5, "500m"), ("memory", GI, "1Gi")] {
        let value = get(key);
        match value.and_then(quantity::parse) {
            Some(q) if q >= floor => {}
            Some(_) => low.push(format!(
                "{key} {} (< {shown_floor})",
                text(value).unwrap_or_default()
            )),
            None => low.push(format!("no {key} request")),
        }
    }
    if !low.is_empty() {
        push(
            "ES006",
            format!("the server container has {}", low.join(", ")),
        );
    }
}

/// ES015.
fn image(node: &Node, push: &mut Push) {
    let Some(image) = text(node.container.get("image")) else {
        return;
    };
    let r = image_ref(&image);
    if r.digest {
        return;
    }
    match r.tag.as_deref() {
        None => push(
            "ES015",
            format!("image {image} has no tag: any version may start"),
        ),
        Some("latest") => push(
            "ES015",
            format!("image {image} follows :latest: any version may start"),
        ),
        Some(_) => {}
    }
}

/// Group versions Kubernetes no longer serves, and the release that removed the last kind.
const REMOVED_APIS: &[(&str, &str)] = &[
    ("extensions/v1beta1", "1.22"),
    ("apps/v1beta1", "1.16"),
    ("apps/v1beta2", "1.16"),
    ("policy/v1beta1", "1.25"),
    ("networking.k8s.io/v1beta1", "1.22"),
    ("batch/v1beta1", "1.25"),
    ("rbac.authorization.k8s.io/v1beta1", "1.22"),
    ("storage.k8s.io/v1beta1", "1.27"),
    ("autoscaling/v2beta1", "1.25"),
    ("autoscaling/v2beta2", "1.26"),
    ("discovery.k8s.io/v1beta1", "1.25"),
    ("scheduling.k8s.io/v1beta1", "1.22"),
    ("events.k8s.io/v1beta1", "1.25"),
    ("node.k8s.io/v1beta1", "1.25"),
];

/// Where each kind of a removed group version lives now; `None`: removed with no successor.
fn current_version(kind: &str) -> Option<Option<&'static str>> {
    Some(Some(match kind {
        "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet" | "ControllerRevision" => {
            "apps/v1"
        }
        "Ingress" | "IngressClass" | "NetworkPolicy" => "networking.k8s.io/v1",
        "PodDisruptionBudget" => "policy/v1",
        "CronJob" => "batch/v1",
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment" | "CSIStorageCapacity" => {
            "storage.k8s.io/v1"
        }
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
            "rbac.authorization.k8s.io/v1"
        }
        "EndpointSlice" => "discovery.k8s.io/v1",
        "PriorityClass" => "scheduling.k8s.io/v1",
        "Event" => "events.k8s.io/v1",
        "RuntimeClass" => "node.k8s.io/v1",
        "PodSecurityPolicy" => return Some(None),
        _ => return None,
    }))
}

/// ES021, on any kind: the API version decides; the fix names the kind's current version.
fn removed_api(item: &Item) -> Option<(String, String)> {
    let version = text(item.at(&["apiVersion"])).unwrap_or_default();
    let (_, release) = REMOVED_APIS.iter().find(|(v, _)| *v == version)?;
    let kind = item.kind();
    let message =
        format!("apiVersion {version} is no longer served (removed in Kubernetes {release})");
    let fix = match current_version(kind) {
        Some(Some(current)) => format!("use apiVersion: {current} for {kind}"),
        Some(None) => format!(
            "remove the {kind}: it was removed in Kubernetes 1.25 with no successor (use Pod Security Admission labels on the namespace)"
        ),
        None => format!(
            "use the current version of {kind} (`kubectl api-resources` lists what the cluster serves)"
        ),
    };
    Some((message, fix))
}

/// ES012 on a PersistentVolume. An unset reclaim policy is Retain for a volume created by
/// hand, so only an explicit Delete or Recycle is reported.
fn persistent_volume(pv: &Item, push: &mut Push) {
    let policy = text(pv.at(&["spec", "persistentVolumeReclaimPolicy"]));
    if let Some(p) = policy.filter(|p| p == "Delete" || p == "Recycle") {
        push(
            "ES012",
            format!("persistentVolumeReclaimPolicy {p}: deleting the claim destroys the data"),
        );
    }
}

/// ES013: a StorageClass's reclaimPolicy defaults to Delete.
fn storage_class(sc: &Item, push: &mut Push) {
    let policy = text(sc.at(&["reclaimPolicy"]));
    if policy.as_deref().is_none_or(|p| p == "Delete") {
        let shown = policy.unwrap_or_else(|| "unset (Delete)".into());
        push(
            "ES013",
            format!("reclaimPolicy {shown}: a volume it provisions dies with its claim"),
        );
    }
}

/// Annotations that keep a cloud load balancer off the internet.
const INTERNAL_LB: &[(&str, &str)] = &[
    ("networking.gke.io/load-balancer-type", "internal"),
    ("cloud.google.com/load-balancer-type", "internal"),
    (
        "service.beta.kubernetes.io/aws-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/aws-load-balancer-scheme",
        "internal",
    ),
    (
        "service.beta.kubernetes.io/azure-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/oci-load-balancer-internal",
        "true",
    ),
];

/// ES019 and ES023.
fn load_balancer(svc: &Item, push: &mut Push) {
    if text(svc.at(&["spec", "type"])).as_deref() != Some("LoadBalancer") {
        return;
    }
    let annotation = |key: &str| text(svc.at(&["metadata", "annotations", key]));
    let internal = INTERNAL_LB
        .iter()
        .any(|(k, v)| annotation(k).is_some_and(|a| a.eq_ignore_ascii_case(v)));
    if internal {
        return;
    }
    let mut ranges: Vec<String> = seq(svc.at(&["spec", "loadBalancerSourceRanges"]))
        .iter()
        .filter_map(|r| text(Some(r)))
        .collect();
    if let Some(a) = annotation("service.beta.kubernetes.io/load-balancer-source-ranges") {
        ranges.extend(
            a.split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty()),
        );
    }
    if ranges.is_empty() {
        push(
            "ES019",
            "a public LoadBalancer with no loadBalancerSourceRanges: anyone can connect".into(),
        );
    } else if let Some(open) = ranges.iter().find(|r| *r == "0.0.0.0/0" || *r == "::/0") {
        push(
            "ES023",
            format!("a public LoadBalancer open to {open}: anyone can connect"),
        );
    }
}

/// Whether a word of the text (a config file, a connection string) names Service `name`:
/// `name` alone or followed by `.` (its DNS name) or `:` (a port).
fn mentions(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        before.is_none_or(|c| !word(c)) && after.is_none_or(|c| !word(c) || c == '.')
    })
}

/// What a proxy's configuration says to forward: nginx `upstream`/`proxy_pass`/`grpc_pass`,
/// HAProxy `backend`, Envoy `socket_address`, Traefik/Caddy `reverse_proxy`.
const PROXY_WORDS: &[&str] = &[
    "upstream",
    "proxy_pass",
    "grpc_pass",
    "backend",
    "socket_address",
    "reverse_proxy",
];

/// Whether a Service leads to the servers: it selects server pods, or it selects a proxy
/// whose mounted ConfigMap is a proxy configuration naming a Service that does.
fn leads_to_server(inv: &Inventory, svc: &Item) -> bool {
    let selects_nodes = |s: &Item| {
        inv.nodes.iter().any(|n| {
            same_namespace(s.namespace(), n.item.namespace())
                && service_selects(s.at(&["spec", "selector"]), &n.labels)
        })
    };
    if selects_nodes(svc) {
        return true;
    }
    let node_services: Vec<&Item> = inv
        .of_kind("Service")
        .filter(|s| selects_nodes(s))
        .collect();
    if node_services.is_empty() {
        return false;
    }
    inv.items.iter().any(|item| {
        let Some((labels, pod)) = pod_of(item) else {
            return false;
        };
        if !same_namespace(svc.namespace(), item.namespace())
            || !service_selects(svc.at(&["spec", "selector"]), &labels)
        {
            return false;
        }
        let mut texts: Vec<String> = Vec::new();
        for v in seq(pod.get("volumes")) {
            if let Some(map) = text(at(v, &["configMap", "name"])) {
                let data = inv
                    .of_kind("ConfigMap")
                    .find(|c| {
                        c.object.name == map && same_namespace(c.namespace(), item.namespace())
                    })
                    .and_then(|c| c.at(&["data"]))
                    .and_then(Value::as_mapping);
                texts.extend(
                    data.into_iter()
                        .flatten()
                        .filter_map(|(_, v)| text(Some(v))),
                );
            }
        }
        // A proxy's configuration, not an application's settings (which name the Service in
        // a connection string: a client, not a way in).
        texts.iter().any(|t| {
            PROXY_WORDS.iter().any(|w| t.contains(w))
                && node_services.iter().any(|s| mentions(t, &s.object.name))
        })
    })
}

/// The server versions that refuse unknown settings (21.10 on); 5.x and 20.x did not.
fn refuses_unknown_settings(node: &Node) -> bool {
    let tag = text(node.container.get("image"))
        .map(|i| image_ref(&i).tag.unwrap_or_default())
        .unwrap_or_default();
    let older = ["20.", "21.2", "21.6"].iter().any(|p| tag.starts_with(p));
    !node.legacy && !older
}

/// ES024: Kubernetes gives every pod `{SERVICE}_SERVICE_HOST`, `{SERVICE}_PORT`,
/// `{SERVICE}_PORT_{N}_{PROTO}`... for each Service of its namespace (upper case, `-` as `_`)
/// unless the pod sets `enableServiceLinks: false`. A Service named `eventstore` or
/// `eventstore-*` so hands the server settings it does not know (`EVENTSTORE_PORT`), and it
/// refuses to start; `kurrentdb` does the same to a KurrentDB server.
fn service_links(inv: &Inventory, svc: &Item, push: &mut Push) {
    let env = svc.object.name.to_ascii_uppercase().replace('-', "_");
    let prefix = ["EVENTSTORE", "KURRENTDB"]
        .into_iter()
        .find(|p| env == *p || env.starts_with(&format!("{p}_")));
    let Some(prefix) = prefix else {
        return;
    };
    let hit: Vec<String> = inv
        .nodes
        .iter()
        .filter(|n| same_namespace(svc.namespace(), n.item.namespace()))
        .filter(|n| n.pod.get("enableServiceLinks") != Some(&Value::Bool(false)))
        .filter(|n| prefix == "EVENTSTORE" || n.kurrent)
        .filter(|n| refuses_unknown_settings(n))
        .map(|n| format!("{}/{}", n.item.kind(), n.item.object.name))
        .collect();
    if hit.is_empty() {
        return;
    }
    push(
        "ES024",
        format!(
            "Service {} makes Kubernetes inject {env}_SERVICE_HOST, {env}_PORT, ... into the server pods of {}: the server refuses them as unknown settings and does not start",
            svc.object.name,
            hit.join(", ")
        ),
    );
}

/// Whether a value is (or carries) the default password `changeit`.
fn is_default_password(key: &str, value: &str) -> bool {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    lower.contains("admin:changeit")
        || lower.contains("ops:changeit")
        || (key.to_ascii_uppercase().contains("PASS") && v == "changeit")
}

/// ES026: the default credentials in a ConfigMap, a Secret, or a container's literal
/// settings and arguments (once per object; what consumes it from a ConfigMap or Secret is
/// not reported again).
fn default_credentials(item: &Item, push: &mut Push) {
    let mut keys: Vec<String> = Vec::new();
    match item.kind() {
        "ConfigMap" | "Secret" => {
            for field in ["data", "stringData"] {
                for (k, _) in item
                    .at(&[field])
                    .and_then(Value::as_mapping)
                    .into_iter()
                    .flatten()
                {
                    let Some(k) = text(Some(k)) else { continue };
                    let value = if item.kind() == "Secret" && field == "data" {
                        config_value(
                            std::slice::from_ref(item),
                            item.namespace(),
                            "Secret",
                            &item.object.name,
                            &k,
                        )
                    } else {
                        text(item.at(&[field, &k]))
                    };
                    if value.is_some_and(|v| is_default_password(&k, &v)) && !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
        }
        _ => {
            let Some((_, pod)) = pod_of(item) else { return };
            for c in seq(pod.get("containers"))
                .iter()
                .chain(seq(pod.get("initContainers")))
            {
                for e in seq(c.get("env")) {
                    let (Some(k), Some(v)) = (text(e.get("name")), text(e.get("value"))) else {
                        continue;
                    };
                    if is_default_password(&k, &v) {
                        keys.push(k);
                    }
                }
                let words: Vec<String> = seq(c.get("command"))
                    .iter()
                    .chain(seq(c.get("args")))
                    .filter_map(|w| text(Some(w)))
                    .collect();
                for (i, w) in words.iter().enumerate() {
                    let (key, value) = match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (w.clone(), words.get(i + 1).cloned().unwrap_or_default()),
                    };
                    let option = key.starts_with('-');
                    if (option && is_default_password(&key, &value))
                        || (!option && is_default_password("", w))
                    {
                        keys.push(key);
                    }
                }
            }
        }
    }
    if !keys.is_empty() {
        push(
            "ES026",
            format!(
                "{} holds the default password changeit: anyone who can reach the nodes is admin",
                keys.join(", ")
            ),
        );
    }
}

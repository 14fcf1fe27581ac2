//! Where the scheduler puts a pod: a Ready Node that satisfies the node affinity of every
//! PersistentVolume behind the pod's claims (the VolumeBinding filter) and the pod's
//! `DoNotSchedule` topology spread constraints (the PodTopologySpread filter), spread by
//! ordinal among those. A claim of a `WaitForFirstConsumer` class is bound only here, once
//! its pod has a Node: the scheduler writes the Node on the claim
//! (`volume.kubernetes.io/selected-node`) and the provisioner makes the volume in that Node's
//! zone (kubernetes pkg/scheduler/framework/plugins/volumebinding, podtopologyspread).

use std::collections::BTreeMap;

use super::pods::str_of;
use super::selector::LabelSelector;
use super::store::{Key, Store};

use serde_json::Value;

/// The annotation the scheduler sets on a delayed-binding claim: the Node its pod runs on.
pub(super) const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The zone label every cloud's kubelet sets, the key of a provisioned volume's affinity.
pub(super) const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The Node a pod runs on, and its IP; `Ok(None)` when the cluster has no Node at all.
/// `Err` holds the scheduler's message when no Node fits: the pod stays Pending.
pub(super) fn pick_node(
    store: &mut Store,
    pod: &Value,
    ordinal: usize,
) -> Result<Option<(String, String)>, String> {
    let nodes: Vec<Value> = store
        .keys_of("Node")
        .iter()
        .filter_map(|k| store.by_key(k).cloned())
        .collect();
    if nodes.is_empty() {
        return Ok(None);
    }
    // A GCE PD attaches only in its own zone (the PD CSI driver's ControllerPublishVolume
    // looks the disk up in the Node's zone): a volume pinned to another zone never attaches.
    if let Some(message) = misplaced_disk(store, pod) {
        return Err(message);
    }
    let claims = pod_claims(store, pod);
    let volumes: Vec<&Value> = claims
        .iter()
        .filter_map(|c| match c {
            Claim::Bound(terms) => Some(terms),
            Claim::Delayed(_) => None,
        })
        .collect();
    let ready: Vec<&Value> = nodes.iter().filter(|n| node_ready(n)).collect();
    let fits_pod: Vec<&Value> = ready
        .iter()
        .copied()
        .filter(|n| pod_selects(pod, n))
        .collect();
    let fits_volumes: Vec<&Value> = fits_pod
        .iter()
        .copied()
        .filter(|n| volumes.iter().all(|terms| node_matches(n, terms)))
        .collect();
    let spread = Spread::of(store, pod, &nodes);
    let pool: Vec<&Value> = fits_volumes
        .iter()
        .copied()
        .filter(|n| spread.allows(n))
        .collect();
    if pool.is_empty() {
        let total = nodes.len();
        let not_ready = total - ready.len();
        let mut reasons = Vec::new();
        let unselected = ready.len() - fits_pod.len();
        if unselected > 0 {
            reasons.push(format!(
                "{unselected} node(s) didn't match Pod's node affinity/selector"
            ));
        }
        let conflict = fits_pod.len() - fits_volumes.len();
        if conflict > 0 {
            reasons.push(format!(
                "{conflict} node(s) had volume node affinity conflict"
            ));
        }
        let skewed = fits_volumes.len();
        if skewed > 0 {
            reasons.push(format!(
                "{skewed} node(s) didn't match pod topology spread constraints"
            ));
        }
        if not_ready > 0 {
            reasons.push(format!(
                "{not_ready} node(s) had untolerated taint {{node.kubernetes.io/not-ready: }}"
            ));
        }
        return Err(format!(
            "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: \
             {total} Preemption is not helpful for scheduling.",
            reasons.join(", ")
        ));
    }
    let node = pool[ordinal % pool.len()];
    let name = str_of(node, &["metadata", "name"]).to_string();
    let delayed: Vec<Key> = claims
        .into_iter()
        .filter_map(|c| match c {
            Claim::Delayed(key) => Some(key),
            Claim::Bound(_) => None,
        })
        .collect();
    if !delayed.is_empty() {
        for key in &delayed {
            store.controller_update(key, |pvc| {
                pvc["metadata"]["annotations"][SELECTED_NODE] = name.clone().into();
            });
        }
        super::controllers::bind_now(store);
    }
    let ip = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .map_or_else(|| format!("10.128.0.{}", ordinal % 250 + 2), str::to_string);
    Ok(Some((name, ip)))
}

/// The pod's claims that exist, with their keys.
fn claims_of<'a>(store: &'a Store, pod: &Value) -> Vec<(Key, &'a Value)> {
    let ns = str_of(pod, &["metadata", "namespace"]);
    pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| str_of(v, &["persistentVolumeClaim", "claimName"]))
        .filter(|claim| !claim.is_empty())
        .filter_map(|claim| {
            let key: Key = ("PersistentVolumeClaim".into(), ns.into(), claim.into());
            store.by_key(&key).map(|pvc| (key, pvc))
        })
        .collect()
}

/// The PersistentVolume a claim is bound to, if any.
fn volume_of<'a>(store: &'a Store, pvc: &Value) -> Option<&'a Value> {
    let name = str_of(pvc, &["spec", "volumeName"]);
    (!name.is_empty())
        .then(|| store.by_key(&("PersistentVolume".into(), String::new(), name.into())))
        .flatten()
}

/// The PersistentVolumes behind the pod's claims.
fn pod_volumes<'a>(store: &'a Store, pod: &Value) -> Vec<&'a Value> {
    claims_of(store, pod)
        .into_iter()
        .filter_map(|(_, pvc)| volume_of(store, pvc))
        .collect()
}

/// The attach error of a GCE PD volume whose node affinity pins it to a zone other than the
/// disk's own (`projects/P/zones/Z/disks/N`): every Node it may run on is in the wrong zone.
fn misplaced_disk(store: &Store, pod: &Value) -> Option<String> {
    for pv in pod_volumes(store, pod) {
        if pv["spec"]["csi"]["driver"] != "pd.csi.storage.gke.io" {
            continue;
        }
        let handle = str_of(pv, &["spec", "csi", "volumeHandle"]);
        let parts: Vec<&str> = handle.split('/').collect();
        let (Some(&zone), Some(&disk)) = (parts.get(3), parts.get(5)) else {
            continue;
        };
        let terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"].as_array();
        let pinned: Vec<String> = terms
            .into_iter()
            .flatten()
            .flat_map(|t| {
                t["matchExpressions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|e| {
                matches!(
                    str_of(e, &["key"]),
                    "topology.gke.io/zone" | "topology.kubernetes.io/zone"
                ) && str_of(e, &["operator"]) == "In"
            })
            .flat_map(|e| e["values"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if !pinned.is_empty() && !pinned.iter().any(|p| p == zone) {
            return Some(format!(
                "AttachVolume.Attach failed for volume \"{}\" : rpc error: code = NotFound \
                 desc = Could not find disk Key{{\"{disk}\", zonal: \"{}\"}}",
                str_of(pv, &["metadata", "name"]),
                pinned[0]
            ));
        }
    }
    None
}

/// A claim of the pod, as the VolumeBinding filter sees it.
enum Claim {
    /// Bound to a volume with these `nodeSelectorTerms` (null: no affinity).
    Bound(Value),
    /// Not bound yet, of a `WaitForFirstConsumer` class: bound once the pod has a Node.
    Delayed(Key),
}

/// The pod's claims that constrain or wait for its Node. A claim not found, or unbound of an
/// `Immediate` class, is left to its controller here.
fn pod_claims(store: &Store, pod: &Value) -> Vec<Claim> {
    let mut out = Vec::new();
    for (key, pvc) in claims_of(store, pod) {
        if str_of(pvc, &["spec", "volumeName"]).is_empty() {
            if waits_for_consumer(store, pvc) {
                out.push(Claim::Delayed(key));
            }
        } else if let Some(pv) = volume_of(store, pvc) {
            out.push(Claim::Bound(
                pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"].clone(),
            ));
        }
    }
    out
}

/// Whether the claim's StorageClass delays binding until a pod uses it.
pub(super) fn waits_for_consumer(store: &Store, pvc: &Value) -> bool {
    let class = str_of(pvc, &["spec", "storageClassName"]);
    !class.is_empty()
        && store
            .by_key(&("StorageClass".into(), String::new(), class.into()))
            .is_some_and(|sc| sc["volumeBindingMode"] == "WaitForFirstConsumer")
}

/// The Node's labels, `kubernetes.io/hostname` being its name where a seeded Node lacks the
/// label (a kubelet always sets it).
pub(super) fn node_label(node: &Value, key: &str) -> Option<String> {
    node["metadata"]["labels"][key]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            (key == "kubernetes.io/hostname")
                .then(|| str_of(node, &["metadata", "name"]).to_string())
        })
}

/// Whether a Node may get new pods: not when its Ready condition is False or Unknown (a
/// Node seeded without conditions counts as Ready).
pub(super) fn node_ready(node: &Value) -> bool {
    !node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] != "True")
}

/// Whether `node` satisfies `nodeSelectorTerms` (terms ORed, expressions ANDed); anything but
/// an array (no affinity) is satisfied by every Node.
fn node_matches(node: &Value, terms: &Value) -> bool {
    let Some(terms) = terms.as_array() else {
        return true;
    };
    terms.iter().any(|term| {
        term["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| {
                let have = node_label(node, str_of(e, &["key"]));
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                match str_of(e, &["operator"]) {
                    "In" => have.is_some_and(|v| values.contains(&v.as_str())),
                    "NotIn" => have.is_none_or(|v| !values.contains(&v.as_str())),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
    })
}

/// The pod's own node selection (`nodeSelector`, required node affinity): which Nodes count
/// as domains of its spread (the default `nodeAffinityPolicy: Honor`). Taints do not
/// (`nodeTaintsPolicy: Ignore`): a zone whose Nodes are NotReady is still a domain.
fn pod_selects(pod: &Value, node: &Value) -> bool {
    let by_selector = pod["spec"]["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| node_label(node, k).as_deref() == v.as_str());
    by_selector
        && node_matches(
            node,
            &pod["spec"]["affinity"]["nodeAffinity"]
                ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"],
        )
}

/// The pod's `DoNotSchedule` spread constraints, each with the matching pods per domain.
struct Spread {
    constraints: Vec<(String, i64, BTreeMap<String, i64>)>,
}

impl Spread {
    fn of(store: &Store, pod: &Value, nodes: &[Value]) -> Spread {
        let ns = str_of(pod, &["metadata", "namespace"]);
        let placed: Vec<Value> = store
            .keys_of("Pod")
            .iter()
            .filter(|k| k.1 == ns)
            .filter_map(|k| store.by_key(k).cloned())
            .filter(|p| {
                !str_of(p, &["spec", "nodeName"]).is_empty()
                    && p["metadata"]["deletionTimestamp"].is_null()
                    && p["metadata"]["uid"] != pod["metadata"]["uid"]
            })
            .collect();
        let mut constraints = Vec::new();
        for c in pod["spec"]["topologySpreadConstraints"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if c["whenUnsatisfiable"] != "DoNotSchedule" {
                continue;
            }
            let key = str_of(c, &["topologyKey"]).to_string();
            let selector = match LabelSelector::from_spec(&c["labelSelector"]) {
                Some(Ok(s)) => Some(s),
                _ => None,
            };
            let mut count: BTreeMap<String, i64> = nodes
                .iter()
                .filter(|n| pod_selects(pod, n))
                .filter_map(|n| node_label(n, &key))
                .map(|d| (d, 0))
                .collect();
            for p in &placed {
                // No selector matches no pod.
                let matches = selector
                    .as_ref()
                    .is_some_and(|s| s.matches(p["metadata"]["labels"].as_object()));
                let on = str_of(p, &["spec", "nodeName"]);
                let domain = nodes
                    .iter()
                    .find(|n| str_of(n, &["metadata", "name"]) == on)
                    .and_then(|n| node_label(n, &key));
                if let (true, Some(d)) = (matches, domain) {
                    if let Some(c) = count.get_mut(&d) {
                        *c += 1;
                    }
                }
            }
            constraints.push((key, c["maxSkew"].as_i64().unwrap_or(1), count));
        }
        Spread { constraints }
    }

    /// Placing the pod on `node` keeps every constraint's skew within its `maxSkew`.
    fn allows(&self, node: &Value) -> bool {
        self.constraints.iter().all(|(key, max_skew, count)| {
            let Some(domain) = node_label(node, key) else {
                return false;
            };
            let Some(here) = count.get(&domain) else {
                return false;
            };
            let least = count.values().min().copied().unwrap_or(0);
            here + 1 - least <= *max_skew
        })
    }
}

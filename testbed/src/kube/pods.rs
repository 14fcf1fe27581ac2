//! Pods for the workloads, as the ReplicaSet and StatefulSet controllers, the scheduler and the
//! kubelet would leave them: one Pod per Deployment replica (`<deploy>-<hash>-<5 chars>`) and
//! per StatefulSet ordinal (`<set>-<i>`), deleted with (or scaled away from) their workload and
//! replaced when its template changes. By default every pod is Running and Ready on a Node (if
//! any); a test overrides a node's pods with [`PodState`] (Pending and unschedulable,
//! crash-looping, an image that cannot be pulled, not Ready, restarts, events, logs), keyed by
//! workload name (`es-2`) or StatefulSet pod name (`es-1`), so the override outlives re-applies
//! and replacements. What the scheduler and kubelet report is in `kubelet`.

use super::controllers::template_hash;
use super::kubelet::update_status;
use super::store::{Key, Store};
use super::KubeEmulator;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The container the kubelet would report for a test-set state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodState {
    /// `Pending`, `Running`, `Failed`…; default Running (Pending when `unschedulable`).
    pub phase: Option<String>,
    /// The scheduler's message, e.g. `0/3 nodes are available: 3 node(s) had volume node
    /// affinity conflict.`: the pod is Pending, unscheduled, with a FailedScheduling event.
    pub unschedulable: Option<String>,
    /// Default: ready when Running with no waiting reason.
    pub ready: Option<bool>,
    pub restarts: u32,
    /// A waiting container: (reason, message), e.g. ("CrashLoopBackOff", "back-off 5m0s …").
    pub waiting: Option<(String, String)>,
    /// Further events on the pod: (type, reason, message).
    pub events: Vec<(String, String, String)>,
    /// What `kubectl logs` prints.
    pub logs: String,
    /// When each line of `logs` was written (RFC 3339, fractions allowed), in order, as the
    /// container runtime stamps it (`kubectl logs --timestamps` prints it); a line without
    /// one was written when the pod was created.
    pub log_times: Vec<String>,
    /// What `kubectl logs --previous` prints (None: no previous container).
    pub previous_logs: Option<String>,
}

impl PodState {
    /// Pending: the scheduler found no node, saying `message`.
    pub fn unschedulable(message: &str) -> PodState {
        PodState {
            unschedulable: Some(message.to_string()),
            ..PodState::default()
        }
    }

    /// Running, its container restarting over and over; the previous one printed `logs`.
    pub fn crash_looping(restarts: u32, previous_logs: &str) -> PodState {
        PodState {
            restarts,
            waiting: Some((
                "CrashLoopBackOff".into(),
                "back-off 5m0s restarting failed container".into(),
            )),
            previous_logs: Some(previous_logs.to_string()),
            ..PodState::default()
        }
    }

    /// Pending: the image cannot be pulled (`detail` as the runtime says it).
    pub fn image_pull_backoff(detail: &str) -> PodState {
        PodState {
            phase: Some("Pending".into()),
            waiting: Some(("ImagePullBackOff".into(), detail.to_string())),
            ..PodState::default()
        }
    }

    /// Running but failing its readiness probe.
    pub fn not_ready() -> PodState {
        PodState {
            ready: Some(false),
            ..PodState::default()
        }
    }

    pub(super) fn phase(&self) -> &str {
        match (&self.phase, &self.unschedulable) {
            (Some(p), _) => p,
            (None, Some(_)) => "Pending",
            (None, None) => "Running",
        }
    }

    pub(super) fn is_ready(&self) -> bool {
        self.ready
            .unwrap_or(self.phase() == "Running" && self.waiting.is_none())
    }

    /// Whether the server in the pod answers on its ports.
    pub(super) fn serving(&self) -> bool {
        self.phase() == "Running" && self.waiting.is_none()
    }
}

/// Test-set state that outlives re-reconciles: pod states and gossip views, by node key.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub states: BTreeMap<String, PodState>,
    pub gossip: super::proxy::GossipOverrides,
    pub rollout: super::rollout::Rollout,
    /// 5.x clusters' users (see `users`).
    pub users: super::users::Users,
    /// How full each claim's file system is (see `stats`).
    pub volume_use: super::stats::VolumeUse,
    /// Nodes started on a new disk, catching up with the leader (see `catch_up`).
    pub catch_up: super::catch_up::CatchUp,
}

const POD_NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The node key of a pod: its Deployment's name, or its own name in a StatefulSet.
pub fn node_key(pod: &Value) -> String {
    let owner = &pod["metadata"]["ownerReferences"][0];
    let name = owner["name"].as_str().unwrap_or("");
    if owner["kind"] == "ReplicaSet" {
        let hash = pod["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap_or("");
        return name
            .strip_suffix(hash)
            .and_then(|n| n.strip_suffix('-'))
            .unwrap_or(name)
            .to_string();
    }
    pod["metadata"]["name"].as_str().unwrap_or("").to_string()
}

pub(super) fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// What a workload's new pods are made from.
struct Wanted {
    owner: Value,
    template_labels: Value,
    hash: String,
    kind: &'static str,
}

/// Brings pods in line with the workloads, then every pod's status with its override.
pub fn reconcile(store: &mut Store) {
    let pods: Vec<Key> = store.keys_of("Pod");
    // Pods by the workload that owns them.
    let mut by_owner: BTreeMap<(String, String, String), Vec<Key>> = BTreeMap::new();
    for key in &pods {
        let Some(pod) = store.by_key(key) else {
            continue;
        };
        let kind = if pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" {
            "Deployment"
        } else {
            "StatefulSet"
        };
        by_owner
            .entry((kind.to_string(), key.1.clone(), node_key_of_owner(pod)))
            .or_default()
            .push(key.clone());
    }
    let mut keep: Vec<Key> = Vec::new();
    for kind in ["Deployment", "StatefulSet"] {
        for wkey in store.keys_of(kind) {
            let Some(workload) = store.by_key(&wkey).cloned() else {
                continue;
            };
            let owned = by_owner
                .remove(&(kind.to_string(), wkey.1.clone(), wkey.2.clone()))
                .unwrap_or_default();
            keep.extend(sync_workload(store, kind, &workload, owned));
        }
    }
    // Whatever is left belongs to no workload any more.
    for key in pods {
        if !keep.contains(&key) {
            super::graceful::delete_pod(store, &key, None);
        }
    }
    let overrides = store.overrides.clone();
    for key in &keep {
        update_status(store, key, &overrides);
    }
    if super::outage::rejoin(store, &keep) {
        let overrides = store.overrides.clone();
        for key in &keep {
            update_status(store, key, &overrides);
        }
    }
    super::rollout::record(store);
}

/// For a ReplicaSet-owned pod, the Deployment's name; for a StatefulSet pod, the set's.
fn node_key_of_owner(pod: &Value) -> String {
    let owner = &pod["metadata"]["ownerReferences"][0];
    if owner["kind"] == "ReplicaSet" {
        node_key(pod)
    } else {
        owner["name"].as_str().unwrap_or("").to_string()
    }
}

/// Records who led when a node pod goes, for tests proving the leader resigned first.
fn note_deleted(store: &mut Store, key: &Key) {
    let Some(pod) = store.by_key(key) else {
        return;
    };
    if pod["metadata"]["labels"]["app.kubernetes.io/component"] != "node" {
        return;
    }
    let event = super::rollout::RollEvent::PodDeleted {
        node: node_key(pod),
        leader: super::proxy::derived_leader(store, pod),
    };
    store.overrides.rollout.note(&key.1, event);
}

/// Creates and deletes the pods of one workload; returns the keys of the pods it keeps.
fn sync_workload(store: &mut Store, kind: &str, workload: &Value, owned: Vec<Key>) -> Vec<Key> {
    let replicas = workload["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let hash = template_hash(workload);
    let name = str_of(workload, &["metadata", "name"]).to_string();
    let ns = str_of(workload, &["metadata", "namespace"]).to_string();
    let current = |store: &Store, key: &Key| {
        store.by_key(key).is_some_and(|p| {
            let labels = &p["metadata"]["labels"];
            if kind == "Deployment" {
                labels["pod-template-hash"] == hash.as_str()
            } else {
                labels["controller-revision-hash"] == format!("{name}-{hash}").as_str()
            }
        })
    };
    let mut kept = Vec::new();
    for key in owned {
        // A Terminating pod is no replica any more (the controllers count active pods only).
        if store.by_key(&key).is_some_and(super::graceful::terminating) {
            continue;
        }
        let ordinal_ok = kind == "Deployment"
            || key
                .2
                .rsplit('-')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i < replicas);
        if current(store, &key) && ordinal_ok && kept.len() < replicas {
            kept.push(key);
        } else {
            note_deleted(store, &key);
            super::graceful::delete_pod(store, &key, None);
        }
    }
    let wanted = Wanted {
        owner: workload.clone(),
        template_labels: workload["spec"]["template"]["metadata"]["labels"].clone(),
        hash: hash.clone(),
        kind: if kind == "Deployment" {
            "Deployment"
        } else {
            "StatefulSet"
        },
    };
    if kind == "Deployment" {
        while kept.len() < replicas {
            let suffix = random_suffix(store);
            let pod_name = format!("{name}-{hash}-{suffix}");
            let key: Key = ("Pod".into(), ns.clone(), pod_name.clone());
            if store.by_key(&key).is_some() {
                continue;
            }
            let pod = new_pod(store, &wanted, &pod_name, kept.len());
            store.overrides.rollout.made(&pod);
            super::catch_up::pod_made(store, &pod);
            store.insert_raw(key.clone(), pod);
            kept.push(key);
        }
    } else {
        for ordinal in 0..replicas {
            let pod_name = format!("{name}-{ordinal}");
            let key: Key = ("Pod".into(), ns.clone(), pod_name.clone());
            // A Terminating pod keeps its name until it is gone.
            if kept.contains(&key) || store.by_key(&key).is_some() {
                continue;
            }
            let pod = new_pod(store, &wanted, &pod_name, ordinal);
            store.overrides.rollout.made(&pod);
            super::catch_up::pod_made(store, &pod);
            store.insert_raw(key.clone(), pod);
            kept.push(key);
        }
    }
    kept
}

fn random_suffix(store: &mut Store) -> String {
    let seed = store.new_uid();
    let mut h = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (0..5)
        .map(|_| {
            let c = POD_NAME_CHARS[(h % POD_NAME_CHARS.len() as u64) as usize];
            h /= POD_NAME_CHARS.len() as u64;
            char::from(c)
        })
        .collect()
}

fn new_pod(store: &mut Store, wanted: &Wanted, pod_name: &str, ordinal: usize) -> Value {
    let w = &wanted.owner;
    let name = str_of(w, &["metadata", "name"]);
    let ns = str_of(w, &["metadata", "namespace"]);
    let mut labels = wanted
        .template_labels
        .as_object()
        .cloned()
        .unwrap_or_default();
    let (owner, generate_name) = if wanted.kind == "Deployment" {
        labels.insert("pod-template-hash".into(), wanted.hash.clone().into());
        let rs = format!("{name}-{}", wanted.hash);
        (
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                   "uid": store.new_uid(), "controller": true, "blockOwnerDeletion": true}),
            format!("{rs}-"),
        )
    } else {
        labels.insert(
            "controller-revision-hash".into(),
            format!("{name}-{}", wanted.hash).into(),
        );
        labels.insert("statefulset.kubernetes.io/pod-name".into(), pod_name.into());
        labels.insert(
            "apps.kubernetes.io/pod-index".into(),
            ordinal.to_string().into(),
        );
        (
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name,
                   "uid": w["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}),
            format!("{name}-"),
        )
    };
    let mut spec = w["spec"]["template"]["spec"].clone();
    for (field, value) in [
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
        ("serviceAccountName", "default"),
        ("serviceAccount", "default"),
    ] {
        if spec[field].is_null() {
            spec[field] = value.into();
        }
    }
    if wanted.kind == "StatefulSet" {
        spec["hostname"] = pod_name.into();
        if let Some(service) = w["spec"]["serviceName"].as_str() {
            spec["subdomain"] = service.into();
        }
        let mut volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        for claim in w["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let template = str_of(claim, &["metadata", "name"]);
            volumes.push(json!({"name": template,
                "persistentVolumeClaim": {"claimName": format!("{template}-{pod_name}")}}));
        }
        spec["volumes"] = Value::Array(volumes);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "generateName": generate_name,
            "namespace": ns,
            "uid": store.new_uid(),
            "creationTimestamp": super::time::now(),
            "labels": labels,
            "annotations": w["spec"]["template"]["metadata"]["annotations"].as_object().cloned().unwrap_or_default(),
            "ownerReferences": [owner]
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Burstable"}
    })
}

impl KubeEmulator {
    /// Makes the pods of node `key` (a Deployment's name, or a StatefulSet pod's name) report
    /// `state` from now on, through replacements and re-applies.
    pub fn set_pod_state(&self, key: &str, state: PodState) {
        let mut shared = self.shared.lock();
        shared.store.overrides.states.insert(key.to_string(), state);
        reconcile(&mut shared.store);
    }

    /// Back to a Running, Ready pod.
    pub fn clear_pod_state(&self, key: &str) {
        let mut shared = self.shared.lock();
        shared.store.overrides.states.remove(key);
        reconcile(&mut shared.store);
    }

    /// The pods in `namespace`, sorted by name.
    pub fn pods(&self, namespace: &str) -> Vec<Value> {
        let shared = self.shared.lock();
        let info = super::kinds::by_kind("Pod").expect("Pod is served");
        shared.store.list(info, Some(namespace)).cloned().collect()
    }
}

//! What a roll looks like from the cluster: pods that take a while to become Ready after they
//! are made (a server starting, catching up), a node whose replacement pods never become
//! Ready, a node the gossip prefers as leader while it is Ready, and a record, kept at every
//! change, of how many node pods of each cluster were not Ready at once and in which order
//! node pods were made.

use super::pods::{node_key, str_of, PodState};
use super::store::{Key, Store};
use super::KubeEmulator;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Test-set behaviour of restarted pods, and what was seen.
#[derive(Clone, Debug, Default)]
pub struct Rollout {
    /// How long a new pod stays not Ready (serving, CatchingUp) after it is made.
    start_delay: Duration,
    /// Pods still starting, by (namespace, name): when they become Ready.
    starting: BTreeMap<(String, String), Instant>,
    /// Node key → (the pods it had when this was set, the state of every later pod).
    fresh: BTreeMap<String, (BTreeSet<String>, PodState)>,
    /// (namespace, instance) → the most node pods not Ready (or missing) at one moment.
    max_not_ready: BTreeMap<(String, String), usize>,
    /// (namespace, instance) → node workload name → its replicas, for every node workload
    /// seen since the count began: a node whose workload is deleted (to be made again) is
    /// down too.
    node_workloads: BTreeMap<(String, String), BTreeMap<String, i64>>,
    /// Node pods in the order they were made: (namespace, node key, image).
    made: Vec<(String, String, String)>,
    /// The node key that leads whenever its pod is Ready.
    pub(super) leader: Option<String>,
    /// Leadership changes and node pod deletions, in order: (namespace, event).
    events: Vec<(String, RollEvent)>,
    /// The resign endpoint answers 401 (the server refusing the caller).
    pub(super) resign_refused: bool,
}

/// What a test reads to prove an order: who resigned, and who led when a node pod went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollEvent {
    /// Node `node` was asked to resign: `leader` leads after it (None: it was not leader,
    /// so nothing changed).
    Resigned {
        node: String,
        leader: Option<String>,
    },
    /// A pod of node `node` was deleted (replaced or scaled away) while `leader` led.
    PodDeleted {
        node: String,
        leader: Option<String>,
    },
}

impl Rollout {
    /// A new pod of the workload: starting for the delay, and remembered in order.
    pub(super) fn made(&mut self, pod: &Value) {
        let ns = str_of(pod, &["metadata", "namespace"]).to_string();
        let name = str_of(pod, &["metadata", "name"]).to_string();
        if !self.start_delay.is_zero() {
            self.starting
                .insert((ns.clone(), name), Instant::now() + self.start_delay);
        }
        if pod["metadata"]["labels"]["app.kubernetes.io/component"] == "node" {
            let image = pod["spec"]["containers"][0]["image"].as_str().unwrap_or("");
            self.made.push((ns, node_key(pod), image.to_string()));
        }
    }

    /// The state a pod reports: the node's override, the one for pods made after a
    /// [`KubeEmulator::set_new_pod_state`], and not Ready while it starts.
    pub(super) fn state_of(&self, states: &BTreeMap<String, PodState>, pod: &Value) -> PodState {
        let key = node_key(pod);
        let name = str_of(pod, &["metadata", "name"]);
        let mut state = match self.fresh.get(&key) {
            Some((before, state)) if !before.contains(name) => state.clone(),
            _ => states.get(&key).cloned().unwrap_or_default(),
        };
        let ns = str_of(pod, &["metadata", "namespace"]).to_string();
        if self.starting.contains_key(&(ns, name.to_string())) {
            state.ready = Some(false);
        }
        state
    }

    /// Whether a starting pod's time has come (the pods need another look).
    fn due(&mut self) -> bool {
        let now = Instant::now();
        let before = self.starting.len();
        self.starting.retain(|_, at| *at > now);
        self.starting.len() != before
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// After the pods were brought in line: counts, per cluster, node replicas that are not a
/// Ready pod, and keeps the maximum.
pub(super) fn record(store: &mut Store) {
    let mut wanted: BTreeMap<(String, String), i64> = BTreeMap::new();
    for kind in ["Deployment", "StatefulSet"] {
        for key in store.keys_of(kind) {
            let Some(w) = store.by_key(&key) else {
                continue;
            };
            let labels = &w["metadata"]["labels"];
            if labels["app.kubernetes.io/component"] != "node" {
                continue;
            }
            let instance = str_of(labels, &["app.kubernetes.io/instance"]).to_string();
            let replicas = w["spec"]["replicas"].as_i64().unwrap_or(1);
            store
                .overrides
                .rollout
                .node_workloads
                .entry((key.1.clone(), instance))
                .or_default()
                .insert(key.2.clone(), replicas);
        }
    }
    for (cluster, workloads) in &store.overrides.rollout.node_workloads {
        wanted.insert(cluster.clone(), workloads.values().sum());
    }
    let mut ready: BTreeMap<(String, String), i64> = BTreeMap::new();
    let pods: Vec<Key> = store.keys_of("Pod");
    for key in &pods {
        let Some(pod) = store.by_key(key) else {
            continue;
        };
        let labels = &pod["metadata"]["labels"];
        if labels["app.kubernetes.io/component"] == "node" && is_ready(pod) {
            let instance = str_of(labels, &["app.kubernetes.io/instance"]).to_string();
            *ready.entry((key.1.clone(), instance)).or_default() += 1;
        }
    }
    let live: BTreeSet<(String, String)> =
        pods.iter().map(|k| (k.1.clone(), k.2.clone())).collect();
    let rollout = &mut store.overrides.rollout;
    rollout.starting.retain(|k, _| live.contains(k));
    for (cluster, n) in wanted {
        let down = (n - ready.get(&cluster).copied().unwrap_or(0)).max(0) as usize;
        let max = rollout.max_not_ready.entry(cluster).or_default();
        *max = (*max).max(down);
    }
}

/// Before a request is served: pods whose start delay has passed become Ready.
pub(super) fn refresh(store: &mut Store) {
    if store.overrides.rollout.due() {
        super::pods::reconcile(store);
    }
}

impl Rollout {
    pub(super) fn note(&mut self, namespace: &str, event: RollEvent) {
        self.events.push((namespace.to_string(), event));
    }
}

impl KubeEmulator {
    /// The resign endpoint (`POST /admin/node/resign`) refuses every caller with 401.
    pub fn refuse_resign(&self, refused: bool) {
        self.shared.lock().store.overrides.rollout.resign_refused = refused;
    }

    /// Resignations and node pod deletions in `namespace`, in order.
    pub fn roll_events(&self, namespace: &str) -> Vec<RollEvent> {
        let shared = self.shared.lock();
        shared
            .store
            .overrides
            .rollout
            .events
            .iter()
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Every pod made from now on stays not Ready (serving, CatchingUp in gossip) for `delay`.
    pub fn set_pod_start_delay(&self, delay: Duration) {
        self.shared.lock().store.overrides.rollout.start_delay = delay;
    }

    /// Pods of node `key` made from now on (replacements) report `state`; its current pods
    /// keep theirs.
    pub fn set_new_pod_state(&self, key: &str, state: PodState) {
        let mut shared = self.shared.lock();
        let store = &mut shared.store;
        let before: BTreeSet<String> = store
            .keys_of("Pod")
            .iter()
            .filter_map(|k| store.by_key(k))
            .filter(|p| node_key(p) == key)
            .map(|p| str_of(p, &["metadata", "name"]).to_string())
            .collect();
        store
            .overrides
            .rollout
            .fresh
            .insert(key.to_string(), (before, state));
        super::pods::reconcile(store);
    }

    /// Node `key` leads whenever its pod is Ready (else the first Ready node does).
    pub fn set_leader(&self, key: &str) {
        self.shared.lock().store.overrides.rollout.leader = Some(key.to_string());
    }

    /// The most node pods of cluster `instance` in `namespace` that were not Ready at once
    /// since the emulator started (or since [`KubeEmulator::reset_not_ready_max`]).
    pub fn max_not_ready(&self, namespace: &str, instance: &str) -> usize {
        let shared = self.shared.lock();
        let key = (namespace.to_string(), instance.to_string());
        shared
            .store
            .overrides
            .rollout
            .max_not_ready
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Starts counting again from what is not Ready now.
    pub fn reset_not_ready_max(&self) {
        let mut shared = self.shared.lock();
        shared.store.overrides.rollout.max_not_ready.clear();
        shared.store.overrides.rollout.node_workloads.clear();
        record(&mut shared.store);
    }

    /// Node pods of `namespace` in the order they were made: (node key, image).
    pub fn node_pods_made(&self, namespace: &str) -> Vec<(String, String)> {
        let shared = self.shared.lock();
        shared
            .store
            .overrides
            .rollout
            .made
            .iter()
            .filter(|(ns, _, _)| ns == namespace)
            .map(|(_, key, image)| (key.clone(), image.clone()))
            .collect()
    }
}

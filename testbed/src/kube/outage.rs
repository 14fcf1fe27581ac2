//! A zone outage: every Kubernetes node of the zone stops posting its status (Ready turns
//! Unknown, as the node lifecycle controller marks it), the pods on those nodes are no longer
//! Ready and answer nothing, and the other members' gossip shows them dead. New pods are no
//! longer scheduled there (the scheduler skips nodes that are not Ready). A node lost this way
//! whose pod is made again on a Node that is up (`esk node replace`) answers again.

use super::pods::str_of;
use super::pods::{node_key, reconcile, PodState};
use super::store::{Key, Store};
use super::KubeEmulator;

/// Node labels that name a zone.
const ZONE_LABELS: [&str; 2] = ["topology.kubernetes.io/zone", "topology.gke.io/zone"];

impl KubeEmulator {
    /// Takes `zone` down (see the module doc); returns the Kubernetes nodes it took down.
    pub fn zone_down(&self, zone: &str) -> Vec<String> {
        let mut shared = self.shared.lock();
        let store = &mut shared.store;
        let nodes: Vec<Key> = store
            .keys_of("Node")
            .into_iter()
            .filter(|k| {
                store.by_key(k).is_some_and(|n| {
                    ZONE_LABELS
                        .iter()
                        .any(|l| n["metadata"]["labels"][*l].as_str() == Some(zone))
                })
            })
            .collect();
        let names: Vec<String> = nodes.iter().map(|k| k.2.clone()).collect();
        for k in &nodes {
            store.controller_update(k, |n| {
                n["status"]["conditions"] = serde_json::json!([{
                    "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                }]);
            });
        }
        let lost: Vec<String> = store
            .keys_of("Pod")
            .iter()
            .filter_map(|k| store.by_key(k))
            .filter(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| names.iter().any(|m| m == n))
            })
            .map(node_key)
            .collect();
        for key in lost {
            store
                .overrides
                .states
                .insert(key.clone(), PodState::not_ready());
            store.overrides.gossip.lose(&key);
        }
        reconcile(store);
        names
    }
}

/// Gives back their gossip and readiness to lost nodes whose pod (among `pods`) now runs on a
/// Ready Node; returns whether any did.
pub(super) fn rejoin(store: &mut Store, pods: &[Key]) -> bool {
    let mut any = false;
    for key in pods {
        let Some(pod) = store.by_key(key) else {
            continue;
        };
        let node = node_key(pod);
        let host = str_of(pod, &["spec", "nodeName"]);
        if host.is_empty() || !store.overrides.gossip.is_lost(&node) {
            continue;
        }
        let up = store
            .by_key(&("Node".into(), String::new(), host.into()))
            .is_some_and(super::scheduler::node_ready);
        if !up {
            continue;
        }
        store.overrides.gossip.rejoin(&node);
        if store.overrides.states.get(&node) == Some(&PodState::not_ready()) {
            store.overrides.states.remove(&node);
        }
        any = true;
    }
    any
}

//! A zone outage: every Kubernetes node of the zone stops posting its status (Ready turns
//! Unknown, as the node lifecycle controller marks it), the pods on those nodes are no longer
//! Ready and answer nothing, and the other members' gossip shows them dead. New pods are no
//! longer scheduled there (the scheduler skips nodes that are not Ready).

use super::pods::{node_key, reconcile, PodState};
use super::store::Key;
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

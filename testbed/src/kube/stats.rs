//! The kubelet's volume statistics, as the API server's node proxy serves them at
//! `/api/v1/nodes/NODE/proxy/stats/summary`: for each running pod on that Kubernetes node, each
//! mounted volume's file system capacity, use and free bytes, with `pvcRef` on the volumes that
//! come from a claim. Asking needs `get` on `nodes/proxy` (a 403 otherwise, as RBAC answers).
//! A file system is a little smaller than its disk (ext4 keeps room for its journal and
//! metadata); tests say how full each claim's file system is.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::access::{forbidden, Attributes};
use super::immutable::parse_quantity;
use super::status::ApiError;
use super::State;
use crate::http::{Request, Response};

/// The share of a disk its file system offers (ext4 on a fresh disk keeps about 2 %).
const FILE_SYSTEM_SHARE: f64 = 0.98;
/// What a claim holds when no test said (a fresh server's first chunk, about 1 %).
const DEFAULT_USED_SHARE: f64 = 0.01;

/// Bytes used on each claim's file system, keyed by (namespace, claim).
#[derive(Clone, Debug, Default)]
pub struct VolumeUse(pub BTreeMap<(String, String), u64>);

/// `GET /api/v1/nodes/NODE/proxy/stats/summary`, or None for any other request.
pub(super) fn handle(state: &State, req: &Request) -> Option<Response> {
    let node = req
        .path
        .trim_end_matches('/')
        .strip_prefix("/api/v1/nodes/")?
        .strip_suffix("/proxy/stats/summary")?
        .to_string();
    let attributes = Attributes {
        verb: "get".into(),
        group: String::new(),
        resource: "nodes".into(),
        subresource: "proxy".into(),
        namespace: None,
    };
    if !state.access.allows(&attributes) {
        return Some(forbidden(&attributes, Some(&node)).to_response());
    }
    if req.method != "GET" {
        return Some(ApiError::method_not_allowed(&req.method).to_response());
    }
    let store = &state.store;
    let nodes = super::kinds::by_kind("Node").expect("Node is served");
    if store.get(nodes, None, &node).is_none() {
        return Some(ApiError::not_found(nodes, &node).to_response());
    }
    let pods = super::kinds::by_kind("Pod").expect("Pod is served");
    let claims = super::kinds::by_kind("PersistentVolumeClaim").expect("claims are served");
    let on_node: Vec<Value> = store
        .list(pods, None)
        .filter(|p| p["spec"]["nodeName"] == node.as_str() && !p["status"]["podIP"].is_null())
        .map(|pod| {
            let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
            let volumes: Vec<Value> = pod["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| {
                    let name = v["name"].as_str()?;
                    let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() else {
                        return Some(small_volume(name));
                    };
                    let pvc = store.get(claims, Some(ns), claim)?;
                    let disk = parse_quantity(pvc["status"]["capacity"]["storage"].as_str()?)?;
                    let capacity = (disk * FILE_SYSTEM_SHARE / 4096.0).floor() as u64 * 4096;
                    let used = state
                        .store
                        .overrides
                        .volume_use
                        .0
                        .get(&(ns.to_string(), claim.to_string()))
                        .copied()
                        .unwrap_or((capacity as f64 * DEFAULT_USED_SHARE) as u64)
                        .min(capacity);
                    Some(json!({
                        "time": super::time::now(),
                        "name": name,
                        "capacityBytes": capacity,
                        "usedBytes": used,
                        "availableBytes": capacity - used,
                        "inodes": capacity / 16384,
                        "inodesUsed": used / 16384 + 11,
                        "inodesFree": (capacity - used) / 16384,
                        "pvcRef": {"name": claim, "namespace": ns},
                    }))
                })
                .collect();
            json!({
                "podRef": {
                    "name": pod["metadata"]["name"],
                    "namespace": ns,
                    "uid": pod["metadata"]["uid"],
                },
                "startTime": pod["status"]["startTime"],
                "volume": volumes,
            })
        })
        .collect();
    Some(Response::json(
        200,
        &json!({"node": {"nodeName": node, "startTime": super::time::now()}, "pods": on_node}),
    ))
}

/// A Secret, ConfigMap or emptyDir volume: a small tmpfs or a share of the node's disk.
fn small_volume(name: &str) -> Value {
    json!({
        "time": super::time::now(),
        "name": name,
        "capacityBytes": 4_087_517_184u64,
        "usedBytes": 12_288,
        "availableBytes": 4_087_504_896u64,
    })
}

impl super::KubeEmulator {
    /// Claim `claim` in `namespace` holds `bytes` on its file system (at most its capacity).
    pub fn set_volume_used(&self, namespace: &str, claim: &str, bytes: u64) {
        self.shared
            .lock()
            .store
            .overrides
            .volume_use
            .0
            .insert((namespace.to_string(), claim.to_string()), bytes);
    }
}

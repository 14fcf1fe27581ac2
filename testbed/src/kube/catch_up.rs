//! A node that starts on a disk other than the one it had (`esk node replace`: an empty disk,
//! or one restored from an older snapshot) is behind the leader: its own and its peers'
//! gossip show it `CatchingUp`, its writer checkpoint climbing towards the leader's, until it
//! has copied the log and becomes a Follower. KurrentDB's leader takes a replica's
//! subscription from the replica's own log position, and an empty one (no epochs, position 0)
//! from the start of the log (`GetValidLogPosition` in
//! src/KurrentDB.Core/Services/Replication/LeaderReplicationService.cs, v25.1.0), so the server
//! supports a node joining with no data. How long that takes is a test's choice
//! ([`KubeEmulator::set_catch_up`]); zero (the default) makes it instant.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::pods::node_key;
use super::store::Store;
use super::KubeEmulator;

/// The disk each node last started on, and since when a node is catching up.
#[derive(Clone, Debug, Default)]
pub struct CatchUp {
    duration: Duration,
    handles: BTreeMap<String, String>,
    since: BTreeMap<String, Instant>,
}

impl CatchUp {
    /// How far node `key` has caught up (0.0 just started, 1.0 done), if it is catching up.
    pub(super) fn progress(&self, key: &str) -> Option<f64> {
        let since = self.since.get(key)?;
        let done = since.elapsed().as_secs_f64() / self.duration.as_secs_f64().max(1e-9);
        (done < 1.0).then_some(done)
    }
}

/// The volume handle of the disk behind a pod's `data` claim, if it is bound.
fn data_handle(store: &Store, pod: &Value) -> Option<String> {
    let ns = pod["metadata"]["namespace"].as_str();
    let claim = pod["spec"]["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == "data")?["persistentVolumeClaim"]["claimName"]
        .as_str()?;
    let pvc = store.get(super::kinds::by_kind("PersistentVolumeClaim")?, ns, claim)?;
    let pv_name = pvc["spec"]["volumeName"].as_str()?;
    let pv = store.get(super::kinds::by_kind("PersistentVolume")?, None, pv_name)?;
    pv["spec"]["csi"]["volumeHandle"]
        .as_str()
        .or(pv["spec"]["local"]["path"].as_str())
        .map(str::to_string)
}

/// A node pod was made: when its disk is not the one the node had, it starts catching up.
pub(super) fn pod_made(store: &mut Store, pod: &Value) {
    let Some(handle) = data_handle(store, pod) else {
        return;
    };
    let key = node_key(pod);
    let catch_up = &mut store.overrides.catch_up;
    let changed = catch_up
        .handles
        .insert(key.clone(), handle.clone())
        .is_some_and(|before| before != handle);
    if changed && !catch_up.duration.is_zero() {
        catch_up.since.insert(key, Instant::now());
    }
}

impl KubeEmulator {
    /// How long a node started on a new disk takes to catch up with the leader.
    pub fn set_catch_up(&self, duration: Duration) {
        self.shared.lock().store.overrides.catch_up.duration = duration;
    }
}

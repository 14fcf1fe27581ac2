//! The CSI external-resizer and the kubelet together: a bound claim of a class that allows
//! expansion asking for more than its volume holds gets its cloud disk grown (through the
//! bed's expander), then the volume's capacity, which the claim controller copies into the
//! claim's `status.capacity` (the kubelet's online filesystem step is instant here). The
//! resizer acts only while the volume holds less than the claim asks: a volume whose
//! capacity someone else raised is never grown on the cloud.
//!
//! An expansion takes [`KubeEmulator::set_expansion_latency`] (none by default) from when the
//! resizer first sees the claim ask for more; like the real external-resizer's workers,
//! expansions of different volumes run side by side.

use super::controllers::pv_key;
use super::pods::str_of;
use super::store::Store;
use super::KubeEmulator;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Expansions under way.
#[derive(Clone, Debug, Default)]
pub struct Resizing {
    /// How long one `ControllerExpandVolume` takes.
    latency: Duration,
    /// Volumes being expanded, by PV name: when their expansion finishes.
    due: BTreeMap<String, Instant>,
}

impl KubeEmulator {
    /// Every volume expansion from now on takes `latency` (a real cloud's takes seconds):
    /// the claim's `status.capacity` shows the new size only after it.
    pub fn set_expansion_latency(&self, latency: Duration) {
        self.shared.lock().store.resizing.latency = latency;
    }
}

/// Before a request is served: expansions whose time has come finish.
pub(super) fn refresh(store: &mut Store) {
    let now = Instant::now();
    if store.resizing.due.values().any(|at| *at <= now) {
        super::controllers::reconcile(store);
    }
}

/// Grows the volumes whose claims ask for more than they hold (once their expansion's time
/// has come).
pub(super) fn resize_volumes(store: &mut Store) {
    let Some(super::store::Expander(expander)) = store.expander.clone() else {
        return;
    };
    for key in store.keys_of("PersistentVolumeClaim") {
        let Some(pvc) = store.by_key(&key).cloned() else {
            continue;
        };
        if pvc["status"]["phase"] != "Bound" {
            continue;
        }
        let class = str_of(&pvc, &["spec", "storageClassName"]);
        let expands = !class.is_empty()
            && store
                .by_key(&("StorageClass".into(), String::new(), class.into()))
                .is_some_and(|sc| sc["allowVolumeExpansion"] == true);
        let pv_name = str_of(&pvc, &["spec", "volumeName"]);
        let Some(pv) = store.by_key(&pv_key(pv_name)).cloned() else {
            continue;
        };
        let quantity = |v: &Value| v.as_str().and_then(super::immutable::parse_quantity);
        let request = &pvc["spec"]["resources"]["requests"]["storage"];
        let (Some(wanted), Some(held)) = (
            quantity(request),
            quantity(&pv["spec"]["capacity"]["storage"]),
        ) else {
            continue;
        };
        let driver = str_of(&pv, &["spec", "csi", "driver"]);
        let handle = str_of(&pv, &["spec", "csi", "volumeHandle"]);
        if !expands || wanted <= held || driver.is_empty() {
            store.resizing.due.remove(pv_name);
            continue;
        }
        if !store.resizing.latency.is_zero() {
            let now = Instant::now();
            let latency = store.resizing.latency;
            let at = *store
                .resizing
                .due
                .entry(pv_name.to_string())
                .or_insert(now + latency);
            if at > now {
                continue;
            }
            store.resizing.due.remove(pv_name);
        }
        let gib = (wanted / f64::from(1u32 << 30)).ceil() as u64;
        if expander(driver, handle, gib).is_ok() {
            let request = request.clone();
            store.controller_update(&pv_key(pv_name), |pv| {
                pv["spec"]["capacity"]["storage"] = request;
            });
        }
    }
}

//! Re-making a node's claim with esk's StorageClass (a claim an earlier esk made without one
//! cannot be expanded, and a claim's class cannot change): the node stops, its claim goes
//! (the volume is Retain, so the disk stays), the volume takes the class and is released for
//! the new claim, which binds it by name, and the node starts again on the same disk.
//!
//! Each step is safe to repeat, so a run interrupted anywhere is finished by a re-run: the
//! plan finds the node by its claim (still classless, or missing while its volume exists).

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};

use crate::adapters::kubectl::Kubectl;
use crate::error::Refused;
use crate::manifest::Manifest;

/// One node's claim to re-make.
#[derive(Clone, Debug)]
pub struct Reclaim {
    /// The node's workload as rendered (and stamped): applied again once the claim is back.
    pub workload: Manifest,
    pub claim: Manifest,
    pub pv: String,
    pub class: String,
}

/// How often the node's pods are looked for while they go.
const POLL: Duration = Duration::from_millis(200);

impl Reclaim {
    /// Refuses (before anything changes) unless the volume exists, belongs to this claim and
    /// keeps its disk when the claim goes (`Retain`): deleting a claim of a `Delete` volume
    /// would delete the disk.
    pub fn check(&self, kubectl: &Kubectl) -> Result<()> {
        let pv = kubectl.get_json(&[
            "persistentvolumes".into(),
            self.pv.clone(),
            "--ignore-not-found".into(),
        ])?;
        if pv.is_null() {
            return Err(Refused::new(format!(
                "volume {} of claim {} is missing: the claim cannot be re-made with StorageClass \
                 {} on it",
                self.pv, self.claim.object.name, self.class
            ))
            .into());
        }
        let policy = pv["spec"]["persistentVolumeReclaimPolicy"]
            .as_str()
            .unwrap_or("Delete");
        if policy != "Retain" {
            return Err(Refused::new(format!(
                "volume {} has reclaim policy {policy}, not Retain: re-making claim {} would \
                 delete its disk; set it to Retain (kubectl patch pv {} -p \
                 '{{\"spec\":{{\"persistentVolumeReclaimPolicy\":\"Retain\"}}}}') and re-run",
                self.pv, self.claim.object.name, self.pv
            ))
            .into());
        }
        let owner = &pv["spec"]["claimRef"]["name"];
        if !(owner.is_null() || owner == self.claim.object.name.as_str()) {
            return Err(Refused::new(format!(
                "volume {} is reserved for claim {}, not {}: esk leaves it alone",
                self.pv,
                owner.as_str().unwrap_or("?"),
                self.claim.object.name
            ))
            .into());
        }
        Ok(())
    }

    /// Stops the node, re-makes its claim on the same volume and starts the node again.
    pub fn run(&self, kubectl: &Kubectl, timeout: Duration) -> Result<()> {
        self.check(kubectl)?;
        // Foreground: the workload is gone only once its pods are.
        kubectl.delete(std::slice::from_ref(&self.workload.object))?;
        self.wait_unmounted(kubectl, timeout)?;
        kubectl.delete(std::slice::from_ref(&self.claim.object))?;
        kubectl.patch_merge(
            "PersistentVolume",
            &self.pv,
            &release(&self.class).to_string(),
        )?;
        kubectl.apply(&[self.claim.clone(), self.workload.clone()])
    }

    /// Waits until no pod mounts the claim (a claim in use is not deleted, and a new pod must
    /// never run beside the old one on the disk).
    fn wait_unmounted(&self, kubectl: &Kubectl, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            let users = kubectl.volume_users(&[], std::slice::from_ref(&self.claim.object.name))?;
            if users.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                anyhow::bail!(
                    "claim {} still in use after {}s: {}; re-running resumes",
                    self.claim.object.name,
                    timeout.as_secs(),
                    users.join(", ")
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The merge patch that gives a volume esk's class and frees it for a new claim of the same
/// name: a Released volume stays reserved for the deleted claim's uid until `claimRef` loses
/// it (the PV controller then makes it Available, and the claim naming it binds).
pub fn release(class: &str) -> Value {
    json!({"spec": {
        "storageClassName": class,
        "claimRef": {"uid": null, "resourceVersion": null},
    }})
}

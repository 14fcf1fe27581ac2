//! Before a disk is deleted, everything that used it must have let go: the cloud refuses to
//! delete an attached disk, and detaching follows a pod's end by seconds to minutes.

use anyhow::Result;

use super::Executor;
use crate::plan::Plan;

/// How often esk looks again at volumes that are still attached.
const RELEASE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

impl Executor<'_> {
    /// Waits (up to the detach timeout) until no VolumeAttachment names a PV this plan
    /// deleted and no pod mounts a claim it deleted: the cloud refuses to delete an attached
    /// disk, and detaching follows the pod's end by seconds to minutes.
    pub(super) fn wait_released(&self, plan: &Plan) -> Result<()> {
        let named = |kind: &str| -> Vec<String> {
            plan.delete
                .iter()
                .filter(|o| o.kind == kind)
                .map(|o| o.name.clone())
                .collect()
        };
        let (pvs, claims) = (named("PersistentVolume"), named("PersistentVolumeClaim"));
        if pvs.is_empty() && claims.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut attempt = 1;
        let mut shown = Vec::new();
        loop {
            let users = self.kubectl.volume_users(&pvs, &claims)?;
            if users.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= self.detach_timeout {
                anyhow::bail!(
                    "disks still in use after {}s: {}; no disk was deleted, and re-running the \
                     same command deletes them once they are released",
                    self.detach_timeout.as_secs(),
                    users.join(", ")
                );
            }
            if users != shown {
                self.report.info(&format!(
                    "waiting for the disks to be released: {}",
                    users.join(", ")
                ));
                shown = users;
            }
            std::thread::sleep(crate::adapters::retry::delay(attempt).min(RELEASE_POLL));
            attempt += 1;
        }
    }
}

//! Growing claims in place: ask for the new size where the apply did not (dynamic claims are
//! the disks and are never re-applied), then wait until every claim's `status.capacity`
//! shows it — the external-resizer has grown the cloud disk and the kubelet the filesystem
//! (for an attached volume both happen online; the pod keeps running).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Executor;
use crate::plan::{Growth, Plan};
use crate::quantity;

/// How often the claims are read back while they grow.
const POLL: Duration = Duration::from_millis(500);

impl Executor<'_> {
    pub(super) fn grow(&self, plan: &Plan) -> Result<()> {
        let applied: BTreeSet<&str> = plan
            .apply
            .iter()
            .filter(|o| o.kind == "PersistentVolumeClaim")
            .map(|o| o.name.as_str())
            .collect();
        let patch: Vec<(String, String)> = plan
            .grow
            .iter()
            .filter(|g| !applied.contains(g.claim.as_str()))
            .map(|g| (g.claim.clone(), g.to.clone()))
            .collect();
        if !patch.is_empty() {
            self.kubectl.grow_claims(&patch)?;
        }
        self.wait_grown(&plan.grow, self.roll_timeout)
    }

    /// Polls the claims until each holds at least its new size, or `timeout` has passed.
    fn wait_grown(&self, grow: &[Growth], timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let names: Vec<String> = grow.iter().map(|g| g.claim.clone()).collect();
        loop {
            let capacities = self.kubectl.claim_capacities(&names)?;
            let behind: Vec<String> = grow
                .iter()
                .filter(|g| {
                    let held = capacities
                        .get(&g.claim)
                        .and_then(|c| c.as_deref())
                        .and_then(quantity::parse_str);
                    let wanted = quantity::parse_str(&g.to);
                    !matches!((held, wanted), (Some(h), Some(w)) if h >= w)
                })
                .map(|g| {
                    let held = capacities
                        .get(&g.claim)
                        .cloned()
                        .flatten()
                        .unwrap_or_else(|| "no capacity".into());
                    format!("{} ({held}, asked {})", g.claim, g.to)
                })
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if started.elapsed() > timeout {
                anyhow::bail!(
                    "claims not grown after {}s: {}; the CSI driver's resizer has not finished \
                     (kubectl describe pvc NAME shows its events); re-running waits again",
                    timeout.as_secs(),
                    behind.join(", ")
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

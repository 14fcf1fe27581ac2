//! Migrating the claims an earlier esk made without a StorageClass, before they grow: one node
//! at a time through the roll (followers first, the leader last after it resigns, each back
//! and healthy before the next), each node's claim re-made on its own volume
//! (`roll::reclaim`). It costs one restart per node, once.

use anyhow::Result;

use super::progress::set_progress;
use super::Executor;
use crate::manifest::Manifest;
use crate::plan::{Outcome, Plan};
use crate::roll::reclaim::Reclaim;
use crate::roll::{stamp, Change, Roller, Step};

impl Executor<'_> {
    /// Re-makes `plan.migrate`'s claims from the final (stamped) `manifests`.
    pub(super) fn migrate(
        &self,
        plan: &Plan,
        manifests: &[Manifest],
        outcome: &mut Outcome,
    ) -> Result<()> {
        let mut steps = Vec::new();
        for m in &plan.migrate {
            let workload = manifests
                .iter()
                .find(|w| is_workload(w) && w.node() == Some(m.node));
            let claim = manifests
                .iter()
                .find(|c| c.object.kind == "PersistentVolumeClaim" && c.object.name == m.claim);
            let (Some(workload), Some(claim)) = (workload, claim) else {
                anyhow::bail!("no workload or claim rendered for node {}", m.node);
            };
            let template = workload.value["metadata"]["annotations"][stamp::TEMPLATE]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let reclaim = Reclaim {
                workload: workload.clone(),
                claim: claim.clone(),
                pv: m.pv.clone(),
                class: m.class.clone(),
            };
            steps.push(Step {
                index: m.node,
                change: Change::Reclaim {
                    reclaim: Box::new(reclaim),
                    template,
                },
            });
        }
        // Every volume is checked before the first node stops.
        for s in &steps {
            if let Change::Reclaim { reclaim, .. } = &s.change {
                reclaim.check(self.kubectl)?;
            }
        }
        // The class first: the re-made claims name it.
        let classes: Vec<Manifest> = manifests
            .iter()
            .filter(|m| m.object.kind == "StorageClass")
            .cloned()
            .collect();
        self.kubectl.apply(&classes)?;
        set_progress(format!(
            "{}; interrupted while re-making claims with esk's StorageClass one node at a time",
            outcome.describe()
        ));
        self.report.info(&format!(
            "re-making {} claim(s) made by an earlier esk with StorageClass {}, one node at a \
             time (each node restarts once)",
            steps.len(),
            plan.migrate.first().map(|m| m.class.as_str()).unwrap_or("")
        ));
        let roller = Roller {
            spec: self.spec,
            kubectl: self.kubectl,
            report: self.report,
            timeout: self.roll_timeout,
            lock: self.lock,
        };
        outcome.restarted.extend(roller.run(steps)?);
        outcome.claims_migrated = plan.migrate.iter().map(|m| m.claim.clone()).collect();
        set_progress(outcome.describe());
        Ok(())
    }
}

/// A node's or a read-only replica's workload (only the nodes' are stamped and rolled by
/// template; a replica's pods are awaited by their being there again).
fn is_workload(m: &Manifest) -> bool {
    stamp::is_node_workload(m)
        || (matches!(m.object.kind.as_str(), "Deployment" | "StatefulSet")
            && m.value["metadata"]["labels"][crate::manifest::COMPONENT] == "replica")
}

//! Restarting nodes after their objects changed: one at a time through `roll` (the leader
//! last), and the later phases of a certificate rotation, each applied and rolled.

use std::collections::BTreeMap;

use anyhow::Result;

use super::progress::set_progress;
use super::Executor;
use crate::domain::Disk;
use crate::plan::{Outcome, Plan};
use crate::rotation::Phase;
use crate::secrets;

impl Executor<'_> {
    /// Restarts the changed nodes one at a time (it reports each node itself, so no spinner).
    pub(super) fn roll(&self, steps: Vec<crate::roll::Step>, outcome: &mut Outcome) -> Result<()> {
        if let Some(lock) = self.lock {
            lock.check()?;
        }
        set_progress(format!(
            "{}; interrupted while restarting nodes one at a time",
            outcome.describe()
        ));
        self.report.info(&format!(
            "restarting {} node(s) one at a time, the leader last",
            steps.len()
        ));
        let roller = crate::roll::Roller {
            spec: self.spec,
            kubectl: self.kubectl,
            report: self.report,
            timeout: self.roll_timeout,
            lock: self.lock,
        };
        let total = steps.len();
        outcome.restarted.extend(roller.run(steps)?);
        outcome.objects_applied += total;
        set_progress(outcome.describe());
        Ok(())
    }

    /// The certificate rotation's later phases, each applied and rolled, then the record
    /// without the rotation. Each starts from what the cluster holds now.
    pub(super) fn rotate(
        &self,
        plan: &Plan,
        created: &BTreeMap<String, Disk>,
        first: Phase,
        outcome: &mut Outcome,
    ) -> Result<()> {
        let mut phase = first;
        while let Some(next) = phase.next() {
            let state = self.kubectl.cluster_state(self.spec)?;
            let material = secrets::material(self.spec, &state.secrets, false, Some(next))?;
            let manifests = self.final_manifests(plan, created, material, Some(next))?;
            let (now, roll) = if self.rolling {
                crate::roll::split(manifests, &state.live)
            } else {
                (manifests, Vec::new())
            };
            let label = format!(
                "certificate rotation, phase {}: applying {} object(s)",
                next.as_str(),
                now.len()
            );
            self.step(&label, outcome, || self.kubectl.apply(&now))?;
            if !roll.is_empty() {
                self.roll(roll, outcome)?;
            }
            phase = next;
        }
        let record = [self.record(plan, None)];
        self.step("recording the finished rotation", outcome, || {
            self.kubectl.apply(&record)
        })?;
        outcome.rotated = true;
        Ok(())
    }
}

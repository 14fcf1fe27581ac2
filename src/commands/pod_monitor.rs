//! The Prometheus Operator's PodMonitor for the nodes' `/metrics` (see `crate::metrics`):
//! in the plan of `create` and `resize` (so `--dry-run` shows it) and applied after their
//! objects where the API server serves `monitoring.coreos.com/v1`
//! PodMonitors (asked of discovery on every run, so installing the operator later and
//! re-running adds it), removed when turned off (`--set metrics.podMonitor=false`) and by
//! `delete`. Where the API is not served nothing is applied and nothing fails; a failed
//! look is a warning, as the cluster itself is already up.

use anyhow::Result;

use super::session::Session;
use crate::manifest::ObjectRef;
use crate::metrics::{
    self, PodMonitorStep, POD_MONITOR_API, POD_MONITOR_KUBECTL, POD_MONITOR_RESOURCE,
};
use crate::names::selector_string;

/// Whether the API is served; a failed look is said and taken as "not served".
fn served(s: &Session) -> bool {
    match s.kubectl.serves(POD_MONITOR_API, POD_MONITOR_RESOURCE) {
        Ok(served) => served,
        Err(e) => {
            s.report.warn(&format!(
                "warning: could not tell whether {POD_MONITOR_API} PodMonitors are served, so \
                 none was applied: {}",
                crate::adapters::kubectl::first_line(&format!("{e:#}"))
            ));
            false
        }
    }
}

/// Removes the PodMonitor and its user Secret, if there are any.
fn remove(s: &Session) -> Result<()> {
    s.kubectl
        .delete_labelled(POD_MONITOR_KUBECTL, &selector_string(&s.spec))?;
    s.kubectl.delete(&[ObjectRef {
        kind: "Secret".into(),
        name: metrics::auth_secret_name(&s.spec),
    }])
}

/// The plan's step (see `metrics::step`): discovery says whether the API is served, and where
/// the PodMonitor is not wanted, a get whether there is one to delete.
pub(super) fn plan(s: &Session) -> Result<Option<PodMonitorStep>> {
    if !served(s) {
        return Ok(None);
    }
    let present = !metrics::wanted(&s.spec)
        && !s
            .kubectl
            .get_json(&[
                POD_MONITOR_KUBECTL.into(),
                metrics::pod_monitor_name(&s.spec),
                "--ignore-not-found".into(),
            ])?
            .is_null();
    Ok(metrics::step(&s.spec, true, present))
}

/// Carries the plan's step out, once the cluster's objects are applied.
pub(super) fn carry_out(s: &Session, step: Option<&PodMonitorStep>) -> Result<()> {
    match step {
        Some(PodMonitorStep::Apply { name }) => {
            s.kubectl.apply(&metrics::manifests(&s.spec))?;
            s.report.info(&format!(
                "metrics: PodMonitor {name} scrapes every node's /metrics"
            ));
            Ok(())
        }
        Some(PodMonitorStep::Delete { .. }) => remove(s),
        None => Ok(()),
    }
}

pub(super) fn after_delete(s: &Session) -> Result<()> {
    if served(s) {
        remove(s)?;
    }
    Ok(())
}

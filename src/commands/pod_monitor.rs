//! The Prometheus Operator's PodMonitor for the nodes' `/metrics` (see `crate::metrics`):
//! applied after `create` where the API server serves `monitoring.coreos.com/v1`
//! PodMonitors (asked of discovery on every run, so installing the operator later and
//! re-running adds it), removed when turned off (`--set metrics.podMonitor=false`) and by
//! `delete`. Where the API is not served nothing is applied and nothing fails; a failed
//! look is a warning, as the cluster itself is already up.

use anyhow::Result;

use super::session::Session;
use crate::manifest::ObjectRef;
use crate::metrics::{self, POD_MONITOR_API, POD_MONITOR_KUBECTL, POD_MONITOR_RESOURCE};
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

pub(super) fn after_create(s: &Session) -> Result<()> {
    if !served(s) {
        return Ok(());
    }
    if metrics::wanted(&s.spec) {
        s.kubectl.apply(&metrics::manifests(&s.spec))?;
        s.report.info(&format!(
            "metrics: PodMonitor {} scrapes every node's /metrics",
            metrics::pod_monitor_name(&s.spec)
        ));
        Ok(())
    } else {
        remove(s)
    }
}

pub(super) fn after_delete(s: &Session) -> Result<()> {
    if served(s) {
        remove(s)?;
    }
    Ok(())
}

//! The restore step of `create --from-backup`, between making the disks and starting the
//! nodes: the vendor's truncate-checkpoint Job on every disk made from the backup, with a
//! marker ConfigMap that remembers which disks are done, so an interrupted run resumes.

use std::time::Duration;

use anyhow::Result;

use crate::adapters::kubectl::{JobsEnd, Kubectl};
use crate::backup::restore::{self, Progress};
use crate::domain::Backup;
use crate::manifest::{Manifest, ObjectRef};
use crate::spec::Spec;

/// The restore marker, if there is one.
pub(super) fn progress(kubectl: &Kubectl, spec: &Spec) -> Result<Option<Progress>> {
    let cm = kubectl.get_json(&[
        "configmap".to_string(),
        restore::marker_name(spec),
        "--ignore-not-found".to_string(),
    ])?;
    Ok(Progress::from_configmap(&cm))
}

/// The restore step on every new disk whose step has not run: the storage objects first (the
/// Jobs mount the claims), then one Job per node, then the marker.
pub(super) fn run_restore(
    kubectl: &Kubectl,
    spec: &Spec,
    backup: &Backup,
    manifests: &[Manifest],
) -> Result<()> {
    let (objects, claims) = restore::storage(manifests);
    let mut marker = progress(kubectl, spec)?.unwrap_or(Progress {
        backup: backup.name.clone(),
        done: Default::default(),
    });
    let todo: Vec<&restore::NodeClaim> = claims
        .iter()
        .filter(|c| !marker.done.contains(&c.handle))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    kubectl.apply(&objects)?;
    let uid = spec.profile.u64("runAsUser")?;
    let jobs: Vec<Manifest> = todo.iter().map(|c| restore::job(spec, c, uid)).collect();
    let refs: Vec<ObjectRef> = jobs.iter().map(|j| j.object.clone()).collect();
    // A finished Job of the same name from an earlier, interrupted run would be immutable.
    kubectl.delete(&refs)?;
    kubectl.apply(&jobs)?;
    wait_jobs(kubectl, spec, &refs)?;
    marker.done.extend(todo.iter().map(|c| c.handle.clone()));
    kubectl.apply(&[marker.manifest(spec)])?;
    kubectl.delete(&refs)
}

/// Waits until every Job succeeded (a failed one stops the run, naming it).
fn wait_jobs(kubectl: &Kubectl, spec: &Spec, jobs: &[ObjectRef]) -> Result<()> {
    let selector = format!("{}={}", restore::RESTORE_LABEL, spec.name);
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    let (timeout, poll) = (Duration::from_secs(300), Duration::from_millis(250));
    match kubectl.wait_jobs(&selector, &names, timeout, poll)? {
        JobsEnd::Done => Ok(()),
        JobsEnd::Failed(failed) => {
            let j = failed.first().map_or("?", String::as_str);
            anyhow::bail!(
                "restore Job {j} failed (is /db/chaser.chk on the disk?); see `kubectl logs job/{j}`"
            )
        }
        JobsEnd::TimedOut => anyhow::bail!("restore Jobs did not finish within 300s"),
    }
}

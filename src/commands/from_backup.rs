//! `create --from-backup`'s guard and marker: a restore makes a new cluster, so it is refused
//! where the cluster has data, unless this restore was started here (the marker says so); the
//! marker is written before the first disk is made. The restore step itself is `restore`.

use anyhow::Result;

use super::restore::progress;
use super::session::Session;
use crate::backup::restore::Progress;
use crate::error::Refused;
use crate::plan::Observed;

/// A restore makes a new cluster: refused when the cluster (its record) or any disk of it (or
/// one with a wanted name) exists, unless a restore from the same backup was started here
/// (the marker says so): a run stopped mid-way, which a re-run finishes, or a finished one,
/// for which the re-run is a no-op.
pub(super) fn refuse_existing_disks(s: &Session, observed: &Observed) -> Result<()> {
    let spec = &s.spec;
    if observed.record.is_none() && observed.disks.is_empty() {
        return Ok(());
    }
    let wanted = s.restore.as_ref().map(|b| &b.name);
    let started = progress(&s.kubectl, &s.spec)?.is_some_and(|p| Some(&p.backup) == wanted);
    let ours = observed
        .disks
        .iter()
        .all(|d| d.owner == crate::domain::Owner::This);
    if started && ours {
        return Ok(());
    }
    let what = if observed.disks.is_empty() {
        "its record exists".to_string()
    } else {
        let names: Vec<&str> = observed.disks.iter().map(|d| d.name.as_str()).collect();
        format!("disk(s) {} exist", names.join(", "))
    };
    Err(Refused::new(format!(
        "--from-backup makes a new cluster, but cluster {} in namespace {} has data ({what}): \
         delete it first (`esk delete --yes`) or restore under another --name",
        spec.name, spec.namespace
    ))
    .into())
}

/// Before the first disk is made: the marker that says a restore from this backup is under
/// way. A fresh restore (no disks yet) starts with nothing done; an interrupted one keeps what
/// it had done.
pub(super) fn begin_restore(s: &Session, observed: &Observed) -> Result<()> {
    let Some(backup) = &s.restore else {
        return Ok(());
    };
    let kept = progress(&s.kubectl, &s.spec)?
        .filter(|p| p.backup == backup.name && !observed.disks.is_empty());
    if kept.is_some() {
        return Ok(());
    }
    let marker = kept.unwrap_or(Progress {
        backup: backup.name.clone(),
        done: Default::default(),
    });
    s.kubectl.apply(&[marker.manifest(&s.spec)])
}

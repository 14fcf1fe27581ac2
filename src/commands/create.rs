//! `esk create N`: make what is missing (disks, objects), restart what changed, record the
//! cluster; a re-run is a no-op. Also the way back from a backup (`--from-backup`) and the way
//! in for the old scripts' disks (`--adopt-disks`).

use anyhow::Result;

use super::session::{Run, Session};
use super::{backup, default_credentials, replicas_flag};
use crate::cli::{json_output, node_count, CreateArgs, Global};
use crate::error::{Refused, UsageError};
use crate::plan::{self, AdoptPattern, Observed, Plan};
use crate::report::Reporter;
use crate::spec::Cloud;

pub(super) fn run(g: &Global, args: &CreateArgs, report: &Reporter) -> Result<()> {
    run_as(g, args, report, false)
}

/// `only_grow` (`esk disks grow`): the run may grow claims and nothing that shows: a plan that
/// would also make, adopt or delete a disk or restart a node is refused before any change.
pub(super) fn run_as(
    g: &Global,
    args: &CreateArgs,
    report: &Reporter,
    only_grow: bool,
) -> Result<()> {
    let nodes = node_count(&args.nodes)?;
    let json = json_output(&args.output)?;
    let adopt = args
        .adopt_disks
        .as_deref()
        .map(AdoptPattern::parse)
        .transpose()?;
    let replicas = replicas_flag(&args.read_only_replicas)?;
    let from_backup = args.from_backup.as_deref();
    let mut s = Session::open(g, nodes, report, true)?;
    s.set_replicas(replicas)?;
    if adopt.is_some() && matches!(s.spec.cloud, Cloud::Kind | Cloud::Dynamic) {
        return Err(UsageError::new(format!(
            "--adopt-disks takes over cloud disks (gke, aws); with --cloud {} there are none to \
             adopt",
            s.spec.cloud
        ))
        .into());
    }
    if adopt.is_some() && from_backup.is_some() {
        return Err(UsageError::new("--adopt-disks and --from-backup cannot be combined").into());
    }
    if let Some(b) = from_backup {
        backup::prepare_restore(&mut s, b)?;
    }
    let make = |s: &mut Session| -> Result<(Plan, Observed)> {
        let names = plan::wanted_disk_names(&s.spec, adopt.as_ref());
        let observed = s.observe(&names, false)?;
        if from_backup.is_some() {
            super::from_backup::refuse_existing_disks(s, &observed)?;
        }
        let plan = plan::plan_create(
            &s.spec,
            &observed,
            adopt.as_ref(),
            &|name, i| s.disks.planned_source(name, i),
            &|nodes| s.templates.render(&s.spec, nodes),
        )?;
        let mut plan = plan;
        plan::plan_growth(&s.spec, &observed, &mut plan)?;
        let (mut plan, rendered) = s.linted(plan, g.force)?;
        plan.restart = s.restarts(&rendered, &observed, !args.all_at_once);
        plan.pod_monitor = super::pod_monitor::plan(s)?;
        if only_grow {
            refuse_more_than_growth(&plan)?;
        }
        Ok((plan, observed))
    };
    let (plan, observed, lock) = s.plan_locked(g, args.dry_run, &make)?;
    if s.restore.is_some() && !args.dry_run {
        s.check_refusal()?;
        super::from_backup::begin_restore(&s, &observed)?;
    }
    let mut run = Run::apply(
        g,
        args.dry_run,
        args.rotate_certs,
        args.wait,
        args.timeout,
        json,
    );
    run.rolling = !args.all_at_once;
    let pod_monitor = plan.pod_monitor.clone();
    s.finish(plan, &observed, run, lock.as_ref())?;
    if !args.dry_run {
        default_credentials::after_create(&s)?;
        super::pod_monitor::carry_out(&s, pod_monitor.as_ref())?;
    }
    Ok(())
}

/// `esk disks grow` changes disk sizes only: anything else in the plan comes from flags that
/// differ from what the cluster was made with, which `esk create` is for.
fn refuse_more_than_growth(plan: &Plan) -> Result<()> {
    use crate::plan::DiskStep;
    let disks = plan
        .disks
        .iter()
        .filter(|d| !matches!(d, DiskStep::Keep { .. } | DiskStep::KeepSurplus { .. }))
        .count();
    if disks > 0 || !plan.restart.nodes.is_empty() || !plan.delete.is_empty() {
        return Err(Refused::new(format!(
            "esk disks grow only grows disks, and with these flags the run would also {}: \
             pass the flags the cluster was made with, or run esk create",
            if disks > 0 {
                format!("make or change {disks} disk(s)")
            } else if !plan.restart.nodes.is_empty() {
                format!("restart {}", plan.restart.nodes.join(", "))
            } else {
                let objects: Vec<String> = plan.delete.iter().map(|o| o.to_string()).collect();
                format!("delete {}", objects.join(", "))
            }
        ))
        .into());
    }
    Ok(())
}

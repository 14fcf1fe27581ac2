//! `esk resize M`: resize by recreating with M nodes; disks 1..min(N, M) are kept, new nodes
//! get new disks, surplus disks stay unless `--prune-disks`.

use anyhow::Result;

use super::replicas_flag;
use super::session::{Run, Session};
use crate::cli::{json_output, node_count, Global, ResizeArgs};
use crate::error::UsageError;
use crate::plan::{self, Observed, Plan};
use crate::report::Reporter;

pub(super) fn run(g: &Global, args: &ResizeArgs, report: &Reporter) -> Result<()> {
    let json = json_output(&args.output)?;
    let nodes = node_count(&args.nodes)?;
    let replicas = replicas_flag(&args.read_only_replicas)?;
    let mut s = Session::open(g, nodes, report, true)?;
    s.set_replicas(replicas)?;
    let make = |s: &mut Session| -> Result<(Plan, Observed)> {
        let observed = s.observe(&plan::wanted_disk_names(&s.spec, None), false)?;
        let plan = plan::plan_resize(
            &s.spec,
            &observed,
            args.prune_disks,
            &|name, i| s.disks.planned_source(name, i),
            &|nodes| s.templates.render(&s.spec, nodes),
        )?;
        let mut plan = plan;
        plan::plan_growth(&s.spec, &observed, &mut plan)?;
        if !plan.migrate.is_empty() {
            // A resize deletes every node workload before it applies; a migration needs all
            // but one node up. One at a time: grow (which migrates), then resize.
            return Err(UsageError::new(format!(
                "cluster {} was made by an earlier esk: its claims must be moved to esk's \
                 StorageClass before they can grow, which `esk disks grow SIZE` does node by \
                 node; run it first, then resize",
                s.spec.name
            ))
            .into());
        }
        let (mut plan, _) = s.linted(plan, g.force)?;
        plan.pod_monitor = super::pod_monitor::plan(s)?;
        Ok((plan, observed))
    };
    let (plan, observed, lock) = s.plan_locked(g, args.dry_run, &make)?;
    let run = Run::apply(
        g,
        args.dry_run,
        args.rotate_certs,
        args.wait,
        args.timeout,
        json,
    );
    let pod_monitor = plan.pod_monitor.clone();
    s.finish(plan, &observed, run, lock.as_ref())?;
    if !args.dry_run {
        super::pod_monitor::carry_out(&s, pod_monitor.as_ref())?;
    }
    Ok(())
}

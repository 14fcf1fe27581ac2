//! `esk delete [--keep-disks]`: remove everything esk applied for the cluster; its disks only
//! without `--keep-disks`, only those labelled for this cluster, and only once confirmed.

use std::time::Duration;

use anyhow::Result;

use super::session::{Run, Session};
use crate::cli::{json_output, DeleteArgs, Global};
use crate::plan::{self, Observed, Plan};
use crate::report::Reporter;
use crate::spec::NodeCount;

pub(super) fn run(g: &Global, args: &DeleteArgs, report: &Reporter) -> Result<()> {
    let json = json_output(&args.output)?;
    let mut s = Session::open(g, NodeCount::new(1)?, report, false)?;
    let make = |s: &mut Session| -> Result<(Plan, Observed)> {
        let observed = s.observe(&[], true)?;
        Ok((
            plan::plan_delete(&s.spec, &observed, args.keep_disks),
            observed,
        ))
    };
    let (plan, observed, lock) = s.plan_locked(g, args.dry_run, &make)?;
    let run = Run {
        dry_run: args.dry_run,
        yes: g.yes,
        rotate_certs: false,
        wait: None,
        rolling: false,
        roll_timeout: Duration::ZERO,
        detach_timeout: Duration::from_secs(g.detach_timeout),
        json,
    };
    s.finish(plan, &observed, run, lock.as_ref())?;
    if !args.dry_run {
        super::pod_monitor::after_delete(&s)?;
    }
    Ok(())
}

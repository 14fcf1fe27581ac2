//! `esk restart`: every voting node restarted one at a time through the roll (followers
//! first, the leader last and asked to resign first), each back in the cluster before the
//! next; `esk node restart I` (see `node.rs`) is the same for one node. A node restarts by a
//! new annotation on its Deployment's pod template, as `kubectl rollout restart` does, so
//! nothing else about it changes and a later `create` keeps it. Both hold the cluster lock;
//! `--dry-run` prints the plan. Refused (exit 3, nothing changed) when the cluster could lose
//! quorum.

use std::time::Duration;

use anyhow::Result;

use super::existing::{found, open};
use crate::cli::{Global, RestartArgs};
use crate::error::Refused;
use crate::health::{self, clock, observe};
use crate::report::Reporter;
use crate::roll::restart_plan::{self, node_index};
use crate::roll::{Change, Roller, Step};
use crate::spec::Workload;

pub(super) fn run(
    g: &Global,
    node: Option<&str>,
    args: &RestartArgs,
    report: &Reporter,
) -> Result<()> {
    // Checked before anything runs; against the cluster's size once it is read.
    if let Some(raw) = node {
        node_index(raw, crate::spec::NodeCount::MAX)?;
    }
    let (base, kubectl, _) = open(g)?;
    let lock = if args.dry_run {
        None
    } else {
        super::session::try_lock(&kubectl, &base, g, report)?
    };
    let objects = observe::read_objects(&kubectl, &base)?;
    let spec = found(g, base, &objects)?;
    let wanted: Vec<u8> = match node {
        Some(raw) => vec![node_index(raw, spec.nodes.get())?],
        None => (1..=spec.nodes.get()).collect(),
    };
    if spec.workload == Workload::StatefulSet {
        return Err(Refused::new(
            "restarting nodes one at a time needs the default per-node Deployments; a \
             StatefulSet restarts all its pods together (kubectl rollout restart statefulset)",
        )
        .into());
    }
    let proxy = kubectl.proxy()?;
    let obs = observe::observe(&kubectl, &proxy, &spec)?;
    let now = clock::now();
    let health = health::assess(&spec, &obs, now);
    let plan = restart_plan::plan(&health, &wanted, g.force)?;
    print!("{plan}");
    if args.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(());
    }
    drop(proxy);
    // To the microsecond: a second restart within the same second is a new template too.
    let at = crate::clock::format_micros(crate::clock::now_micros());
    let steps: Vec<Step> = plan
        .order
        .iter()
        .map(|p| Step {
            index: p.index,
            change: Change::Restart {
                workload: spec.node_name(p.index),
                at: at.clone(),
            },
        })
        .collect();
    let roller = Roller {
        spec: &spec,
        kubectl: &kubectl,
        report,
        timeout: Duration::from_secs(args.timeout),
        lock: lock.as_ref(),
    };
    let done = roller.run(steps)?;
    println!("restarted one at a time: {}", done.join(", "));
    Ok(())
}

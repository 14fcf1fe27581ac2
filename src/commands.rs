//! One function per command: validate everything, observe, plan, then (unless --dry-run)
//! confirm and execute. Every check that can refuse runs before the first mutating call.

use std::time::Duration;

use anyhow::Result;

use crate::adapters::process::set_verbose;
use crate::cli::{json_output, node_count, Cli, Command};
use crate::error::UsageError;
use crate::lint;
use crate::plan::{self, AdoptPattern, Observed, Plan};
use crate::report::{Reporter, Verbosity};
use crate::spec::{Cloud, NodeCount};

mod backup;
mod default_credentials;
mod offline;
mod report;
mod session;

pub use offline::offline_manifests;
use offline::{credentials, doctor, render, replicas_flag};
use report::confirm_deletion;
use session::{Run, Session};

pub fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    set_verbose(g.verbose);
    let report = Reporter::new(if g.quiet {
        Verbosity::Quiet
    } else if g.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    });
    match &cli.command {
        Command::Render {
            nodes,
            output,
            include_secrets,
            read_only_replicas,
        } => render(
            g,
            node_count(nodes)?,
            replicas_flag(read_only_replicas)?.unwrap_or(0),
            output,
            *include_secrets,
        ),
        Command::Create {
            nodes,
            dry_run,
            adopt_disks,
            rotate_certs,
            all_at_once,
            wait,
            timeout,
            output,
            read_only_replicas,
            from_backup,
        } => {
            let nodes = node_count(nodes)?;
            let json = json_output(output)?;
            let adopt = adopt_disks
                .as_deref()
                .map(AdoptPattern::parse)
                .transpose()?;
            let replicas = replicas_flag(read_only_replicas)?;
            let mut s = Session::open(g, nodes, &report, true)?;
            s.set_replicas(replicas)?;
            if adopt.is_some() && matches!(s.spec.cloud, Cloud::Kind | Cloud::Dynamic) {
                return Err(UsageError::new(format!(
                    "--adopt-disks takes over cloud disks (gke, aws); with --cloud {} there \
                     are none to adopt",
                    s.spec.cloud
                ))
                .into());
            }
            if adopt.is_some() && from_backup.is_some() {
                return Err(
                    UsageError::new("--adopt-disks and --from-backup cannot be combined").into(),
                );
            }
            if let Some(b) = from_backup {
                backup::prepare_restore(&mut s, b)?;
            }
            let make = |s: &mut Session| -> Result<(Plan, Observed)> {
                let names = plan::wanted_disk_names(&s.spec, adopt.as_ref());
                let observed = s.observe(&names, false)?;
                if from_backup.is_some() {
                    backup::refuse_existing_disks(s, &observed)?;
                }
                let plan = plan::plan_create(
                    &s.spec,
                    &observed,
                    adopt.as_ref(),
                    &|name, i| s.disks.planned_source(name, i),
                    &|nodes| s.templates.render(&s.spec, nodes),
                )?;
                let (mut plan, rendered) = s.linted(plan, g.force)?;
                plan.restart = s.restarts(&rendered, &observed, !*all_at_once);
                Ok((plan, observed))
            };
            let (plan, observed, lock) = s.plan_locked(g, *dry_run, &make)?;
            if s.restore.is_some() && !*dry_run {
                s.check_refusal()?;
                backup::begin_restore(&s, &observed)?;
            }
            let mut run = Run::apply(g, *dry_run, *rotate_certs, *wait, *timeout, json);
            run.rolling = !*all_at_once;
            s.finish(plan, &observed, run, lock.as_ref())?;
            if !*dry_run {
                default_credentials::after_create(&s)?;
            }
            Ok(())
        }
        Command::Resize {
            nodes,
            prune_disks,
            dry_run,
            rotate_certs,
            wait,
            timeout,
            output,
            read_only_replicas,
        } => {
            let json = json_output(output)?;
            let nodes = node_count(nodes)?;
            let replicas = replicas_flag(read_only_replicas)?;
            let mut s = Session::open(g, nodes, &report, true)?;
            s.set_replicas(replicas)?;
            let make = |s: &mut Session| -> Result<(Plan, Observed)> {
                let observed = s.observe(&plan::wanted_disk_names(&s.spec, None), false)?;
                let plan = plan::plan_resize(
                    &s.spec,
                    &observed,
                    *prune_disks,
                    &|name, i| s.disks.planned_source(name, i),
                    &|nodes| s.templates.render(&s.spec, nodes),
                )?;
                Ok((s.linted(plan, g.force)?.0, observed))
            };
            let (plan, observed, lock) = s.plan_locked(g, *dry_run, &make)?;
            s.finish(
                plan,
                &observed,
                Run::apply(g, *dry_run, *rotate_certs, *wait, *timeout, json),
                lock.as_ref(),
            )
        }
        Command::Credentials => credentials(g),
        Command::Lint { files, output } => lint::command::run(files, output),
        Command::Doctor { nodes } => doctor(g, nodes.as_deref()),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "esk", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            man.render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Read(verb) => crate::status_cmd::run(g, verb, &report),
        Command::Backup(verb) => backup::run(g, verb, &report),
        Command::Delete {
            keep_disks,
            dry_run,
            output,
        } => {
            let json = json_output(output)?;
            let mut s = Session::open(g, NodeCount::new(1)?, &report, false)?;
            let make = |s: &mut Session| -> Result<(Plan, Observed)> {
                let observed = s.observe(&[], true)?;
                Ok((plan::plan_delete(&s.spec, &observed, *keep_disks), observed))
            };
            let (plan, observed, lock) = s.plan_locked(g, *dry_run, &make)?;
            let run = Run {
                dry_run: *dry_run,
                yes: g.yes,
                rotate_certs: false,
                wait: None,
                rolling: false,
                roll_timeout: Duration::ZERO,
                detach_timeout: Duration::from_secs(g.detach_timeout),
                json,
            };
            s.finish(plan, &observed, run, lock.as_ref())
        }
    }
}

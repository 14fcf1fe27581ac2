//! One function per command: validate everything, observe, plan, then (unless --dry-run)
//! confirm and execute. Every check that can refuse runs before the first mutating call.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::adapters;
use crate::adapters::kubectl::Kubectl;
use crate::adapters::process::set_verbose;
use crate::adapters::DiskAdapter;
use crate::cli::{node_count, Cli, Command, Global};
use crate::error::{Refused, UsageError};
use crate::execute::{Executor, Outcome};
use crate::manifest::{to_yaml_stream, Manifest};
use crate::plan::{self, AdoptPattern, Observed, Plan};
use crate::render::{NodeDisk, Templates};
use crate::report::{Reporter, Verbosity};
use crate::spec::{Cloud, NodeCount, Spec};

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
        Command::Render { nodes, output } => render(g, node_count(nodes)?, output),
        Command::Create {
            nodes,
            dry_run,
            adopt_disks,
        } => {
            let nodes = node_count(nodes)?;
            let adopt = adopt_disks
                .as_deref()
                .map(AdoptPattern::parse)
                .transpose()?;
            let s = Session::open(g, nodes, &report)?;
            let observed = s.observe(&plan::wanted_disk_names(&s.spec, adopt.as_ref()))?;
            let plan = plan::plan_create(
                &s.spec,
                &observed,
                adopt.as_ref(),
                &|name, i| s.disks.planned_source(name, i),
                &|nodes| s.templates.render(&s.spec, nodes),
            )?;
            s.finish(plan, *dry_run, g.yes)
        }
        Command::Resize {
            nodes,
            prune_disks,
            dry_run,
        } => {
            let s = Session::open(g, node_count(nodes)?, &report)?;
            let observed = s.observe(&plan::wanted_disk_names(&s.spec, None))?;
            let plan = plan::plan_resize(
                &s.spec,
                &observed,
                *prune_disks,
                &|name, i| s.disks.planned_source(name, i),
                &|nodes| s.templates.render(&s.spec, nodes),
            )?;
            s.finish(plan, *dry_run, g.yes)
        }
        Command::Delete {
            keep_disks,
            dry_run,
        } => {
            let s = Session::open(g, NodeCount::new(1)?, &report)?;
            let observed = s.observe(&[])?;
            let plan = plan::plan_delete(&s.spec, &observed, *keep_disks);
            s.finish(plan, *dry_run, g.yes)
        }
    }
}

/// `esk render`: manifests only; no cluster, no cloud.
fn render(g: &Global, nodes: NodeCount, output: &str) -> Result<()> {
    let cloud = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
    let spec = g.spec(nodes, cloud)?;
    let templates = Templates::load(g.templates.as_deref())?;
    let disks = adapters::offline(&spec)?;
    let node_disks: Vec<NodeDisk> = spec
        .nodes
        .indices()
        .map(|i| NodeDisk {
            index: i,
            source: disks.planned_source(&spec.disk_name(i), i),
        })
        .collect();
    let manifests = templates.render(&spec, &node_disks)?;
    if let Some(w) = spec.nodes.quorum_warning() {
        eprintln!("{w}");
    }
    if output == "-" {
        print!("{}", to_yaml_stream(&manifests));
        Ok(())
    } else {
        write_dir(Path::new(output), &manifests)
    }
}

fn write_dir(dir: &Path, manifests: &[Manifest]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (i, m) in manifests.iter().enumerate() {
        let file = dir.join(format!(
            "{:02}-{}-{}.yaml",
            i + 1,
            m.object.kind.to_lowercase(),
            m.object.name
        ));
        std::fs::write(&file, to_yaml_stream(std::slice::from_ref(m)))
            .with_context(|| format!("writing {}", file.display()))?;
    }
    eprintln!("wrote {} manifests to {}", manifests.len(), dir.display());
    Ok(())
}

/// What every cluster command sets up before it looks at anything.
struct Session<'a> {
    spec: Spec,
    templates: Templates,
    kubectl: Kubectl,
    disks: Box<dyn DiskAdapter>,
    zone: String,
    notes: Vec<String>,
    report: &'a Reporter,
}

impl<'a> Session<'a> {
    fn open(g: &Global, nodes: NodeCount, report: &'a Reporter) -> Result<Session<'a>> {
        // Everything that can be checked without a process is checked first.
        let explicit = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
        g.spec(nodes, explicit.or(Some(Cloud::Gke)))?;
        let templates = Templates::load(g.templates.as_deref())?;
        let kubectl = Kubectl::new(g.context.clone(), &g.namespace)?;
        let context = kubectl.current_context()?;
        let detected = explicit.or_else(|| context.as_deref().and_then(Cloud::from_context));
        let spec = g.spec(nodes, detected)?;
        let connected = adapters::connect(&spec, context.as_deref(), &kubectl)?;
        Ok(Session {
            spec,
            templates,
            kubectl,
            disks: connected.disks,
            zone: connected.zone,
            notes: connected.notes,
            report,
        })
    }

    /// The cluster's objects and record, then its disks (by label, plus `names`).
    fn observe(&self, names: &[String]) -> Result<Observed> {
        let (state, namespace_exists) = std::thread::scope(|s| {
            let ns = s.spawn(|| self.kubectl.namespace_exists());
            let state = self.kubectl.cluster_state(&self.spec);
            (
                state,
                ns.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            )
        });
        let state = state?;
        if let Some(r) = &state.record {
            if r.cloud != self.spec.cloud.as_str() {
                return Err(UsageError::new(format!(
                    "cluster {} was created with --cloud {}; pass --cloud {}",
                    self.spec.name, r.cloud, r.cloud
                ))
                .into());
            }
        }
        let disks = self.disks.list(names)?;
        Ok(Observed {
            disks,
            objects: state.objects,
            record: state.record,
            namespace_exists: namespace_exists?,
        })
    }

    fn finish(&self, mut plan: Plan, dry_run: bool, yes: bool) -> Result<()> {
        plan.warnings.splice(0..0, self.notes.iter().cloned());
        if dry_run {
            print!("{plan}");
            println!("Dry run: nothing was changed.");
            return Ok(());
        }
        for w in &plan.warnings {
            self.report.warn(w);
        }
        confirm_disk_deletion(&plan, yes)?;
        let executor = Executor {
            spec: &self.spec,
            disks: self.disks.as_ref(),
            kubectl: &self.kubectl,
            templates: &self.templates,
            report: self.report,
            zone: self.zone.clone(),
        };
        let outcome = executor.run(&plan)?;
        println!("{}", summary(&self.spec, &plan, &outcome));
        Ok(())
    }
}

/// Deleting disks destroys data: ask on a terminal, refuse elsewhere unless --yes.
fn confirm_disk_deletion(plan: &Plan, yes: bool) -> Result<()> {
    let doomed: Vec<&str> = plan
        .disks_to_delete()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    if doomed.is_empty() || yes {
        return Ok(());
    }
    let list = doomed.join(", ");
    if !std::io::stdin().is_terminal() {
        return Err(Refused::new(format!(
            "refusing to delete {} disk(s) ({list}) without --yes: stdin is not a terminal",
            doomed.len()
        ))
        .into());
    }
    eprint!(
        "Delete {} disk(s) and all their data: {list}? Type 'yes' to confirm: ",
        doomed.len()
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Refused::new("disk deletion not confirmed; nothing was changed").into())
    }
}

fn summary(spec: &Spec, plan: &Plan, o: &Outcome) -> String {
    let verb = match plan.action {
        plan::Action::Create => "created",
        plan::Action::Resize => "resized",
        plan::Action::Delete => "deleted",
    };
    let mut parts = Vec::new();
    if plan.action != plan::Action::Delete {
        parts.push(format!("{} node(s)", spec.nodes));
    }
    parts.push(format!(
        "disks: {} created, {} adopted, {} kept, {} deleted",
        o.disks_created.len(),
        o.disks_adopted.len(),
        o.disks_kept.len(),
        o.disks_deleted.len()
    ));
    parts.push(format!(
        "objects: {} applied, {} deleted",
        o.objects_applied, o.objects_deleted
    ));
    let mut line = format!(
        "esk: {verb} cluster {} in namespace {}: {}",
        spec.name,
        spec.namespace,
        parts.join("; ")
    );
    if plan.action == plan::Action::Delete && !o.disks_kept.is_empty() {
        line.push_str(&format!("\nkept disks: {}", o.disks_kept.join(", ")));
    }
    line
}

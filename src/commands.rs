//! One function per command: validate everything, observe, plan, then (unless --dry-run)
//! confirm and execute. Every check that can refuse runs before the first mutating call.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::adapters;
use crate::adapters::kubectl::Kubectl;
use crate::adapters::process::set_verbose;
use crate::adapters::DiskAdapter;
use crate::cli::{json_output, node_count, Cli, Command, Global};
use crate::error::{Refused, UsageError};
use crate::execute::{Executor, Outcome};
use crate::lint;
use crate::lock::{self, ClusterLock};
use crate::manifest::{to_yaml_stream, Manifest};
use crate::plan::{self, AdoptPattern, Observed, Plan};
use crate::render::{NodeDisk, Templates};
use crate::report::{Reporter, Verbosity};
use crate::secrets;
use crate::spec::{Cloud, NodeCount, Spec, Workload};

mod backup;

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
            s.finish(plan, &observed, run, lock.as_ref())
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

/// `esk doctor`: the report on stdout; exit 6 if a check failed.
fn doctor(g: &Global, nodes: Option<&str>) -> Result<()> {
    let nodes = nodes.map(node_count).transpose()?;
    let report = crate::doctor::checks::run(g, nodes)?;
    print!("{report}");
    match report.failures() {
        0 => Ok(()),
        n => Err(crate::error::ChecksFailed(n).into()),
    }
}

/// `esk credentials`: the passwords, only when asked for, to stdout.
fn credentials(g: &Global) -> Result<()> {
    let spec = g.spec(NodeCount::new(1)?, Some(Cloud::Gke))?;
    let kubectl = Kubectl::new(g.context.clone(), &g.namespace)?;
    let name = secrets::credentials_secret(&spec);
    let secret = kubectl.get_json(&[
        "secret".to_string(),
        name.clone(),
        "--ignore-not-found".to_string(),
    ])?;
    let data = secrets::decode(&secret["data"]);
    match (data.get("admin-password"), data.get("ops-password")) {
        (Some(admin), Some(ops)) => {
            println!("admin: {admin}");
            println!("ops: {ops}");
            Ok(())
        }
        _ => Err(UsageError::new(format!(
            "no Secret {name} with passwords in namespace {} (clusters made with --insecure \
             have none)",
            spec.namespace
        ))
        .into()),
    }
}

/// `--read-only-replicas K`, validated; `None` when not given (a re-run keeps the record's).
fn replicas_flag(raw: &Option<String>) -> Result<Option<u8>, UsageError> {
    raw.as_deref().map(crate::spec::replica_count).transpose()
}

/// `esk render`: manifests only; no cluster, no cloud.
fn render(
    g: &Global,
    nodes: NodeCount,
    replicas: u8,
    output: &str,
    include_secrets: bool,
) -> Result<()> {
    let cloud = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
    let mut spec = g.spec(nodes, cloud)?;
    spec.set_replicas(replicas)?;
    let templates = Templates::load(g.templates.as_deref())?;
    let manifests = offline_manifests(&spec, &templates, include_secrets)?;
    if spec.security.tls && !include_secrets {
        eprintln!(
            "note: TLS Secrets and passwords are generated by `esk create`; \
             `esk render --include-secrets` prints fresh ones"
        );
    }
    for w in plan::spec_warnings(&spec) {
        eprintln!("{w}");
    }
    if output == "-" {
        print!("{}", to_yaml_stream(&manifests));
        Ok(())
    } else {
        write_dir(Path::new(output), &manifests)
    }
}

/// Every manifest for `spec` without a cluster: disks as they would be created, and (only if
/// asked) freshly generated TLS material.
pub fn offline_manifests(
    spec: &Spec,
    templates: &Templates,
    include_secrets: bool,
) -> Result<Vec<Manifest>> {
    let disks = adapters::offline(spec)?;
    let node_disks: Vec<NodeDisk> = spec
        .members()
        .map(|i| NodeDisk {
            index: i,
            source: disks.planned_source(&spec.disk_name(i), i),
        })
        .collect();
    let mut manifests = Vec::new();
    if include_secrets {
        manifests.extend(secrets::material(spec, &Default::default(), false, None)?.0);
    }
    manifests.extend(templates.render(spec, &node_disks)?);
    Ok(manifests)
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
        // Secrets hold private keys: only the owner may read them.
        let mode = if m.object.kind == "Secret" {
            0o600
        } else {
            0o644
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&file)
            .with_context(|| format!("writing {}", file.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(to_yaml_stream(std::slice::from_ref(m)).as_bytes())
            .with_context(|| format!("writing {}", file.display()))?;
    }
    eprintln!("wrote {} manifests to {}", manifests.len(), dir.display());
    Ok(())
}

/// Waits for a scoped thread, passing its panic on.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// How a command runs once planned.
#[derive(Clone, Copy)]
struct Run {
    dry_run: bool,
    yes: bool,
    rotate_certs: bool,
    wait: Option<std::time::Duration>,
    /// Restart changed nodes one at a time (create; resize recreates them).
    rolling: bool,
    /// How long each restarted node may take to be back.
    roll_timeout: Duration,
    /// How long a disk may stay attached after its pod is gone before esk gives up deleting it.
    detach_timeout: Duration,
    /// Print one JSON document instead of the plan text and summary line.
    json: bool,
}

impl Run {
    /// How create and resize run.
    fn apply(
        g: &Global,
        dry_run: bool,
        rotate_certs: bool,
        wait: bool,
        timeout: u64,
        json: bool,
    ) -> Run {
        Run {
            dry_run,
            yes: g.yes,
            rotate_certs,
            wait: wait.then(|| std::time::Duration::from_secs(timeout)),
            rolling: false,
            roll_timeout: Duration::from_secs(timeout),
            detach_timeout: Duration::from_secs(g.detach_timeout),
            json,
        }
    }
}

/// What every cluster command sets up before it looks at anything.
struct Session<'a> {
    spec: Spec,
    templates: Templates,
    kubectl: Kubectl,
    disks: Box<dyn DiskAdapter>,
    zone: String,
    notes: Vec<String>,
    /// --profile was given (changing a cluster's profile must be deliberate).
    profile_given: bool,
    /// --read-only-replicas was given; otherwise the record's count is kept.
    replicas_given: bool,
    /// Why this run must not make disks or pods (no Kubernetes node in the zone, no CSI
    /// driver); checked once the plan is known, so input errors are reported first.
    refusal: Option<String>,
    report: &'a Reporter,
    /// `create --from-backup`: the backup every new disk is made from.
    restore: Option<crate::backup::Backup>,
}

impl<'a> Session<'a> {
    /// `preflight`: the run makes disks and pods (create, resize), so the zone's nodes and
    /// the CSI driver are checked.
    fn open(
        g: &Global,
        nodes: NodeCount,
        report: &'a Reporter,
        preflight: bool,
    ) -> Result<Session<'a>> {
        // Everything that can be checked without a process is checked first.
        let explicit = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
        g.spec(nodes, explicit.or(Some(Cloud::Gke)))?;
        let templates = Templates::load(g.templates.as_deref())?;
        let mut kubectl = Kubectl::new(g.context.clone(), &g.namespace)?;
        let context = kubectl.current_context()?;
        kubectl.pin_context(context.clone());
        let detected = explicit.or_else(|| context.as_deref().and_then(Cloud::from_context));
        let mut spec = g.spec(nodes, detected)?;
        if spec.workload == Workload::StatefulSet && spec.cloud == Cloud::Dynamic {
            return Err(UsageError::new(
                "--workload statefulset binds pre-provisioned disks (gke, aws, kind); with \
                 --cloud dynamic use the default workload",
            )
            .into());
        }
        let mut notes = Vec::new();
        let csi = preflight && matches!(spec.cloud, Cloud::Gke | Cloud::Aws);
        let (kube_id, cluster) = std::thread::scope(|s| {
            let nodes = s.spawn(|| kubectl.cluster_nodes(csi));
            (kubectl.cluster_id(), join(nodes))
        });
        spec.kube_id = kube_id?;
        let cluster = cluster?;
        let connected = adapters::connect(&spec, context.as_deref(), &kubectl)?;
        if spec.profile.str("node.antiAffinity")? == "auto" {
            let available =
                crate::doctor::schedulable_nodes(spec.cloud, &connected.zone, &cluster.nodes);
            if available < usize::from(spec.nodes.get()) {
                spec.security.required_anti_affinity = false;
                let zone = crate::doctor::topology_key(spec.cloud)
                    .map(|_| format!(" in zone {}", connected.zone))
                    .unwrap_or_default();
                notes.push(format!(
                    "warning: the cluster has {available} Kubernetes node(s){zone} for {} \
                     EventStore nodes, so spreading them is only preferred: one machine \
                     failing can take down more than one node",
                    spec.nodes
                ));
            }
        }
        let refusal = preflight
            .then(|| crate::doctor::create_refusal(spec.cloud, &connected.zone, &cluster))
            .flatten();
        if let (true, Err(e)) = (csi, &cluster.csi_drivers) {
            notes.push(format!("warning: could not check the CSI driver: {e}"));
        }
        Ok(Session {
            spec,
            templates,
            kubectl,
            disks: connected.disks,
            zone: connected.zone,
            notes: [notes, connected.notes].concat(),
            profile_given: g.profile.is_some(),
            replicas_given: false,
            refusal,
            report,
            restore: None,
        })
    }

    /// The replica count asked for; without the flag the record's is used once observed.
    fn set_replicas(&mut self, replicas: Option<u8>) -> Result<()> {
        if let Some(k) = replicas {
            self.spec.set_replicas(k)?;
            self.replicas_given = true;
        }
        Ok(())
    }

    /// The cluster's objects and record, then its disks (by label, plus `names`).
    /// `deleting`: any workload may be deleted without naming it.
    fn observe(&mut self, names: &[String], deleting: bool) -> Result<Observed> {
        // Three independent looks, at once: the disks' list is the slow one.
        let (state, namespace_exists, disks) = std::thread::scope(|s| {
            let ns = s.spawn(|| self.kubectl.namespace_exists());
            let disks = s.spawn(|| self.disks.list(names));
            let state = self.kubectl.cluster_state(&self.spec);
            (state, join(ns), join(disks))
        });
        let state = state?;
        if let Some(r) = &state.record {
            if !self.replicas_given && !deleting {
                self.spec.set_replicas(r.replicas)?;
            }
            let warnings = r.check(&self.spec, &self.zone, deleting, self.profile_given)?;
            self.notes.extend(warnings);
            let auto = self.spec.profile.str("node.antiAffinity")? == "auto";
            if auto && !r.anti_affinity.is_empty() {
                // Decided when the cluster was made; a changed node count must not restart it.
                self.spec.security.required_anti_affinity = r.anti_affinity == "required";
                self.notes
                    .retain(|n| !n.contains("spreading them is only preferred"));
            }
        }
        Ok(Observed {
            disks: disks?,
            objects: state.objects,
            record: state.record,
            namespace_exists: namespace_exists?,
            secrets: state.secrets,
            live: state.live,
        })
    }

    /// Observes and plans (`make`) under the cluster lock; --dry-run takes none. A missing
    /// namespace holds no cluster and no Lease: there the plan is made first, so every usage
    /// error and refusal comes before any change; only a plan that changes something then
    /// creates the namespace, takes the lock and is made again under it. Disks are never
    /// deleted without the lock: a delete that would (its namespace gone, its disks kept) is
    /// refused.
    fn plan_locked(
        &mut self,
        g: &Global,
        dry_run: bool,
        make: &dyn Fn(&mut Session) -> Result<(Plan, Observed)>,
    ) -> Result<(Plan, Observed, Option<ClusterLock>)> {
        if dry_run {
            let (plan, observed) = make(self)?;
            return Ok((plan, observed, None));
        }
        if let Some(lock) = self.try_lock(g)? {
            let (plan, observed) = make(self)?;
            return Ok((plan, observed, Some(lock)));
        }
        let (plan, observed) = make(self)?;
        self.check_refusal()?;
        if plan.action == plan::Action::Delete && !plan.disks_to_delete().is_empty() {
            return Err(Refused::new(format!(
                "namespace {} does not exist, so the cluster lock cannot be taken; its disks are \
                 kept: create the namespace (kubectl create namespace {}) and re-run to delete \
                 them",
                self.spec.namespace, self.spec.namespace
            ))
            .into());
        }
        if plan.is_noop() || plan.action == plan::Action::Delete {
            return Ok((plan, observed, None));
        }
        self.kubectl
            .apply(&[crate::execute::namespace_manifest(&self.spec)])?;
        let lock = self.try_lock(g)?.with_context(|| {
            format!(
                "namespace {} is still missing after creating it",
                self.spec.namespace
            )
        })?;
        let (plan, observed) = make(self)?;
        Ok((plan, observed, Some(lock)))
    }

    /// The lock, or `None` when the namespace (and so any cluster in it) does not exist.
    fn try_lock(&self, g: &Global) -> Result<Option<ClusterLock>> {
        let me = lock::Holder::me(&command_line());
        let timeout = Duration::from_secs(g.lock_timeout);
        Ok(
            match lock::acquire(&self.kubectl, &self.spec, &me, timeout, self.report)? {
                lock::Acquired::Held(l) => Some(l),
                lock::Acquired::NoNamespace => None,
            },
        )
    }

    /// Lints what the plan would apply (with --templates that matters): errors refuse unless
    /// --force, warnings join the plan's.
    /// Returns the render too, for what else is read from it.
    fn linted(&self, mut plan: Plan, force: bool) -> Result<(Plan, Vec<Manifest>)> {
        let rendered = self.templates.render(&self.spec, &plan.node_disks())?;
        plan.warnings
            .extend(lint::refuse_on_errors(&rendered, force)?);
        Ok((plan, rendered))
    }

    /// The running nodes this plan restarts, and whether one at a time: only the per-node
    /// Deployments roll (resize recreates; a StatefulSet rolls by its own controller).
    fn restarts(&self, rendered: &[Manifest], observed: &Observed, rolling: bool) -> plan::Restart {
        plan::Restart {
            nodes: crate::roll::restarts(rendered, observed),
            rolling: rolling && self.spec.workload == Workload::Deployment,
            rotation: None,
        }
    }

    /// The preflight's refusal (no Kubernetes node in the disks' zone, no CSI driver).
    fn check_refusal(&self) -> Result<()> {
        match &self.refusal {
            Some(why) => Err(Refused::new(why.clone()).into()),
            None => Ok(()),
        }
    }

    fn finish(
        &self,
        mut plan: Plan,
        observed: &Observed,
        run: Run,
        lock: Option<&ClusterLock>,
    ) -> Result<()> {
        let Run {
            dry_run,
            yes,
            rotate_certs,
            wait,
            rolling,
            roll_timeout,
            detach_timeout,
            json,
        } = run;
        plan.warnings.splice(0..0, self.notes.iter().cloned());
        self.check_refusal()?;
        // A rotation under way is continued from its phase; --rotate-certs starts one (in
        // phases when nodes roll, else the CA and certificates are replaced at once).
        let recorded = observed
            .record
            .as_ref()
            .and_then(|r| crate::rotation::Phase::parse(&r.rotation));
        let rolling = rolling && plan.restart.rolling;
        let rotation = if plan.apply.is_empty() || !self.spec.security.tls {
            None
        } else {
            // A stored CA esk cannot sign with cannot be trusted alongside a new one, so
            // its rotation replaces the CA and every certificate in one step.
            let usable = secrets::check_ca(&self.spec, &observed.secrets, false).is_ok();
            recorded
                .or((rotate_certs && rolling && usable)
                    .then_some(crate::rotation::Phase::TrustBoth))
        };
        plan.restart.rotation = rotation.map(|p| p.as_str().to_string());
        if let (Some(p), false) = (recorded, rotate_certs) {
            plan.warnings.push(format!(
                "continuing the certificate rotation from phase {}",
                p.as_str()
            ));
        }
        if !plan.apply.is_empty() {
            secrets::check_ca(&self.spec, &observed.secrets, rotate_certs)?;
        }
        if dry_run {
            if json {
                println!("{:#}", plan::json::document(&self.spec, &plan, None));
            } else {
                print!("{plan}");
                println!("Dry run: nothing was changed.");
            }
            return Ok(());
        }
        for w in &plan.warnings {
            self.report.warn(w);
        }
        confirm_disk_deletion(&plan, yes)?;
        let restore = |m: &[Manifest]| match &self.restore {
            Some(b) => backup::run_restore(self, b, m),
            None => Ok(()),
        };
        let executor = Executor {
            spec: &self.spec,
            disks: self.disks.as_ref(),
            kubectl: &self.kubectl,
            templates: &self.templates,
            report: self.report,
            zone: self.zone.clone(),
            secrets: &observed.secrets,
            rotate_certs: rotate_certs && rotation.is_none(),
            wait,
            detach_timeout,
            lock,
            live: &observed.live,
            rolling,
            roll_timeout,
            rotation,
            before_apply: self.restore.is_some().then_some(&restore as _),
        };
        let outcome = executor.run(&plan)?;
        if json {
            println!(
                "{:#}",
                plan::json::document(&self.spec, &plan, Some(&outcome))
            );
        } else {
            println!("{}", summary(&self.spec, &plan, &outcome));
        }
        Ok(())
    }
}

/// The command as typed, for the lock's holder annotation (JSON-escaped where it is written).
fn command_line() -> String {
    std::env::args().skip(1).collect::<Vec<_>>().join(" ")
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
    ask_yes(
        &format!(
            "Delete {} disk(s) and all their data: {list}?",
            doomed.len()
        ),
        "disk deletion",
    )
}

/// Asks on the terminal; anything but `yes` refuses, naming `what` was not confirmed.
fn ask_yes(question: &str, what: &str) -> Result<()> {
    eprint!("{question} Type 'yes' to confirm: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Refused::new(format!("{what} not confirmed; nothing was changed")).into())
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
        if spec.replicas > 0 {
            parts.push(format!("{} read-only replica(s)", spec.replicas));
        }
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
    if !o.restarted.is_empty() {
        line.push_str(&format!(
            "\nrestarted one at a time: {}",
            o.restarted.join(", ")
        ));
    }
    if plan.action == plan::Action::Delete && !o.disks_kept.is_empty() {
        line.push_str(&format!("\nkept disks: {}", o.disks_kept.join(", ")));
    }
    line
}

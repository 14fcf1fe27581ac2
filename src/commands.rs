//! One file a verb (as helm's `pkg/action`): each validates everything, observes, plans, then
//! (unless --dry-run) confirms and executes, over the shared [`session`]. Every check that can
//! refuse runs before the first mutating call. This file only dispatches.

use anyhow::Result;

use crate::adapters::process::set_verbose;
use crate::cli::{Cli, Command, Read};
use crate::error::UsageError;
use crate::report::{Reporter, Verbosity};

mod backup;
mod ca_cert;
mod completions;
mod confirm;
mod connection_string;
mod create;
mod credentials;
mod default_credentials;
mod delete;
mod disks;
mod doctor;
mod existing;
mod finish;
mod from_backup;
mod lint;
mod logs;
mod man;
mod node;
mod pod_monitor;
mod render;
mod replace;
mod report;
mod resize;
mod restart;
mod restore;
mod session;
mod status;
mod ui;

pub use render::offline_manifests;

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
        } => render::run(g, nodes, read_only_replicas, output, *include_secrets),
        Command::Create(args) => create::run(g, args, &report),
        Command::Resize(args) => resize::run(g, args, &report),
        Command::Delete(args) => delete::run(g, args, &report),
        Command::Disks(verb) => disks::run(g, verb, &report),
        Command::Backup(verb) => backup::run(g, verb, &report),
        Command::Credentials => credentials::run(g),
        Command::Lint(args) => lint::run(args),
        Command::Doctor { nodes } => doctor::run(g, nodes.as_deref()),
        Command::Completions { shell } => completions::run(*shell),
        Command::Man => man::run(),
        Command::Logs(args) => logs::run(g, args),
        Command::Report { output } => report::run(g, output.as_deref()),
        Command::Ui { node, port } => ui::run(g, node.as_deref(), port),
        Command::Restart(args) => restart::run(g, None, args, &report),
        Command::Node(verb) => node::run(g, verb, &report),
        Command::Read(Read::Status {
            output,
            wait,
            timeout,
        }) => status::run(g, output, wait.then_some(*timeout), &report),
        Command::Read(Read::ConnectionString {
            show_password,
            ca_file,
        }) => connection_string::run(g, *show_password, ca_file),
        Command::Read(Read::CaCert { output }) => ca_cert::run(g, output.as_deref()),
    }
}

/// `--read-only-replicas K`, validated; `None` when not given (a re-run keeps the record's).
fn replicas_flag(raw: &Option<String>) -> Result<Option<u8>, UsageError> {
    raw.as_deref().map(crate::spec::replica_count).transpose()
}

//! `esk completions SHELL`: a completion script for the shell, from clap's definition of esk.

use anyhow::Result;

use crate::cli::Cli;

pub(super) fn run(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "esk", &mut std::io::stdout());
    Ok(())
}

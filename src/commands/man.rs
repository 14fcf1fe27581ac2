//! `esk man`: the man page (roff), from clap's definition of esk.

use anyhow::Result;

use crate::cli::Cli;

pub(super) fn run() -> Result<()> {
    let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
    man.render(&mut std::io::stdout())?;
    Ok(())
}

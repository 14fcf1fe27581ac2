//! `esk doctor [N]`: can esk work here? One line per check with its fix; changes nothing.

use anyhow::Result;

use crate::cli::{node_count, Global};

/// `esk doctor`: the report on stdout; exit 6 if a check failed.
pub(super) fn run(g: &Global, nodes: Option<&str>) -> Result<()> {
    let nodes = nodes.map(node_count).transpose()?;
    let report = crate::doctor::checks::run(g, nodes)?;
    print!("{report}");
    match report.failures() {
        0 => Ok(()),
        n => Err(crate::error::ChecksFailed(n).into()),
    }
}

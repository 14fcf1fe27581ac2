//! `esk lint [FILE|DIR|-]...`: EventStore-specific rules over any manifests; the rules live in
//! `crate::lint`, this is the verb.

use anyhow::Result;

use crate::cli::LintArgs;

pub(super) fn run(args: &LintArgs) -> Result<()> {
    crate::lint::command::run(&args.files, &args.output)
}

//! `esk node …`: one node at a time. `node restart I` restarts node I safely (see
//! `restart.rs`): refused when the cluster could lose quorum, the leader resigns first.

use anyhow::Result;

use crate::cli::{Global, NodeVerb};
use crate::report::Reporter;

pub(super) fn run(g: &Global, verb: &NodeVerb, report: &Reporter) -> Result<()> {
    match verb {
        NodeVerb::Restart { node, args } => super::restart::run(g, Some(node), args, report),
    }
}

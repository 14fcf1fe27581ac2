//! `esk node …`: one node at a time. `node restart I` restarts node I safely (see
//! `restart.rs`): refused when the cluster could lose quorum, the leader resigns first.
//! `node replace I` and `node move I --zone Z` give node I a new disk (see `replace.rs`).

use anyhow::Result;

use crate::cli::{Global, NodeVerb};
use crate::report::Reporter;

pub(super) fn run(g: &Global, verb: &NodeVerb, report: &Reporter) -> Result<()> {
    match verb {
        NodeVerb::Restart { node, args } => super::restart::run(g, Some(node), args, report),
        NodeVerb::Replace {
            node,
            empty,
            from_backup,
            args,
        } => {
            let how = match (empty, from_backup) {
                (true, _) => super::replace::How::Empty,
                (false, Some(name)) => super::replace::How::Backup(name.clone()),
                (false, None) => super::replace::How::Fresh,
            };
            super::replace::run(g, node, how, args, report)
        }
        NodeVerb::Move { node, args } => {
            super::replace::run(g, node, super::replace::How::Move, args, report)
        }
    }
}

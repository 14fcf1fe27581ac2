//! `esk doctor [N]`: can esk work here? One line per check with its fix; changes nothing.

use anyhow::Result;

use crate::adapters::kubectl::Kubectl;
use crate::cli::{node_count, Global};
use crate::doctor::checks::{self, Target, DEFAULT_NODES};
use crate::spec::{Cloud, NodeCount};

/// `esk doctor`: the report on stdout; exit 6 if a check failed.
pub(super) fn run(g: &Global, nodes: Option<&str>) -> Result<()> {
    let nodes = nodes.map(node_count).transpose()?;
    let report = checks::run(target(g, nodes)?, nodes)?;
    print!("{report}");
    match report.failures() {
        0 => Ok(()),
        n => Err(crate::error::ChecksFailed(n).into()),
    }
}

/// The doctor's report as text, whatever it found (for `esk report`).
pub(super) fn report_text(g: &Global) -> Result<String> {
    Ok(checks::run(target(g, None)?, None)?.to_string())
}

/// The cluster the flags name, the kube context pinned, and where its cloud came from.
fn target(g: &Global, nodes: Option<NodeCount>) -> Result<Target> {
    let explicit = g.cloud.as_deref().map(str::parse::<Cloud>).transpose()?;
    let count = nodes.map_or(NodeCount::new(DEFAULT_NODES), Ok)?;
    // Bad input is refused before anything runs.
    g.spec(count, explicit.or(Some(Cloud::Gke)))?;
    let mut kubectl = Kubectl::new(g.context.clone(), &g.namespace).ok();
    let context = match &kubectl {
        Some(k) => k.current_context().ok().flatten(),
        None => g.context.clone(),
    };
    if let Some(k) = &mut kubectl {
        k.pin_context(context.clone());
    }
    let detected = context.as_deref().and_then(Cloud::from_context);
    let (cloud, cloud_source) = match (explicit, detected) {
        (Some(c), _) => (Some(c), "--cloud"),
        (None, Some(c)) => (Some(c), "the context name"),
        (None, None) => (None, "the profile"),
    };
    Ok(Target {
        spec: g.spec(count, cloud)?,
        kubectl,
        context,
        cloud_source,
    })
}

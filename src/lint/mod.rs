//! `esk lint`: EventStore-specific rules over any Kubernetes manifests (esk's own render, a
//! hand-written set, a Helm chart's output). Generic linters know Kubernetes; these rules know
//! what an EventStoreDB / KurrentDB cluster needs: one private disk per node, the gossip and
//! replication ports open between nodes, discovery through a headless Service, quorum.
//!
//! Pure: parsed documents in, findings out. `command` reads files and prints; `create` and
//! `resize` call [`refuse_on_errors`] on their own render.
//!
//! This file holds only the entry points, [`lint`] and [`refuse_on_errors`]; what they deal
//! in lives beside it: the rule `catalog`, the `finding`, the parsed `input`.

mod catalog;
mod cluster;
pub mod command;
mod finding;
mod input;
mod inventory;
mod model;
mod netpol;
mod node;
mod rules;
mod zones;

// The paths callers and the rules' modules use (`lint::Finding`, `lint::parse`, ...) stay
// those of before the split.
pub use catalog::{rule_by_id, Rule, Severity, RULES};
pub use finding::{Finding, Object};
pub use input::{kustomization, parse, parse_json, Doc};

use crate::error::Refused;
use crate::manifest::Manifest;

/// Every finding for these documents, errors first, then by rule and object.
pub fn lint(docs: &[Doc]) -> Vec<Finding> {
    let inventory = inventory::Inventory::new(docs);
    let mut findings = rules::run(&inventory);
    findings.sort_by(|a, b| {
        (a.severity, a.rule, &a.object, &a.message)
            .cmp(&(b.severity, b.rule, &b.object, &b.message))
    });
    findings.dedup();
    findings
}

/// `create`/`resize`: lint their own render (which `--templates` can change). Errors refuse
/// (exit 3, nothing changed) unless `force`; what is returned are the lines to show as
/// warnings (with `force`, the errors too).
pub fn refuse_on_errors(manifests: &[Manifest], force: bool) -> anyhow::Result<Vec<String>> {
    let docs: Vec<Doc> = manifests
        .iter()
        .map(|m| Doc {
            value: m.value.clone(),
            file: m.source.clone(),
        })
        .collect();
    let findings = lint(&docs);
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if !errors.is_empty() && !force {
        let list: Vec<String> = errors
            .iter()
            .map(|f| format!("{} {}: {}", f.rule, f.object, f.message))
            .collect();
        return Err(Refused::new(format!(
            "the rendered manifests fail {} lint rule check(s): {}; fix the templates (see \
             `esk render N | esk lint`) or add --force to apply them anyway",
            errors.len(),
            list.join("; ")
        ))
        .into());
    }
    Ok(findings
        .iter()
        .map(|f| match f.severity {
            Severity::Error => format!(
                "warning: lint error {} {}: {} (applied anyway: --force)",
                f.rule, f.object, f.message
            ),
            Severity::Warning => format!("warning: lint {} {}: {}", f.rule, f.object, f.message),
        })
        .collect())
}

#[cfg(test)]
mod tests;

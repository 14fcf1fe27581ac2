//! The terminal side of a run: confirmations and the one-line summary.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use crate::error::Refused;
use crate::plan::{self, Outcome, Plan};
use crate::spec::Spec;

/// The command as typed, for the lock's holder annotation (JSON-escaped where it is written).
pub(super) fn command_line() -> String {
    std::env::args().skip(1).collect::<Vec<_>>().join(" ")
}

/// Deleting disks destroys data: ask on a terminal, refuse elsewhere unless --yes.
pub(super) fn confirm_disk_deletion(plan: &Plan, yes: bool) -> Result<()> {
    let doomed: Vec<&str> = plan
        .disks_to_delete()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    let list = doomed.join(", ");
    confirm_deletion(
        yes,
        &format!("{} disk(s) ({list})", doomed.len()),
        &format!(
            "Delete {} disk(s) and all their data: {list}?",
            doomed.len()
        ),
        "disk deletion",
    )
}

/// The one rule for deleting data (disks, backups): `--yes`, or `yes` typed on a terminal;
/// without a terminal, refused. `doomed` names what would go, `what` the kind of deletion.
pub(super) fn confirm_deletion(yes: bool, doomed: &str, question: &str, what: &str) -> Result<()> {
    confirm(
        yes,
        question,
        &format!("refusing to delete {doomed} without --yes: stdin is not a terminal"),
        &format!("{what} not confirmed; nothing was changed"),
    )
}

/// A change that cannot be taken back by esk (a node's new disk): the same rule.
pub(super) fn confirm_change(yes: bool, question: &str, what: &str) -> Result<()> {
    confirm(
        yes,
        question,
        &format!("refusing to {what} without --yes: stdin is not a terminal"),
        &format!("not confirmed: {what}; nothing was changed"),
    )
}

/// `--yes`, or `yes` typed on a terminal after `question`; without a terminal refused with
/// `no_terminal`, any other answer with `declined`.
fn confirm(yes: bool, question: &str, no_terminal: &str, declined: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refused::new(no_terminal).into());
    }
    eprint!("{question} Type 'yes' to confirm: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Refused::new(declined).into())
    }
}

pub(super) fn summary(spec: &Spec, plan: &Plan, o: &Outcome) -> String {
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
    if !o.claims_migrated.is_empty() {
        let class = plan
            .migrate
            .first()
            .map(|m| m.class.as_str())
            .unwrap_or("?");
        line.push_str(&format!(
            "\nre-made claims {} with StorageClass {class} (made by an earlier esk without one; \
             each node restarted once)",
            o.claims_migrated.join(", ")
        ));
    }
    if !o.disks_grown.is_empty() {
        let to = plan.grow.first().map(|g| g.to.as_str()).unwrap_or("?");
        line.push_str(&format!(
            "\ngrew claims {} to {to} online (no restart)",
            o.disks_grown.join(", ")
        ));
    }
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

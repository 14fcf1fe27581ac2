//! `esk disks prune`: deletes the disks `esk node replace` kept (esk's own, never adopted or
//! foreign ones), under the cluster lock and after confirmation.
//!
//! `esk disks grow SIZE`: a shortcut for re-running `create` with the cluster's node count and
//! `--set disk.sizeGb=SIZE`, through the same spec → observe → plan → execute path; it refuses
//! a run that would change anything but the disks' size.

use anyhow::Result;

use super::confirm::confirm_deletion;
use super::session::Session;
use super::{create, existing};
use crate::cli::{json_output, CreateArgs, DisksVerb, Global};
use crate::domain::{Disk, Owner};
use crate::error::Refused;
use crate::error::UsageError;
use crate::report::Reporter;
use crate::spec::NodeCount;

pub(super) fn run(g: &Global, verb: &DisksVerb, report: &Reporter) -> Result<()> {
    match verb {
        DisksVerb::Grow {
            size,
            dry_run,
            timeout,
            output,
        } => grow(g, size, *dry_run, *timeout, output, report),
        DisksVerb::Prune { dry_run } => prune(g, *dry_run, report),
    }
}

fn prune(g: &Global, dry_run: bool, report: &Reporter) -> Result<()> {
    let mut s = Session::open(g, NodeCount::new(1)?, report, false)?;
    let lock = if dry_run {
        None
    } else {
        Some(s.try_lock(g)?.ok_or_else(|| {
            Refused::new(format!(
                "namespace {} does not exist, so the cluster lock cannot be taken; create it \
                 (kubectl create namespace {}) and re-run",
                s.spec.namespace, s.spec.namespace
            ))
        })?)
    };
    let observed = s.observe(&[], true)?;
    let doomed: Vec<Disk> = observed
        .disks
        .into_iter()
        .filter(|d| d.owner == Owner::This && d.replaced.is_some())
        .collect();
    if doomed.is_empty() {
        println!(
            "no replaced disks of cluster {} in namespace {}",
            s.spec.name, s.spec.namespace
        );
        return Ok(());
    }
    println!(
        "Replaced disks of cluster {} in namespace {}:",
        s.spec.name, s.spec.namespace
    );
    for d in &doomed {
        let node = d
            .replaced
            .map(crate::spec::member_label)
            .unwrap_or_default();
        println!(
            "  {} (zone {}, was node {node}'s)",
            d.name, d.source.topology_value
        );
    }
    if dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(());
    }
    let names: Vec<&str> = doomed.iter().map(|d| d.name.as_str()).collect();
    let list = names.join(", ");
    confirm_deletion(
        g.yes,
        &format!("{} disk(s) ({list})", doomed.len()),
        &format!(
            "Delete {} replaced disk(s) and all their data: {list}?",
            doomed.len()
        ),
        "disk deletion",
    )?;
    if let Some(l) = &lock {
        l.check()?;
    }
    let detach = std::time::Duration::from_secs(g.detach_timeout);
    report.step(
        &format!("deleting {} replaced disk(s)", doomed.len()),
        || s.disks.delete(&doomed, detach),
    )?;
    println!(
        "esk: pruned cluster {} in namespace {}: deleted replaced disk(s) {list}",
        s.spec.name, s.spec.namespace
    );
    Ok(())
}

fn grow(
    g: &Global,
    size: &str,
    dry_run: bool,
    timeout: u64,
    output: &str,
    report: &Reporter,
) -> Result<()> {
    let gb = parse_size(size)?;
    json_output(output)?;
    let (spec, kubectl, _) = existing::open(g)?;
    let mut with_size = g.clone();
    with_size.set.push(format!("disk.sizeGb={gb}"));
    // Validates the size as the profile key is (a whole number it accepts).
    with_size.spec(spec.nodes, Some(spec.cloud))?;
    // No cluster: exit 12, as every verb that reads one.
    let record = kubectl
        .cluster_state(&spec)?
        .record
        .ok_or_else(|| existing::not_found(&spec))?;
    let args = CreateArgs {
        nodes: record.nodes.to_string(),
        dry_run,
        adopt_disks: None,
        read_only_replicas: None,
        rotate_certs: false,
        all_at_once: false,
        wait: false,
        timeout,
        output: output.to_string(),
        from_backup: None,
    };
    create::run_as(&with_size, &args, report, true)
}

/// SIZE in GiB, as `disk.sizeGb` counts: `50` or `50Gi`; anything else is refused in one
/// line (a `G` or `GB` would be ambiguous between 10^9 and 2^30 bytes).
fn parse_size(raw: &str) -> Result<u64, UsageError> {
    let digits = raw.strip_suffix("Gi").unwrap_or(raw);
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && !digits.starts_with('+') => Ok(n),
        _ => Err(UsageError::new(format!(
            "disk size \"{}\" must be a whole number of GiB, e.g. 50 or 50Gi",
            raw.escape_debug()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_are_whole_gib() {
        assert_eq!(parse_size("50").unwrap(), 50);
        assert_eq!(parse_size("50Gi").unwrap(), 50);
        for bad in ["", "0", "50G", "50GB", "-5", "+5", "5.5", "50Ti", "Gi"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}

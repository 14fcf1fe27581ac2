//! How full each node's disk is: the kubelet's volume statistics (the file system's capacity
//! and used bytes, what `df` shows inside the pod), read through the API server's node proxy
//! at `/api/v1/nodes/NODE/proxy/stats/summary`: one call per Kubernetes node that runs one of
//! the cluster's pods, all at once. Reading needs `get` on `nodes/proxy`, which many roles do
//! not grant; then status says so once and shows the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::facts::label;
use crate::adapters::kube_proxy::KubeProxy;
use crate::adapters::process::parallel_map;
use crate::manifest::COMPONENT;
use crate::spec::Spec;

/// A disk this full gets a warning with the command that grows it.
pub const WARN_PERCENT: u64 = 80;
/// Kubernetes nodes asked at once.
const CONCURRENCY: usize = 16;
/// How long one kubelet may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Claim name → its use.
pub type Found = BTreeMap<String, DiskUse>;

/// One claim's file system as its kubelet measures it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskUse {
    pub capacity_bytes: u64,
    pub used_bytes: u64,
    /// Used share of the capacity, rounded up (a disk 80.1 % full is 81 %).
    pub used_percent: u64,
}

impl DiskUse {
    pub fn new(capacity_bytes: u64, used_bytes: u64) -> DiskUse {
        let used_percent = match capacity_bytes {
            0 => 100,
            c => (u128::from(used_bytes) * 100)
                .div_ceil(u128::from(c))
                .min(100) as u64,
        };
        DiskUse {
            capacity_bytes,
            used_bytes,
            used_percent,
        }
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1}Gi", bytes as f64 / f64::from(1u32 << 30))
}

/// The Kubernetes nodes running the cluster's node and replica pods.
fn kubelets(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Pod" && matches!(label(o, COMPONENT), Some("node" | "replica")))
        .filter_map(|p| p["spec"]["nodeName"].as_str())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
        .map(str::to_string)
        .collect()
}

/// Every claim's use in the cluster's namespace, keyed by claim name, from the kubelets of
/// the pods among `objects`: `Err` when no kubelet answered (the first reason), `Ok` with what
/// the others said otherwise; None when no pod runs anywhere.
pub fn read(proxy: &KubeProxy, spec: &Spec, objects: &[Value]) -> Option<Result<Found, String>> {
    let nodes: Vec<String> = kubelets(objects).into_iter().collect();
    if nodes.is_empty() {
        return None;
    }
    let replies = parallel_map(&nodes, CONCURRENCY, |node| {
        let reply = proxy.get(
            &format!("/api/v1/nodes/{node}/proxy/stats/summary"),
            TIMEOUT,
        );
        match reply {
            Ok(r) if r.status == 200 => Ok(r.body),
            Ok(r) => Err(super::facts::status_message(&r.body)),
            Err(e) => Err(format!("{e:#}")),
        }
    });
    let mut found = BTreeMap::new();
    let mut failed = None;
    for (node, reply) in nodes.iter().zip(replies) {
        match reply.and_then(|body| parse(&body, spec.namespace.as_str(), &mut found)) {
            Ok(()) => {}
            Err(e) => {
                failed.get_or_insert(format!("Kubernetes node {node}: {e}"));
            }
        }
    }
    Some(match failed {
        Some(e) if found.is_empty() => Err(e),
        _ => Ok(found),
    })
}

/// Adds the claims of `namespace` found in one kubelet's summary.
pub fn parse(
    body: &str,
    namespace: &str,
    into: &mut BTreeMap<String, DiskUse>,
) -> Result<(), String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("its stats are not JSON: {e}"))?;
    let volumes = doc["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["volume"].as_array().cloned().unwrap_or_default());
    for v in volumes {
        let claim = &v["pvcRef"];
        if claim["namespace"] != namespace {
            continue;
        }
        let (Some(name), Some(capacity), Some(used)) = (
            claim["name"].as_str(),
            v["capacityBytes"].as_u64(),
            v["usedBytes"].as_u64(),
        ) else {
            continue;
        };
        into.insert(name.to_string(), DiskUse::new(capacity, used));
    }
    Ok(())
}

/// The warning for a disk at or past [`WARN_PERCENT`], with the command that grows it.
pub fn warning(node: &str, size: Option<&str>, used: &DiskUse) -> Option<String> {
    if used.used_percent < WARN_PERCENT {
        return None;
    }
    // In GiB, the unit of `disk.sizeGb` (rendered as `Gi`).
    let now = size
        .and_then(crate::quantity::parse_str)
        .map(|b| b / f64::from(1u32 << 30));
    let grow = match now {
        // Half as much again, in whole GiB, leaves room to react next time.
        Some(gb) => format!("`esk disks grow {}`", (gb * 1.5).ceil() as u64),
        None => "`esk disks grow SIZE`".to_string(),
    };
    Some(format!(
        "warning: {node}'s disk is {} full ({} of {} used); grow it before it fills: {grow}",
        format_args!("{}%", used.used_percent),
        gib(used.used_bytes),
        gib(used.capacity_bytes),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up_so_a_full_disk_never_reads_as_less() {
        assert_eq!(DiskUse::new(1000, 801).used_percent, 81);
        assert_eq!(DiskUse::new(1000, 800).used_percent, 80);
        assert_eq!(DiskUse::new(0, 0).used_percent, 100);
        assert_eq!(DiskUse::new(10, 20).used_percent, 100);
    }

    #[test]
    fn only_claims_of_the_namespace_are_read() {
        let body = r#"{"pods":[{"volume":[
            {"name":"data","capacityBytes":1000,"usedBytes":900,
             "pvcRef":{"name":"es-data-1","namespace":"db"}},
            {"name":"data","capacityBytes":1000,"usedBytes":10,
             "pvcRef":{"name":"es-data-1","namespace":"other"}},
            {"name":"tmp","capacityBytes":5,"usedBytes":1}]}]}"#;
        let mut found = BTreeMap::new();
        parse(body, "db", &mut found).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found["es-data-1"].used_percent, 90);
        assert!(parse("<html>", "db", &mut found).is_err());
    }

    #[test]
    fn the_warning_starts_at_eighty_percent_and_names_a_bigger_size() {
        assert!(warning("es-1", Some("10Gi"), &DiskUse::new(100, 79)).is_none());
        let w = warning("es-1", Some("10Gi"), &DiskUse::new(100, 80)).unwrap();
        assert!(w.contains("es-1's disk is 80% full"), "{w}");
        assert!(w.contains("`esk disks grow 15`"), "{w}");
    }
}

//! `esk doctor`: a preflight that says, one line per check, whether `esk create` can work here
//! and how to fix what would stop it. What is checked is data (the permissions esk needs, the
//! minimum versions); `kube`, `placement` and `cloud` turn what the probes in `checks` found
//! into [`Check`]s (pure functions), and a [`Report`] prints them. `esk create` runs the zone
//! and CSI checks itself ([`create_refusal`]).

pub mod checks;
pub mod cloud;
pub mod kube;
pub mod placement;

use std::fmt;

use crate::adapters::kubectl::ResourceAttributes;
use crate::spec::Cloud;

pub use placement::{
    create_refusal, kube_zones, node_zones, schedulable_nodes, topology_key, usable_nodes,
};

/// The oldest Kubernetes server esk supports.
pub const MIN_SERVER: (u32, u32) = (1, 29);
/// kubectl may be one minor version older than the server (Kubernetes' version-skew policy).
pub const MIN_KUBECTL: (u32, u32) = (1, 28);
/// The oldest Google Cloud CLI accepted (August 2022; esk is tested with 528).
pub const MIN_GCLOUD: (u32, u32) = (400, 0);
/// The oldest AWS CLI v1 and v2 accepted: the first releases that honour `AWS_ENDPOINT_URL`
/// and per-service endpoints (July 2023).
pub const MIN_AWS_V1: (u32, u32) = (1, 29);
pub const MIN_AWS_V2: (u32, u32) = (2, 13);

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Works, but not as well as it could (e.g. spreading only preferred); exit 0.
    Warn,
    Fail,
    /// Could not be checked because an earlier check failed.
    Skip,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    /// What is checked, e.g. `kubectl`, `permissions`.
    pub name: &'static str,
    pub detail: String,
    /// What to do about a failure or warning (empty when passing).
    pub fix: String,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            status: Status::Pass,
            name,
            detail: detail.into(),
            fix: String::new(),
        }
    }

    pub fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Warn,
            name,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Fail,
            name,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    pub fn skip(name: &'static str, why: impl Into<String>) -> Check {
        Check {
            status: Status::Skip,
            name,
            detail: format!("not checked: {}", why.into()),
            fix: String::new(),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "-",
        };
        // Everything shown came from a program or the user: keep each check on one line.
        let flat = |s: &str| s.replace(['\n', '\r'], " ");
        write!(f, "{mark} {}: {}", self.name, flat(&self.detail))?;
        if !self.fix.is_empty() {
            write!(f, " → {}", flat(&self.fix))?;
        }
        Ok(())
    }
}

/// Every check, in the order they are printed.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was checked: cluster, namespace, cloud and where the cloud came from.
    pub target: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "esk doctor: {}", self.target)?;
        for c in &self.checks {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Permissions esk needs on one resource.
pub struct Need {
    pub verbs: &'static [&'static str],
    pub group: &'static str,
    /// The plural, as RBAC names it.
    pub resource: &'static str,
    pub subresource: &'static str,
    /// Asked at the cluster scope (cluster-scoped kinds) rather than in the namespace.
    pub cluster_wide: bool,
    /// The clouds that need it; empty: all of them.
    pub clouds: &'static [Cloud],
}

const fn need(verbs: &'static [&'static str], group: &'static str, resource: &'static str) -> Need {
    Need {
        verbs,
        group,
        resource,
        subresource: "",
        cluster_wide: false,
        clouds: &[],
    }
}

const fn cluster(n: Need) -> Need {
    Need {
        cluster_wide: true,
        ..n
    }
}

const fn on(clouds: &'static [Cloud], n: Need) -> Need {
    Need { clouds, ..n }
}

const fn sub(subresource: &'static str, n: Need) -> Need {
    Need { subresource, ..n }
}

/// What esk applies, reads back and deletes: get (by name, and `delete --wait` polling),
/// list (by label), patch and create (a server-side apply that creates is authorized as
/// both), delete.
const OBJECTS: &[&str] = &["get", "list", "create", "patch", "delete"];

/// Every verb and resource esk uses: `create`, `restart`, `resize`, `delete` and `credentials` (found
/// by reading the adapters and proven by `tests/suite/doctor.rs` against every request they make),
/// the cluster lock (a Lease), and what `status` reads (pods, their proxy and logs, events,
/// volume attachments).
pub const NEEDS: &[Need] = &[
    need(OBJECTS, "", "configmaps"),
    need(OBJECTS, "", "secrets"),
    need(OBJECTS, "", "services"),
    need(OBJECTS, "", "persistentvolumeclaims"),
    need(OBJECTS, "policy", "poddisruptionbudgets"),
    need(OBJECTS, "networking.k8s.io", "networkpolicies"),
    need(OBJECTS, "apps", "deployments"),
    need(OBJECTS, "apps", "statefulsets"),
    // Every cluster's observation lists Jobs; kind's disks are made by them, and on every
    // cloud a roll, `restart` and `node restart` ask the leader to resign through one (with
    // its curl config in a Secret: `roll::resign`), as `credentials` changes 5.x passwords.
    need(OBJECTS, "batch", "jobs"),
    need(
        &["get", "create", "update", "delete"],
        "coordination.k8s.io",
        "leases",
    ),
    need(&["get", "list"], "", "pods"),
    sub("proxy", need(&["get"], "", "pods")),
    sub("log", need(&["get"], "", "pods")),
    need(&["list"], "", "events"),
    cluster(need(&["get", "create", "patch"], "", "namespaces")),
    cluster(need(&["list"], "", "nodes")),
    cluster(need(&["list"], "", "persistentvolumes")),
    cluster(on(
        &[Cloud::Gke, Cloud::Aws, Cloud::Kind],
        need(
            &["get", "create", "patch", "delete"],
            "",
            "persistentvolumes",
        ),
    )),
    cluster(need(&["list"], "storage.k8s.io", "volumeattachments")),
    cluster(on(
        &[Cloud::Gke, Cloud::Aws],
        need(&["list"], "storage.k8s.io", "csidrivers"),
    )),
    // Every run lists the cluster's objects, esk's StorageClass among them; gke and aws
    // apply it (dynamic reads the claims' classes to know whether they expand).
    cluster(need(&["list"], "storage.k8s.io", "storageclasses")),
    cluster(on(
        &[Cloud::Gke, Cloud::Aws],
        need(
            &["get", "create", "patch", "delete"],
            "storage.k8s.io",
            "storageclasses",
        ),
    )),
];

/// The access reviews to ask for `cloud`, namespaced ones in `namespace`.
pub fn questions(cloud: Cloud, namespace: &str) -> Vec<ResourceAttributes> {
    NEEDS
        .iter()
        .filter(|n| n.clouds.is_empty() || n.clouds.contains(&cloud))
        .flat_map(|n| {
            n.verbs.iter().map(move |verb| ResourceAttributes {
                verb: verb.to_string(),
                group: n.group.to_string(),
                resource: n.resource.to_string(),
                subresource: n.subresource.to_string(),
                namespace: (!n.cluster_wide).then(|| namespace.to_string()),
            })
        })
        .collect()
}

/// `verb resource[.group][/subresource]`, as a user would pass it to `kubectl auth can-i`.
pub fn describe(q: &ResourceAttributes) -> String {
    let mut r = q.resource.clone();
    if !q.group.is_empty() {
        r = format!("{r}.{}", q.group);
    }
    if !q.subresource.is_empty() {
        r = format!("{r}/{}", q.subresource);
    }
    format!("{} {r}", q.verb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_follow_the_cloud() {
        let gke: Vec<String> = questions(Cloud::Gke, "ns").iter().map(describe).collect();
        assert!(gke.contains(&"delete persistentvolumes".to_string()));
        assert!(gke.contains(&"list csidrivers.storage.k8s.io".to_string()));
        assert!(gke.contains(&"get pods/proxy".to_string()));
        assert!(gke.contains(&"update leases.coordination.k8s.io".to_string()));
        // The leader's resignation before a restart is a Job on every cloud.
        assert!(gke.contains(&"create jobs.batch".to_string()));
        assert!(gke.contains(&"delete jobs.batch".to_string()));
        let dynamic: Vec<String> = questions(Cloud::Dynamic, "ns")
            .iter()
            .map(describe)
            .collect();
        assert!(dynamic.contains(&"list storageclasses.storage.k8s.io".to_string()));
        assert!(!dynamic.contains(&"delete persistentvolumes".to_string()));
        let kind = questions(Cloud::Kind, "ns");
        let jobs = kind
            .iter()
            .find(|q| q.resource == "jobs" && q.verb == "create");
        assert_eq!(jobs.and_then(|q| q.namespace.as_deref()), Some("ns"));
        let pv = kind.iter().find(|q| q.resource == "persistentvolumes");
        assert_eq!(pv.map(|q| q.namespace.is_none()), Some(true));
    }

    #[test]
    fn checks_print_on_one_line_with_their_fix() {
        let c = Check::fail("nodes", "none in\nus-central1-b", "add nodes");
        assert_eq!(c.to_string(), "✗ nodes: none in us-central1-b → add nodes");
        assert_eq!(
            Check::pass("kubectl", "1.32.4").to_string(),
            "✓ kubectl: 1.32.4"
        );
        let report = Report {
            target: "t".into(),
            checks: vec![c, Check::skip("permissions", "the API is unreachable")],
        };
        assert_eq!(report.failures(), 1);
        assert!(report
            .to_string()
            .ends_with("- permissions: not checked: the API is unreachable\n"));
    }
}

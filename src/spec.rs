//! The validated description of the cluster a command works on. Nothing past argument parsing
//! sees raw user input: every name here has been checked for what Kubernetes and the clouds
//! accept, so it can reach a template or a command line safely.

use std::fmt;
use std::str::FromStr;

use crate::error::UsageError;
use crate::profile::Profile;

mod replica;

pub use crate::domain::Cloud;
pub use crate::domain::{member_label, parse_member, replica_of, REPLICA_BASE};
pub use replica::replica_count;

/// The longest cluster name: leaves room for `-disk-99`, `-frontend` and the like inside the
/// 63-character limit of DNS labels, GCE disk names and label values.
pub const MAX_NAME_LEN: usize = 40;

/// A DNS-1035 label (lower-case letters, digits and '-', starting with a letter and not ending
/// with '-'): valid as a Kubernetes object name, a Service name, a hostname, a GCE disk name and a
/// label value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(what: &str, value: &str, max_len: usize) -> Result<Name, UsageError> {
        let shown = value.escape_debug();
        if value.is_empty() {
            return Err(UsageError::new(format!("{what} must not be empty")));
        }
        if value.len() > max_len {
            return Err(UsageError::new(format!(
                "{what} \"{shown}\" is {} characters long; at most {max_len} are allowed",
                value.len()
            )));
        }
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let starts_ok = value.as_bytes()[0].is_ascii_lowercase();
        let ends_ok = !value.ends_with('-');
        if !(valid_chars && starts_ok && ends_ok) {
            return Err(UsageError::new(format!(
                "{what} \"{shown}\" is not valid: use lower-case letters, digits and '-', \
                 starting with a letter and ending with a letter or digit"
            )));
        }
        Ok(Name(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number of EventStore nodes: 1..=MAX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeCount(u8);

impl NodeCount {
    pub const MAX: u8 = crate::domain::MAX_NODES;

    pub fn new(n: u8) -> Result<NodeCount, UsageError> {
        if n == 0 || n > Self::MAX {
            return Err(UsageError::new(format!(
                "node count must be between 1 and {}, got {n}",
                Self::MAX
            )));
        }
        Ok(NodeCount(n))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// Node indices 1..=N, as the old scripts numbered them.
    pub fn indices(self) -> impl Iterator<Item = u8> {
        1..=self.0
    }

    /// An even-sized cluster tolerates no more failures than the odd size below it.
    pub fn quorum_warning(self) -> Option<String> {
        let n = self.0;
        (n % 2 == 0).then(|| {
            format!(
                "warning: {n} nodes need {} for quorum and survive only {} failure(s), \
                 the same as {} nodes; prefer an odd count",
                n / 2 + 1,
                (n - 1) / 2,
                n - 1
            )
        })
    }
}

impl FromStr for NodeCount {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<NodeCount, UsageError> {
        let trimmed = s.trim();
        let parsed: i64 = trimmed.parse().map_err(|_| {
            UsageError::new(format!(
                "node count must be a whole number between 1 and {}, got \"{}\"",
                Self::MAX,
                s.escape_debug()
            ))
        })?;
        if !(1..=i64::from(Self::MAX)).contains(&parsed) {
            return Err(UsageError::new(format!(
                "node count must be between 1 and {}, got {parsed}",
                Self::MAX
            )));
        }
        NodeCount::new(parsed as u8)
    }
}

impl fmt::Display for NodeCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where on the cloud the disks are made. Project and zone for GKE; region and availability
/// zone for AWS; unused for kind and dynamic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub project: Option<String>,
    pub region: Option<String>,
    pub zone: Option<String>,
    /// `--zones`: the zones to spread the nodes over (empty: one zone, or the default).
    pub zones: Vec<String>,
    /// `--cloud dynamic`: the zones of the Kubernetes cluster's Nodes (their
    /// `topology.kubernetes.io/zone`), over which the pods spread and so, with a
    /// `WaitForFirstConsumer` class, their claims' volumes. Read from the cluster, never a flag.
    pub kube_zones: Vec<String>,
}

/// Reads `--zones Z1,Z2,...`: distinct zone names of one region, on a cloud with zones.
pub fn zone_list(raw: &str, cloud: Cloud) -> Result<Vec<String>, UsageError> {
    if matches!(cloud, Cloud::Kind | Cloud::Dynamic) {
        return Err(UsageError::new(format!(
            "--zones spreads nodes over cloud zones (gke, aws); with --cloud {cloud} every node \
             is in the Kubernetes cluster's one place: drop --zones"
        )));
    }
    let mut zones: Vec<String> = Vec::new();
    for part in raw.split(',') {
        let zone = cloud_id("zone", part.trim())?;
        if zones.contains(&zone) {
            return Err(UsageError::new(format!("--zones names zone {zone} twice")));
        }
        zones.push(zone);
    }
    if zones.len() > usize::from(crate::domain::MAX_NODES) {
        return Err(UsageError::new(
            "--zones names more zones than a cluster has nodes",
        ));
    }
    // GCE zones are REGION-LETTER (us-central1-a); AWS zones REGION plus a letter
    // (us-east-1a; local zones such as us-west-2-lax-1a keep their region as prefix).
    let region = |z: &str| -> Option<String> {
        match cloud {
            Cloud::Gke => z
                .rsplit_once('-')
                .filter(|(r, l)| r.contains('-') && !l.is_empty())
                .map(|(r, _)| r.to_string()),
            _ => z
                .strip_suffix(|c: char| c.is_ascii_lowercase())
                .filter(|r| r.ends_with(|c: char| c.is_ascii_digit()) && r.contains('-'))
                .map(str::to_string),
        }
    };
    let mut regions: Vec<String> = Vec::new();
    for z in &zones {
        let Some(r) = region(z) else {
            return Err(UsageError::new(format!(
                "--zones: \"{z}\" is not a {} zone name (such as {})",
                cloud,
                if cloud == Cloud::Gke {
                    "us-central1-a"
                } else {
                    "us-east-1a"
                }
            )));
        };
        if !regions.contains(&r) {
            regions.push(r);
        }
    }
    if regions.len() > 1 {
        return Err(UsageError::new(format!(
            "--zones must be zones of one region (disks attach only in their region), got \
             regions {}",
            regions.join(", ")
        )));
    }
    Ok(zones)
}

/// Checks a cloud identifier (project, zone, region) before it reaches a command line or a
/// manifest: the clouds use lower-case letters, digits and '-' (and ':' / '.' in legacy
/// domain-scoped GCP project ids).
pub fn cloud_id(what: &str, value: &str) -> Result<String, UsageError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b));
    if ok {
        Ok(value.to_string())
    } else {
        Err(UsageError::new(format!(
            "{what} \"{}\" is not valid: use lower-case letters, digits and '-'",
            value.escape_debug()
        )))
    }
}

/// How the nodes run: one Deployment per node (the old scripts' shape) or one StatefulSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Deployment,
    StatefulSet,
}

impl Workload {
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Deployment => "deployment",
            Workload::StatefulSet => "statefulset",
        }
    }
}

impl FromStr for Workload {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<Workload, UsageError> {
        match s {
            "deployment" => Ok(Workload::Deployment),
            "statefulset" => Ok(Workload::StatefulSet),
            other => Err(UsageError::new(format!(
                "unknown workload \"{}\": use deployment or statefulset",
                other.escape_debug()
            ))),
        }
    }
}

/// Safety choices that change what is rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Security {
    /// TLS between nodes and clients, with esk's CA (20.10+ only; 5.x has none).
    pub tls: bool,
    /// The frontend Service is a LoadBalancer reachable from `allow_cidrs`.
    pub public: bool,
    pub allow_cidrs: Vec<String>,
    /// Never two nodes on one Kubernetes node (else only preferred: the cluster is too small).
    pub required_anti_affinity: bool,
}

/// Everything a command needs to know about the cluster, validated.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: Name,
    pub namespace: Name,
    pub nodes: NodeCount,
    pub cloud: Cloud,
    pub location: Location,
    pub profile: Profile,
    pub workload: Workload,
    pub security: Security,
    /// The Kubernetes cluster's identity (kube-system's uid), written on every disk so two
    /// clusters using one project never share disks. Empty where no cluster is involved.
    pub kube_id: String,
    /// Read-only replicas beside the voting nodes (`--read-only-replicas K`, 0 by default).
    pub replicas: u8,
}

/// Checks an IPv4 or IPv6 CIDR such as 203.0.113.0/24.
pub fn cidr(value: &str) -> Result<String, UsageError> {
    let bad = || {
        UsageError::new(format!(
            "--allow-cidr \"{}\" is not a CIDR such as 203.0.113.0/24",
            value.escape_debug()
        ))
    };
    let (addr, bits) = value.split_once('/').ok_or_else(bad)?;
    let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(bad());
    }
    Ok(value.to_string())
}

impl Spec {
    /// Major version family of the profile (5, 24, 25…): picks setting names and ports.
    pub fn generation(&self) -> u64 {
        self.profile.u64("generation").unwrap_or(25)
    }

    /// Disk (or local volume) name for member `i`; the scheme the cluster record and the
    /// adapters agree on. Replica j's is `<name>-disk-replica-<j>`, never a node's.
    pub fn disk_name(&self, i: u8) -> String {
        match replica_of(i) {
            Some(j) => format!("{}-disk-replica-{j}", self.name),
            None => format!("{}-disk-{i}", self.name),
        }
    }

    /// The pod hostname of node i: `<name>-<i>` for Deployments, `<name>-<i-1>` for a
    /// StatefulSet (ordinals start at 0); replica j's is `<name>-replica-<j>`.
    pub fn node_name(&self, i: u8) -> String {
        if let Some(j) = replica_of(i) {
            return format!("{}-replica-{j}", self.name);
        }
        match self.workload {
            Workload::Deployment => format!("{}-{i}", self.name),
            Workload::StatefulSet => format!("{}-{}", self.name, i - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_dns_labels_only() {
        assert!(Name::parse("name", "es", MAX_NAME_LEN).is_ok());
        assert!(Name::parse("name", "es-prod-2", MAX_NAME_LEN).is_ok());
        for bad in [
            "", "Es", "es;rm", "es\nx: y", "1es", "es-", "es_1", "e s", "és",
        ] {
            assert!(
                Name::parse("name", bad, MAX_NAME_LEN).is_err(),
                "{bad:?} accepted"
            );
        }
        let long = "a".repeat(64);
        let err = Name::parse("name", &long, MAX_NAME_LEN).unwrap_err();
        assert!(err.to_string().contains("at most 40"), "{err}");
    }

    #[test]
    fn error_messages_stay_on_one_line() {
        let err = Name::parse("name", "es\nx: y", MAX_NAME_LEN).unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn node_counts_are_bounded() {
        assert_eq!("5".parse::<NodeCount>().unwrap().get(), 5);
        assert_eq!("99".parse::<NodeCount>().unwrap().get(), 99);
        for bad in ["0", "-1", "abc", "100000", "", "3.5", "100"] {
            assert!(bad.parse::<NodeCount>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn even_counts_warn_about_quorum() {
        assert!(NodeCount::new(4).unwrap().quorum_warning().is_some());
        assert!(NodeCount::new(3).unwrap().quorum_warning().is_none());
        let w = NodeCount::new(2).unwrap().quorum_warning().unwrap();
        assert!(w.contains("survive only 0"), "{w}");
    }

    #[test]
    fn clouds_come_from_context_names() {
        assert_eq!(
            Cloud::from_context("gke_p_us-central1-a_c"),
            Some(Cloud::Gke)
        );
        assert_eq!(
            Cloud::from_context("arn:aws:eks:us-east-1:1:cluster/x"),
            Some(Cloud::Aws)
        );
        assert_eq!(Cloud::from_context("kind-dev"), Some(Cloud::Kind));
        assert_eq!(Cloud::from_context("prod"), None);
    }

    #[test]
    fn cidrs_are_checked() {
        assert!(cidr("203.0.113.0/24").is_ok());
        assert!(cidr("2001:db8::/32").is_ok());
        for bad in ["203.0.113.0", "203.0.113.0/33", "x/8", "10.0.0.0/8; rm", ""] {
            assert!(cidr(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn zone_lists_are_distinct_zones_of_one_region() {
        let gke = |z: &str| zone_list(z, Cloud::Gke);
        assert_eq!(
            gke("us-central1-a, us-central1-b").unwrap(),
            ["us-central1-a", "us-central1-b"]
        );
        assert!(zone_list("us-east-1a,us-east-1b", Cloud::Aws).is_ok());
        for bad in [
            "a,b",
            "us-central1-a,us-east1-b",
            "us-central1-a,us-central1-a",
            "us-central1-a,",
        ] {
            assert!(gke(bad).is_err(), "{bad:?} accepted");
        }
        assert!(zone_list("us-east-1a,us-west-2a", Cloud::Aws).is_err());
        assert!(zone_list("us-central1-a", Cloud::Kind).is_err());
    }

    #[test]
    fn cloud_ids_refuse_shell_and_yaml_syntax() {
        assert!(cloud_id("zone", "us-central1-a").is_ok());
        assert!(cloud_id("project", "example.com:my-proj").is_ok());
        for bad in ["", "a b", "a;b", "a\nb", "A", "-a", "$(x)"] {
            assert!(cloud_id("zone", bad).is_err(), "{bad:?} accepted");
        }
    }
}

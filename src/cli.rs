//! Command-line arguments and their conversion into a validated `Spec`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod verbs;
pub use verbs::{
    BackupVerb, CreateArgs, DeleteArgs, DisksVerb, LintArgs, LogsArgs, NodeVerb, Read, ReplaceArgs,
    ResizeArgs, RestartArgs,
};

use crate::error::UsageError;
use crate::profile::Profile;
use crate::spec::{cloud_id, Cloud, Location, Name, NodeCount, Security, Spec, MAX_NAME_LEN};

#[derive(Debug, Parser)]
#[command(
    name = "esk",
    version,
    about = "Stand up and manage an EventStoreDB / KurrentDB cluster on Kubernetes",
    long_about = "Stand up and manage an EventStoreDB / KurrentDB cluster on Kubernetes, one \
                  persistent disk per node.\n\nExit codes: 0 done, 1 a cloud or kubectl call \
                  failed (re-run to resume), 2 invalid input (nothing changed), 3 refused by a \
                  safety rule or a missing tool (nothing changed), 4 the cluster lock is held by \
                  another run, 5 lint found errors, 6 a doctor check failed, 10/11/12 status: \
                  degraded/down/not found, 130/143 interrupted by SIGINT/SIGTERM (re-run to \
                  resume)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Clone, Debug, Args)]
pub struct Global {
    /// Cluster name: a DNS label, at most 40 characters.
    #[arg(long, global = true, default_value = "es")]
    pub name: String,
    /// Kubernetes namespace.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
    /// kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Where the disks live: gke, aws, kind or dynamic (default: from the kube context name,
    /// else the profile).
    #[arg(long, global = true)]
    pub cloud: Option<String>,
    /// A built-in profile name or a profile YAML file (default: the one the cluster was
    /// created with, else `default`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Override a profile value, e.g. --set disk.sizeGb=50 (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Directory of templates that replace or add to the built-in ones.
    #[arg(long, global = true, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// GCP project (default: gcloud's).
    #[arg(long, global = true)]
    pub project: Option<String>,
    /// Zone of the disks: a GCE zone or an AWS availability zone.
    #[arg(long, global = true)]
    pub zone: Option<String>,
    /// Spread the nodes over these zones of one region (gke, aws; create, resize, render,
    /// doctor): node i in zone ((i-1) mod k), its disk made there. Default: the zones of the
    /// cluster's Kubernetes nodes when they are in several, else --zone.
    #[arg(long, global = true, value_name = "Z1,Z2,...")]
    pub zones: Option<String>,
    /// AWS region (default: the AWS environment's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Answer yes to confirmations (required to delete disks when not on a terminal).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Only errors and the final summary.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Show every command esk runs.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// Run without TLS and authentication (20.10+ are secure by default). Not for production.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Who can reach the frontend: internal (a ClusterIP Service) or public (a LoadBalancer
    /// limited to --allow-cidr).
    #[arg(
        long,
        global = true,
        default_value = "internal",
        value_name = "internal|public"
    )]
    pub expose: String,
    /// Source ranges allowed to reach a public frontend (repeatable).
    #[arg(long = "allow-cidr", global = true, value_name = "CIDR")]
    pub allow_cidr: Vec<String>,
    /// How nodes run: one Deployment per node, or one StatefulSet.
    #[arg(
        long,
        global = true,
        default_value = "deployment",
        value_name = "deployment|statefulset"
    )]
    pub workload: String,
    /// Allow what is otherwise refused as unsafe (a 2-node cluster).
    #[arg(long, global = true)]
    pub force: bool,
    /// Seconds to wait for another run that holds the cluster lock before giving up (exit 4).
    #[arg(long, global = true, default_value_t = 600, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Seconds to wait for a disk to be detached from its last node before deleting it.
    #[arg(long, global = true, default_value_t = 300, value_name = "SECONDS")]
    pub detach_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print (or write to a directory) every manifest for an N-node cluster; no cluster needed.
    Render {
        /// Number of nodes (1-99).
        #[arg(allow_negative_numbers = true)]
        nodes: String,
        /// Output: a directory to write one file per object into, or - for stdout.
        #[arg(short = 'o', long, default_value = "-")]
        output: String,
        /// Also print freshly generated TLS Secrets and passwords (private keys included).
        #[arg(long)]
        include_secrets: bool,
        /// Read-only replicas beside the voting nodes (20.10+): own disks, certificates and
        /// DNS names, not in the cluster size or quorum (default: as recorded, else 0).
        #[arg(long, value_name = "K")]
        read_only_replicas: Option<String>,
    },
    /// Create the cluster's disks and objects; re-running is a no-op.
    Create(CreateArgs),
    /// Backups as disk snapshots: create, list, delete.
    #[command(subcommand)]
    Backup(BackupVerb),
    /// The nodes' disks: grow them in place.
    #[command(subcommand)]
    Disks(DisksVerb),
    /// Delete everything esk applied for the cluster, and its disks unless --keep-disks.
    Delete(DeleteArgs),
    /// Print the cluster's generated admin and ops passwords (read from its Secret).
    Credentials,
    /// Resize by recreating with M nodes; existing disks are reused, surplus disks kept.
    Resize(ResizeArgs),
    /// Check manifests against EventStore-specific rules; exit 5 if any error is found.
    Lint(LintArgs),
    /// Check that esk can work here, one line per check with its fix: tools and their
    /// versions, the cluster's API and version, permissions, CSI driver or StorageClass,
    /// Kubernetes nodes in the disks' zone, cloud location and credentials. Exit 6 if any
    /// check fails. Changes nothing.
    Doctor {
        /// EventStore nodes to check spreading for (default: the cluster's, else 3).
        nodes: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    Completions { shell: clap_complete::Shell },
    /// Print esk's man page (roff) to stdout.
    Man,
    /// The nodes' logs merged in time order, each line prefixed with its node.
    Logs(LogsArgs),
    /// Open a node's Admin UI: a port-forward to one node (the leader by default), printing
    /// the URL to open; runs until interrupted.
    Ui {
        /// Forward to this node instead of the leader.
        #[arg(long, value_name = "I")]
        node: Option<String>,
        /// The local port (default 2113; 0 picks a free one).
        #[arg(long, value_name = "P", default_value = "2113")]
        port: String,
    },
    /// Write one archive (.tar) for a support ticket: status, gossip, the record, manifests,
    /// events, logs, certificate expiry, doctor and lint output, versions; never a secret.
    Report {
        /// The archive to write (default: esk-report-<name>-<time>.tar here); never replaced.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Restart every node one at a time, followers first and the leader last (asked to
    /// resign first); refused (exit 3) if the cluster could lose quorum.
    Restart(RestartArgs),
    /// One node: `node restart I`.
    #[command(subcommand)]
    Node(NodeVerb),
    #[command(flatten)]
    Read(Read),
}

/// `-o text|json` of create, resize and delete: whether to print one JSON document.
pub fn json_output(output: &str) -> Result<bool, UsageError> {
    match output {
        "text" => Ok(false),
        "json" => Ok(true),
        other => Err(UsageError::new(format!(
            "-o takes text or json, got \"{}\"",
            other.escape_debug()
        ))),
    }
}

impl Global {
    /// Everything but the node count, validated. `nodes` is 1 where a command has none.
    pub fn spec(&self, nodes: NodeCount, detected: Option<Cloud>) -> Result<Spec, UsageError> {
        let name = Name::parse("cluster name", &self.name, MAX_NAME_LEN)?;
        let namespace = Name::parse("namespace", &self.namespace, 63)?;
        let mut profile = Profile::load(self.profile.as_deref().unwrap_or("default"))?;
        for assignment in &self.set {
            profile.set(assignment)?;
        }
        let cloud = match (&self.cloud, detected) {
            (Some(c), _) => c.parse()?,
            (None, Some(c)) => c,
            (None, None) => profile.str("cloud")?.parse()?,
        };
        let opt =
            |what: &str, v: &Option<String>| v.as_deref().map(|v| cloud_id(what, v)).transpose();
        let location = Location {
            project: opt("project", &self.project)?,
            region: opt("region", &self.region)?,
            zone: opt("zone", &self.zone)?,
            zones: match &self.zones {
                Some(list) => crate::spec::zone_list(list, cloud)?,
                None => Vec::new(),
            },
            kube_zones: Vec::new(),
        };
        let mut location = location;
        if let (Some(first), None) = (location.zones.first(), &location.zone) {
            location.zone = Some(first.clone());
        } else if let Some(zone) = location
            .zone
            .as_ref()
            .filter(|_| !location.zones.is_empty())
        {
            if !location.zones.contains(zone) {
                return Err(UsageError::new(format!(
                    "--zone {zone} is not one of --zones {}",
                    location.zones.join(",")
                )));
            }
        }
        if let Some(context) = &self.context {
            if context.is_empty() || context.contains(['\n', '\r', '\0']) {
                return Err(UsageError::new("--context must be a single-line name"));
            }
        }
        let public = match self.expose.as_str() {
            "internal" => false,
            "public" => true,
            other => {
                return Err(UsageError::new(format!(
                    "--expose takes internal or public, got \"{}\"",
                    other.escape_debug()
                )))
            }
        };
        let allow_cidrs = self
            .allow_cidr
            .iter()
            .map(|c| crate::spec::cidr(c))
            .collect::<Result<Vec<_>, _>>()?;
        if public && allow_cidrs.is_empty() {
            return Err(UsageError::new(
                "--expose public needs --allow-cidr (0.0.0.0/0 opens the cluster to everyone)",
            ));
        }
        if public && self.insecure && !self.force {
            return Err(UsageError::new(
                "--expose public with --insecure puts an unauthenticated database on the \
                 internet; add --force if you really mean it",
            ));
        }
        if nodes.get() == 2 && !self.force {
            return Err(UsageError::new(
                "a 2-node cluster stops when either node does (quorum is 2); use 1 or 3 nodes, \
                 or --force",
            ));
        }
        let generation = profile.u64("generation")?;
        let domain = profile.str("clusterDomain")?;
        if !crate::manifest::is_dns_subdomain(&domain) {
            return Err(UsageError::new(format!(
                "clusterDomain \"{}\" is not a DNS name",
                domain.escape_debug()
            )));
        }
        Ok(Spec {
            name,
            namespace,
            nodes,
            cloud,
            location,
            workload: self.workload.parse()?,
            security: Security {
                tls: generation >= 20 && !self.insecure,
                public,
                allow_cidrs,
                required_anti_affinity: profile.str("node.antiAffinity")? != "preferred",
            },
            profile,
            kube_id: String::new(),
            replicas: 0,
        })
    }
}

/// Parses the node count of a command. clap keeps it a string (negative numbers included) so
/// every bad count, `-1` as much as `0`, gets this one-line error.
pub fn node_count(raw: &str) -> Result<NodeCount, UsageError> {
    raw.parse()
}

//! The arguments of each verb, one struct (or subcommand enum) a verb.

use std::path::PathBuf;

use clap::{Args, Subcommand};

// The arguments of `esk create` (a plain comment: a doc comment would become its help text).
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Number of nodes (1-99).
    #[arg(allow_negative_numbers = true)]
    pub nodes: String,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over existing disks named by a pattern such as 'esdisk-{i}': label and bind
    /// them, never format or delete them.
    #[arg(long, value_name = "PATTERN")]
    pub adopt_disks: Option<String>,
    /// Read-only replicas beside the voting nodes (20.10+): own disks, certificates and
    /// DNS names, not in the cluster size or quorum (default: as recorded, else 0).
    #[arg(long, value_name = "K")]
    pub read_only_replicas: Option<String>,
    /// Replace the cluster CA and every node certificate, in three rolling phases.
    #[arg(long)]
    pub rotate_certs: bool,
    /// Restart changed nodes together instead of one at a time (dev clusters: faster,
    /// but the cluster is down meanwhile).
    #[arg(long)]
    pub all_at_once: bool,
    /// Wait until the cluster is healthy: one leader, every node following (up to
    /// --timeout seconds).
    #[arg(long)]
    pub wait: bool,
    /// Seconds --wait waits, and how long each restarted node may take to be back.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
    /// Output: text, or json (one document on stdout: the plan and what was done).
    #[arg(short = 'o', long, default_value = "text", value_name = "text|json")]
    pub output: String,
    /// Make every node's disk from this backup (`esk backup list`); refused when any of
    /// the cluster's disks exists.
    #[arg(long, value_name = "NAME")]
    pub from_backup: Option<String>,
}

// The arguments of `esk delete` (a plain comment: a doc comment would become its help text).
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Keep every disk (a later `esk create` finds the same data).
    #[arg(long)]
    pub keep_disks: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output: text, or json (one document on stdout: the plan and what was done).
    #[arg(short = 'o', long, default_value = "text", value_name = "text|json")]
    pub output: String,
}

// The arguments of `esk resize` (a plain comment: a doc comment would become its help text).
#[derive(Debug, Args)]
pub struct ResizeArgs {
    /// New number of nodes (1-99).
    #[arg(allow_negative_numbers = true)]
    pub nodes: String,
    /// Delete the disks of nodes (and read-only replicas) beyond M (and K), asking for
    /// confirmation unless --yes.
    #[arg(long)]
    pub prune_disks: bool,
    /// Read-only replicas beside the voting nodes (20.10+): own disks, certificates and
    /// DNS names, not in the cluster size or quorum (default: as recorded, else 0).
    #[arg(long, value_name = "K")]
    pub read_only_replicas: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace the cluster CA and every node certificate.
    #[arg(long)]
    pub rotate_certs: bool,
    /// Wait until the cluster is healthy: one leader, every node following (up to
    /// --timeout seconds).
    #[arg(long)]
    pub wait: bool,
    /// Seconds --wait waits.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
    /// Output: text, or json (one document on stdout: the plan and what was done).
    #[arg(short = 'o', long, default_value = "text", value_name = "text|json")]
    pub output: String,
}

// The arguments of `esk lint` (a plain comment: a doc comment would become its help text).
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Manifest files or directories (their *.yaml, *.yml, *.json); - or none reads stdin.
    pub files: Vec<String>,
    /// Output: text or json.
    #[arg(short = 'o', long, default_value = "text", value_name = "text|json")]
    pub output: String,
}

/// `esk backup create|list|delete`.
#[derive(Debug, Subcommand)]
pub enum BackupVerb {
    /// Snapshot the disk of one up-to-date follower (from gossip), labelled for the cluster.
    Create {
        /// Backup name (default: <cluster>-YYYYMMDD-HHMMSS, UTC).
        #[arg(value_name = "NAME")]
        backup: Option<String>,
        /// Snapshot this node's disk instead of asking gossip for a follower.
        #[arg(long, value_name = "I")]
        node: Option<String>,
        /// Then delete the oldest of esk's backups of this cluster beyond the newest K.
        #[arg(long, value_name = "K")]
        keep: Option<String>,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the backups esk made for this cluster.
    List {
        /// Output: text or json.
        #[arg(short = 'o', long, default_value = "text", value_name = "text|json")]
        output: String,
    },
    /// Delete a backup esk made for this cluster (asks for confirmation unless --yes).
    Delete {
        #[arg(value_name = "NAME")]
        backup: String,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `esk disks grow|prune`.
#[derive(Debug, Subcommand)]
pub enum DisksVerb {
    /// Delete the disks `esk node replace` kept (label esk-replaced) that esk made for this
    /// cluster, after confirmation (--yes); adopted and foreign disks are never deleted.
    Prune {
        /// List them and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Grow every node's disk online to SIZE (the same as re-running create with
    /// --set disk.sizeGb=SIZE and the cluster's node count; no restart, no copy).
    Grow {
        /// The new size of each disk in GiB, as disk.sizeGb: `50` or `50Gi`.
        #[arg(value_name = "SIZE")]
        size: String,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Seconds to wait until every claim holds the new size.
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        timeout: u64,
        /// Output: text, or json (one document on stdout: the plan and what was done).
        #[arg(short = 'o', long, default_value = "text", value_name = "text|json")]
        output: String,
    },
}

/// `esk status`, `esk connection-string` and `esk ca-cert`: reading a running cluster.
#[derive(Debug, Subcommand)]
pub enum Read {
    /// Show the cluster: disks, claims, pods and each node's EventStore role, a verdict and
    /// an exit code (0 healthy, 10 degraded, 11 down, 12 not found).
    Status {
        /// Output: table, json or yaml.
        #[arg(
            short = 'o',
            long,
            default_value = "table",
            value_name = "table|json|yaml"
        )]
        output: String,
        /// Wait until the cluster is healthy (up to --timeout seconds).
        #[arg(long)]
        wait: bool,
        /// Seconds --wait waits.
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Print the client connection string (the password only with --show-password).
    ConnectionString {
        /// Include the admin password.
        #[arg(long)]
        show_password: bool,
        /// The CA file clients are told to trust (`esk ca-cert -o FILE` writes it).
        #[arg(long, default_value = crate::connection::DEFAULT_CA_FILE, value_name = "PATH")]
        ca_file: String,
    },
    /// Print (or write to a file) the cluster's public CA certificate.
    CaCert {
        /// File to write (default: stdout).
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

// The arguments of `esk logs` (a plain comment: a doc comment would become its help text).
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this node's log (default: every node's, merged in time order).
    #[arg(long, value_name = "I")]
    pub node: Option<String>,
    /// Keep printing new lines as the nodes write them, following each node's new pod
    /// after a restart, until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The log of each node's previous container (the one before its last restart).
    #[arg(short = 'p', long, conflicts_with = "follow")]
    pub previous: bool,
    /// Only lines newer than this, e.g. 30s, 10m, 2h, 1h30m.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Also print the time the container runtime recorded for each line.
    #[arg(long)]
    pub timestamps: bool,
}

/// `esk restart` and `esk node restart I`: how a restart runs.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Print the plan (the order, who resigns) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds each node may take to be back in the cluster (and the others to be healthy).
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `esk node replace I` and `esk node move I --zone Z`: how the new disk is made.
#[derive(Debug, Args)]
pub struct ReplaceArgs {
    /// Seconds node I may take to follow the leader again.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output: text, or json (one document on stdout: the plan and what was done).
    #[arg(short = 'o', long, default_value = "text", value_name = "text|json")]
    pub output: String,
}

/// `esk node restart|replace|move I`: one node at a time.
#[derive(Debug, Subcommand)]
pub enum NodeVerb {
    /// Restart node I safely: refused (exit 3, nothing changed) if the cluster could lose
    /// quorum; a leader is asked to resign first.
    Restart {
        /// The node's number (1..N).
        #[arg(value_name = "I")]
        node: String,
        #[command(flatten)]
        args: RestartArgs,
    },
    /// Give node I a new disk (its disk lost, corrupt, or in a zone that is down): made empty
    /// (--empty: the node catches up from the leader), from a backup, or by default from a
    /// fresh snapshot of an up-to-date follower; in the node's zone, or --zone (one of the
    /// cluster's). The old disk is kept, labelled
    /// esk-replaced=I. Refused (exit 3, nothing changed) when the others would lose quorum,
    /// or on the healthy leader, unless --force. Interrupted, a re-run finishes it.
    Replace {
        /// The node's number (1..N).
        #[arg(value_name = "I")]
        node: String,
        /// An empty disk: the node copies the log from the leader.
        #[arg(long, conflicts_with = "from_backup")]
        empty: bool,
        /// Make the new disk from this backup (`esk backup list`).
        #[arg(long, value_name = "NAME")]
        from_backup: Option<String>,
        #[command(flatten)]
        args: ReplaceArgs,
    },
    /// Move node I to the zone --zone names: `replace` from a fresh snapshot of node I's own disk
    /// (its zone must be up; for a zone that is down use `node replace`).
    Move {
        /// The node's number (1..N).
        #[arg(value_name = "I")]
        node: String,
        #[command(flatten)]
        args: ReplaceArgs,
    },
}

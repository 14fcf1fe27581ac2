//! A backup: one disk snapshot esk made for a cluster, and the labels that say so.

/// Set on every snapshot esk makes: the backup's name (labels/tags, beside the disk labels).
pub const BACKUP_KEY: &str = "esk-backup";
/// When esk made it, in seconds since the epoch: clouds write times in different forms, and
/// retention needs one order.
pub const CREATED_KEY: &str = "esk-created";

/// The ConfigMap noting the last backup `esk backup create` made (`esk-backups.<cluster>`,
/// with the cluster's labels, so `esk delete` removes it with the cluster): its keys.
pub const LAST_BACKUP_NAME_KEY: &str = "last";
pub const LAST_BACKUP_TIME_KEY: &str = "lastCreated";

/// A snapshot esk made for this cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    pub name: String,
    /// The cloud's id: the GCE snapshot name, an EBS `snap-…`, a VolumeSnapshot's name.
    pub id: String,
    /// The node whose disk it is a snapshot of.
    pub node: Option<u8>,
    /// Seconds since the epoch (0 if unknown).
    pub created: i64,
    /// Where it is in its life: READY, completed, CREATING, pending…
    pub status: String,
}

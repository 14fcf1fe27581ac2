//! The types every layer shares: a disk, how it appears in a PersistentVolume and who owns it;
//! the cloud; node indices; a backup; what a live node workload was made from. At the bottom of esk: this module
//! imports nothing of esk but `error`, and adapters, plan, render, health and the verbs all speak it.

mod backup;
mod cloud;
mod disk;
mod live;
mod node;
mod zones;

pub use backup::{Backup, BACKUP_KEY, CREATED_KEY, LAST_BACKUP_NAME_KEY, LAST_BACKUP_TIME_KEY};
pub use cloud::{Cloud, EBS_CSI_DRIVER, GKE_CSI_DRIVER};
pub use disk::{Disk, DiskSource, Owner};
pub use live::{LiveClaim, LiveTemplate, POD_SPEC, TEMPLATE};
pub use node::{member_label, parse_member, replica_of, MAX_NODES, REPLICA_BASE};
pub use zones::{
    assign as place_nodes, quorum, survives_zone_loss, zones_losing_quorum, Placement,
};

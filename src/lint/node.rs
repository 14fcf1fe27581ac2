//! An EventStore / KurrentDB node as found in a workload: its settings (both prefixes, all
//! versions esk renders), ports, and the volume holding its database.
//!
//! This file holds the node and what its settings say (size, discovery, ports); how a node is
//! found and read is beside it: `identify` (which container is the server), `image` (what an
//! image reference says), `settings` (from env, ConfigMaps, Secrets and the command line) and
//! `data` (the volume holding the database).

mod data;
mod identify;
mod image;
mod settings;

// The rules and the inventory keep importing these from `node`.
pub use data::{csi_of, shared_fs, Data, IN_TREE};
pub use identify::node;
pub use image::image_ref;
pub use settings::config_value;

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::model::{seq, text, Item, Labels};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Deployment,
    StatefulSet,
    /// A ReplicationController or a ReplicaSet: a pod template, no update strategy.
    Controller,
    Pod,
}

/// A port a node listens on and who must reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    pub number: u16,
    pub what: &'static str,
    /// Clients connect to it.
    pub client: bool,
    /// The other nodes connect to it (gossip, replication, 5.x internal traffic).
    pub between_nodes: bool,
}

/// An EventStore / KurrentDB server container in a workload.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    pub item: Item<'a>,
    pub workload: Workload,
    pub replicas: u64,
    pub labels: Labels,
    pub pod: &'a Value,
    pub container: &'a Value,
    /// Settings by name without prefix; `None` where the value comes from elsewhere
    /// (`valueFrom`, a Secret) and is not known.
    pub settings: BTreeMap<String, Option<String>>,
    pub kurrent: bool,
    /// 5.x and earlier: separate internal and external ports.
    pub legacy: bool,
}

impl<'a> Node<'a> {
    /// A setting's literal value: `None` when unset or not known.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(|v| v.as_deref())
    }

    /// A read-only replica (READ_ONLY_REPLICA=true, 20.10+): not a voting member, so not in
    /// the cluster size, the quorum, its budget or its discovery name.
    pub fn read_only_replica(&self) -> bool {
        !self.legacy
            && self
                .setting("READ_ONLY_REPLICA")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// CLUSTER_SIZE: 1 when unset (the server's default), `None` when not known.
    pub fn cluster_size(&self) -> Option<u64> {
        match self.settings.get("CLUSTER_SIZE") {
            None => Some(1),
            Some(v) => v.as_deref().and_then(|v| v.trim().parse().ok()),
        }
    }

    /// Whether the node finds the others through DNS (the server's default).
    pub fn discovers_via_dns(&self) -> bool {
        self.setting("DISCOVER_VIA_DNS")
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
    }

    /// CLUSTER_DNS: the server's default is `fake.dns`.
    pub fn cluster_dns(&self) -> Option<String> {
        match self.settings.get("CLUSTER_DNS") {
            None => Some("fake.dns".into()),
            Some(v) => v.clone(),
        }
    }

    fn port(&self, keys: &[&str], default: u16) -> u16 {
        keys.iter()
            .find_map(|k| self.setting(k).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(default)
    }

    /// The ports this node serves, by version.
    pub fn ports(&self) -> Vec<Port> {
        let mut ports = if self.legacy {
            vec![
                self.port_of("external HTTP", &["EXT_HTTP_PORT"], 2113, true, false),
                self.port_of("external TCP", &["EXT_TCP_PORT"], 1113, true, false),
                self.port_of(
                    "internal HTTP (gossip)",
                    &["INT_HTTP_PORT"],
                    2112,
                    false,
                    true,
                ),
                self.port_of(
                    "internal TCP (replication)",
                    &["INT_TCP_PORT"],
                    1112,
                    false,
                    true,
                ),
            ]
        } else {
            vec![
                self.port_of(
                    "HTTP/gRPC and gossip",
                    &["NODE_PORT", "HTTP_PORT"],
                    2113,
                    true,
                    true,
                ),
                // A read-only replica only replicates from the leader: no member
                // connects to its replication port.
                self.port_of(
                    "replication",
                    &["REPLICATION_PORT", "INT_TCP_PORT"],
                    1112,
                    false,
                    !self.read_only_replica(),
                ),
            ]
        };
        let gossip = self.port(&["CLUSTER_GOSSIP_PORT"], 0);
        if gossip != 0 && ports.iter().all(|p| p.number != gossip) {
            ports.push(Port {
                number: gossip,
                what: "gossip",
                client: false,
                between_nodes: true,
            });
        }
        ports
    }

    fn port_of(
        &self,
        what: &'static str,
        keys: &[&str],
        default: u16,
        client: bool,
        between: bool,
    ) -> Port {
        Port {
            number: self.port(keys, default),
            what,
            client,
            between_nodes: between,
        }
    }

    /// Container ports by name (NetworkPolicies may name them).
    pub fn named_ports(&self) -> BTreeMap<String, u16> {
        seq(self.pod.get("containers"))
            .iter()
            .flat_map(|c| seq(c.get("ports")))
            .filter_map(|p| {
                let name = text(p.get("name"))?;
                let port = text(p.get("containerPort"))?.parse().ok()?;
                Some((name, port))
            })
            .collect()
    }
}

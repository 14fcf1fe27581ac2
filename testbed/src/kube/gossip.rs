//! Gossip documents as EventStoreDB / KurrentDB serve them at `/gossip`: camelCase fields,
//! states as strings, the 20.10+ shape (one HTTP endpoint, `esVersion`) or the 5.x one
//! (internal and external HTTP endpoints). A builder lets tests say who leads and who lags.

use serde_json::{json, Value};

/// One member of a gossip document.
#[derive(Clone, Debug, PartialEq)]
pub struct GossipMember {
    /// The advertised host (a DNS name, or the pod IP on 5.x).
    pub host: String,
    pub state: String,
    pub alive: bool,
    pub writer_checkpoint: i64,
    pub read_only: bool,
    /// Empty: the answering server's own version.
    pub version: String,
    /// The replication (internal TCP) address it advertises; empty: `host`.
    pub replication_host: String,
}

/// A gossip document as one node reports it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Gossip {
    pub members: Vec<GossipMember>,
    /// The 5.x shape (internal/external HTTP endpoints, no version).
    pub legacy: bool,
}

/// Whether `host` is the member called `name`: the same, or `name` is its first DNS label.
pub(super) fn names(host: &str, name: &str) -> bool {
    host == name || host.split('.').next() == Some(name)
}

impl Gossip {
    /// The first host leads, the others follow, all alive and caught up.
    pub fn healthy<S: AsRef<str>>(hosts: &[S]) -> Gossip {
        let members = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| GossipMember {
                host: h.as_ref().to_string(),
                state: if i == 0 { "Leader" } else { "Follower" }.into(),
                alive: true,
                writer_checkpoint: 1_000_000,
                read_only: false,
                version: String::new(),
                replication_host: String::new(),
            })
            .collect();
        Gossip {
            members,
            legacy: false,
        }
    }

    fn member_mut(&mut self, host: &str) -> Option<&mut GossipMember> {
        self.members.iter_mut().find(|m| names(&m.host, host))
    }

    /// Sets the state of the member `host` (a host or its first DNS label).
    pub fn state(mut self, host: &str, state: &str) -> Gossip {
        if let Some(m) = self.member_mut(host) {
            m.state = state.to_string();
            m.read_only = state == "ReadOnlyReplica";
        }
        self
    }

    pub fn alive(mut self, host: &str, alive: bool) -> Gossip {
        if let Some(m) = self.member_mut(host) {
            m.alive = alive;
        }
        self
    }

    pub fn checkpoint(mut self, host: &str, writer_checkpoint: i64) -> Gossip {
        if let Some(m) = self.member_mut(host) {
            m.writer_checkpoint = writer_checkpoint;
        }
        self
    }

    pub fn version(mut self, version: &str) -> Gossip {
        for m in &mut self.members {
            m.version = version.to_string();
        }
        self
    }

    /// Adds a member in `state`.
    pub fn with(mut self, host: &str, state: &str) -> Gossip {
        self.members.push(GossipMember {
            host: host.to_string(),
            state: state.to_string(),
            alive: true,
            writer_checkpoint: 1_000_000,
            read_only: state == "ReadOnlyReplica",
            version: String::new(),
            replication_host: String::new(),
        });
        self
    }

    pub fn without(mut self, host: &str) -> Gossip {
        self.members.retain(|m| !names(&m.host, host));
        self
    }

    /// The document the server at `server` (running `version`) answers.
    pub fn to_json(&self, server: &str, version: &str) -> Value {
        let members: Vec<Value> = self
            .members
            .iter()
            .map(|m| {
                let id = uuid_of(&m.host);
                let common = json!({
                    "instanceId": id,
                    "timeStamp": super::time::now(),
                    "state": m.state,
                    "isAlive": m.alive,
                    "internalTcpIp": if m.replication_host.is_empty() {
                        &m.host
                    } else {
                        &m.replication_host
                    },
                    "internalTcpPort": 1112,
                    "internalSecureTcpPort": 0,
                    "externalTcpIp": m.host,
                    "lastCommitPosition": m.writer_checkpoint,
                    "writerCheckpoint": m.writer_checkpoint,
                    "chaserCheckpoint": m.writer_checkpoint,
                    "epochPosition": 0,
                    "epochNumber": 1,
                    "epochId": uuid_of("epoch"),
                    "nodePriority": 0,
                });
                let mut member = common;
                if self.legacy {
                    member["externalTcpPort"] = 1113.into();
                    member["externalSecureTcpPort"] = 0.into();
                    member["internalHttpIp"] = m.host.clone().into();
                    member["internalHttpPort"] = 2112.into();
                    member["externalHttpIp"] = m.host.clone().into();
                    member["externalHttpPort"] = 2113.into();
                } else {
                    member["externalTcpPort"] = 0.into();
                    member["httpEndPointIp"] = m.host.clone().into();
                    member["httpEndPointPort"] = 2113.into();
                    member["isReadOnlyReplica"] = m.read_only.into();
                    member["esVersion"] = if m.version.is_empty() {
                        version.into()
                    } else {
                        m.version.clone().into()
                    };
                }
                member
            })
            .collect();
        json!({"members": members, "serverIp": server, "serverPort": 2113})
    }
}

/// A stable UUID-shaped id for a name.
fn uuid_of(name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let l = h.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h & 0xfff,
        l & 0xfff,
        l >> 16
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_gossip_has_the_servers_shape() {
        let doc = Gossip::healthy(&["es-1.es.default.svc.cluster.local", "es-2"])
            .state("es-2", "CatchingUp")
            .to_json("es-1.es.default.svc.cluster.local", "26.0.0");
        let m = &doc["members"];
        assert_eq!(m[0]["state"], "Leader");
        assert_eq!(m[1]["state"], "CatchingUp");
        assert_eq!(m[0]["esVersion"], "26.0.0");
        for field in [
            "instanceId",
            "timeStamp",
            "isAlive",
            "internalTcpIp",
            "internalTcpPort",
            "internalSecureTcpPort",
            "externalTcpIp",
            "externalTcpPort",
            "httpEndPointIp",
            "httpEndPointPort",
            "lastCommitPosition",
            "writerCheckpoint",
            "chaserCheckpoint",
            "epochPosition",
            "epochNumber",
            "epochId",
            "nodePriority",
            "isReadOnlyReplica",
            "esVersion",
        ] {
            assert!(!m[1][field].is_null(), "{field} missing");
        }
        assert_eq!(doc["serverPort"], 2113);
    }
}

//! What the API objects and the gossip documents say, read into plain values: the fold in
//! `verdict` works on these, never on JSON.

use serde::Deserialize;
use serde_json::Value;

use super::clock::parse_rfc3339;

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn name_of(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or("")
}

pub fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v["metadata"]["labels"][key].as_str()
}

/// A pod as the scheduler and kubelet report it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodFacts {
    pub name: String,
    pub uid: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: u32,
    pub node_name: Option<String>,
    pub ip: Option<String>,
    pub created: Option<i64>,
    /// When its container last started running.
    pub running_since: Option<i64>,
    pub deleting: bool,
    /// The scheduler's message when it could not place the pod.
    pub unscheduled: Option<String>,
    /// A waiting container: (reason, message).
    pub waiting: Option<(String, String)>,
    pub image: String,
    /// The claim mounted as the node's data.
    pub claim: Option<String>,
}

impl PodFacts {
    pub fn from(pod: &Value) -> PodFacts {
        let status = &pod["status"];
        let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
        let condition = |kind: &str| conditions.iter().find(|c| c["type"] == kind);
        let unscheduled = condition("PodScheduled")
            .filter(|c| c["status"] == "False")
            .map(|c| {
                str_at(c, &["message"])
                    .or(str_at(c, &["reason"]))
                    .unwrap_or("not scheduled")
                    .to_string()
            });
        let containers = status["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let waiting = containers.iter().find_map(|c| {
            let w = &c["state"]["waiting"];
            let reason = str_at(w, &["reason"])?;
            Some((
                reason.to_string(),
                str_at(w, &["message"]).unwrap_or("").to_string(),
            ))
        });
        let running_since = containers
            .iter()
            .filter_map(|c| str_at(c, &["state", "running", "startedAt"]))
            .filter_map(parse_rfc3339)
            .max();
        let volumes = pod["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let claim_of =
            |v: &Value| str_at(v, &["persistentVolumeClaim", "claimName"]).map(String::from);
        let claim = volumes
            .iter()
            .find(|v| v["name"] == "data")
            .and_then(claim_of)
            .or_else(|| volumes.iter().find_map(claim_of));
        PodFacts {
            name: name_of(pod).to_string(),
            uid: str_at(pod, &["metadata", "uid"]).unwrap_or("").to_string(),
            phase: str_at(status, &["phase"]).unwrap_or("Unknown").to_string(),
            ready: condition("Ready").is_some_and(|c| c["status"] == "True"),
            restarts: containers
                .iter()
                .filter_map(|c| c["restartCount"].as_u64())
                .sum::<u64>()
                .min(u64::from(u32::MAX)) as u32,
            node_name: str_at(pod, &["spec", "nodeName"]).map(String::from),
            ip: str_at(status, &["podIP"]).map(String::from),
            created: str_at(pod, &["metadata", "creationTimestamp"]).and_then(parse_rfc3339),
            running_since,
            deleting: !pod["metadata"]["deletionTimestamp"].is_null(),
            unscheduled,
            waiting,
            image: pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            claim,
        }
    }
}

/// Warnings recorded about one pod, newest last: (reason, message).
pub fn pod_events(events: &[Value], pod: &PodFacts) -> Vec<(String, String)> {
    let mut found: Vec<(i64, String, String)> = events
        .iter()
        .filter(|e| {
            let o = &e["involvedObject"];
            o["kind"] == "Pod"
                && o["name"] == pod.name.as_str()
                && (o["uid"].is_null() || pod.uid.is_empty() || o["uid"] == pod.uid.as_str())
        })
        .map(|e| {
            let when = ["lastTimestamp", "eventTime", "firstTimestamp"]
                .iter()
                .find_map(|k| e[*k].as_str().and_then(parse_rfc3339))
                .or_else(|| str_at(e, &["metadata", "creationTimestamp"]).and_then(parse_rfc3339))
                .unwrap_or(0);
            (
                when,
                str_at(e, &["reason"]).unwrap_or("").to_string(),
                str_at(e, &["message"]).unwrap_or("").to_string(),
            )
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, r, m)| (r, m)).collect()
}

/// A claim or a volume: its name and phase.
pub fn phase_of(v: &Value) -> String {
    str_at(v, &["status", "phase"])
        .unwrap_or("Unknown")
        .to_string()
}

/// Node affinity: (label key, allowed values) per requirement.
pub type Affinity = Vec<(String, Vec<String>)>;

/// The node affinity of a volume.
pub fn volume_affinity(pv: &Value) -> Affinity {
    let terms = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"];
    terms
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t["matchExpressions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|e| e["operator"] == "In")
        .filter_map(|e| {
            let values = e["values"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            Some((str_at(&e, &["key"])?.to_string(), values))
        })
        .collect()
}

/// Whether a workload's controller has caught up with its latest spec.
pub fn workload_current(w: &Value) -> bool {
    let generation = w["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = w["status"]["observedGeneration"].as_i64().unwrap_or(0);
    let replicas = w["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = w["status"]["updatedReplicas"].as_i64().unwrap_or(0);
    let revisions_agree = w["kind"] != "StatefulSet"
        || w["status"]["currentRevision"] == w["status"]["updateRevision"];
    observed >= generation && updated >= replicas && revisions_agree
}

/// One member as a node's gossip reports it (20.10+ and 5.x field names).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub is_alive: bool,
    pub http_end_point_ip: Option<String>,
    pub external_http_ip: Option<String>,
    pub internal_http_ip: Option<String>,
    pub external_tcp_ip: Option<String>,
    pub internal_tcp_ip: Option<String>,
    pub writer_checkpoint: Option<i64>,
    pub es_version: Option<String>,
    #[serde(default)]
    pub is_read_only_replica: bool,
}

impl Member {
    /// The address the member advertises.
    pub fn host(&self) -> &str {
        [
            &self.http_end_point_ip,
            &self.external_http_ip,
            &self.internal_http_ip,
            &self.external_tcp_ip,
            &self.internal_tcp_ip,
        ]
        .into_iter()
        .find_map(|h| h.as_deref().filter(|h| !h.is_empty()))
        .unwrap_or("")
    }

    /// Leader (5.x: Master).
    pub fn leads(&self) -> bool {
        matches!(self.state.as_str(), "Leader" | "Master")
    }

    /// A voting member of the cluster: Leader or Follower (5.x: Master, Slave).
    pub fn in_cluster(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Leader" | "Follower" | "Master" | "Slave"
        )
    }

    /// Where a healthy node may be: in the cluster, or a read-only replica.
    pub fn settled(&self) -> bool {
        self.in_cluster() || self.state == "ReadOnlyReplica"
    }
}

/// A `/gossip` document.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GossipDoc {
    #[serde(default)]
    pub members: Vec<Member>,
    pub server_ip: Option<String>,
}

pub fn parse_gossip(body: &str) -> Result<GossipDoc, String> {
    serde_json::from_str(body).map_err(|e| format!("its gossip did not parse: {e}"))
}

/// The message of a `Status` reply, or the body itself.
pub fn status_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| body.trim().chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_crash_looping_pod() {
        let pod = json!({
            "metadata": {"name": "es-2-abc", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "eventstore", "image": "i:1"}],
                     "volumes": [{"name": "certs", "secret": {}},
                                 {"name": "data", "persistentVolumeClaim": {"claimName": "es-data-2"}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.2",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}}]}
        });
        let f = PodFacts::from(&pod);
        assert_eq!(f.name, "es-2-abc");
        assert!(!f.ready);
        assert_eq!(f.restarts, 4);
        assert_eq!(
            f.waiting,
            Some(("CrashLoopBackOff".into(), "back-off".into()))
        );
        assert_eq!(f.claim.as_deref(), Some("es-data-2"));
        assert_eq!(f.image, "i:1");
        assert_eq!(f.unscheduled, None);
    }

    #[test]
    fn reads_both_gossip_shapes() {
        let new = r#"{"members":[{"state":"Leader","isAlive":true,"httpEndPointIp":"es-1.es",
            "writerCheckpoint":5,"esVersion":"26.0.0","isReadOnlyReplica":false}],"serverIp":"es-1.es"}"#;
        let doc = parse_gossip(new).unwrap();
        assert_eq!(doc.members[0].host(), "es-1.es");
        assert!(doc.members[0].leads());
        let old = r#"{"members":[{"state":"Slave","isAlive":true,"externalHttpIp":"10.0.0.3",
            "internalHttpIp":"10.0.0.3"}],"serverIp":"10.0.0.3"}"#;
        let doc = parse_gossip(old).unwrap();
        assert_eq!(doc.members[0].host(), "10.0.0.3");
        assert!(doc.members[0].in_cluster() && !doc.members[0].leads());
        assert!(parse_gossip("<html>").is_err());
    }

    #[test]
    fn status_messages_come_out_of_status_objects() {
        let body =
            r#"{"kind":"Status","message":"error trying to reach service: refused","code":503}"#;
        assert_eq!(
            status_message(body),
            "error trying to reach service: refused"
        );
        assert_eq!(status_message("plain\n"), "plain");
    }
}

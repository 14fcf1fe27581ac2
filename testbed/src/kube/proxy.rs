//! The API server's pod proxy, `GET /api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy/PATH`
//! (what `kubectl get --raw` and `kubectl proxy` send), answered as an EventStoreDB / KurrentDB
//! node would: `/gossip` (camelCase JSON, states as strings; the 5.x shape for 5.x pods) and
//! `/health/live`. By default each node reports the healthy view derived from the running pods
//! of its cluster (the lowest node leads); a test sets one view for every node, a view per
//! node (to make splits), or makes a node unreachable (a 503 `Status` from the API server, as
//! when nothing listens in the pod).

use super::gossip::Gossip;
use super::pods::node_key;
use super::status::ApiError;
use super::store::Store;
use super::KubeEmulator;
use crate::http::{Request, Response};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What tests set: one view for every node, views per node, unreachable nodes, and nodes
/// the others' derived views show dead (a zone outage).
#[derive(Clone, Debug, Default)]
pub struct GossipOverrides {
    all: Option<Gossip>,
    per_node: BTreeMap<String, Gossip>,
    unreachable: BTreeSet<String>,
    dead: BTreeSet<String>,
}

impl GossipOverrides {
    /// Node `key`'s pod answers nothing, and the other members' gossip shows it dead in its
    /// last state (a Follower), as a server's does once a peer stops answering.
    pub(super) fn lose(&mut self, key: &str) {
        self.unreachable.insert(key.to_string());
        self.dead.insert(key.to_string());
    }

    /// Whether node `key` was lost with its zone.
    pub(super) fn is_lost(&self, key: &str) -> bool {
        self.dead.contains(key)
    }

    /// Node `key` answers again (its pod now runs on a Node that is up).
    pub(super) fn rejoin(&mut self, key: &str) {
        self.unreachable.remove(key);
        self.dead.remove(key);
    }
}

fn env_value<'a>(pod: &'a Value, suffix: &str) -> Option<&'a str> {
    pod["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"].as_str().is_some_and(|n| n.ends_with(suffix)))
        .and_then(|e| e["value"].as_str())
}

/// 5.x servers: INT_IP/EXT_IP settings, Master/Slave states, the older gossip shape.
pub(super) fn is_legacy(pod: &Value) -> bool {
    pod["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["name"].as_str().is_some_and(|n| n.ends_with("_INT_IP")))
}

pub(super) fn serves_tls(pod: &Value) -> bool {
    !is_legacy(pod) && env_value(pod, "_INSECURE") != Some("true")
}

/// The name a server advertises: NODE_HOST_ADVERTISE_AS, else hostname.subdomain, else its IP.
fn advertised(pod: &Value) -> String {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    if let Some(v) = env_value(pod, "NODE_HOST_ADVERTISE_AS") {
        return v.replace("$(POD_NAME)", name);
    }
    let ip = pod["status"]["podIP"].as_str().unwrap_or("");
    if is_legacy(pod) {
        return ip.to_string();
    }
    match (
        pod["spec"]["hostname"].as_str(),
        pod["spec"]["subdomain"].as_str(),
    ) {
        (Some(h), Some(s)) => format!(
            "{h}.{s}.{}.svc.cluster.local",
            pod["metadata"]["namespace"].as_str().unwrap_or("")
        ),
        _ => ip.to_string(),
    }
}

/// The replication address a server advertises in gossip (`internalTcpIp`):
/// REPLICATION_HOST_ADVERTISE_AS (23.10+; INT_HOST_ADVERTISE_AS before) when set, else the
/// address it picked from its interfaces, the pod IP; 5.x always the IP.
fn advertised_for_replication(pod: &Value) -> String {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let set = env_value(pod, "REPLICATION_HOST_ADVERTISE_AS")
        .or_else(|| env_value(pod, "INT_HOST_ADVERTISE_AS"));
    match set {
        Some(v) if !is_legacy(pod) => v.replace("$(POD_NAME)", name),
        _ => pod["status"]["podIP"].as_str().unwrap_or("").to_string(),
    }
}

/// The server version from the image tag (`…:26.0.0`, `…:release-5.0.11`).
fn version_of(pod: &Value) -> String {
    let image = pod["spec"]["containers"][0]["image"].as_str().unwrap_or("");
    let tag = image.rsplit_once(':').map_or("", |(_, t)| t);
    tag.trim_start_matches("release-").to_string()
}

/// Orders a cluster's pods by node: the `esk.io/node` label, the StatefulSet ordinal, the name.
fn node_order(pod: &Value) -> (u64, String) {
    let labels = &pod["metadata"]["labels"];
    let n = labels["esk.io/node"]
        .as_str()
        .or(labels["apps.kubernetes.io/pod-index"].as_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    (
        n,
        pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
    )
}

/// A read-only replica: its READ_ONLY_REPLICA setting is on (20.10+).
fn is_read_only_replica(pod: &Value) -> bool {
    !is_legacy(pod) && env_value(pod, "_READ_ONLY_REPLICA") == Some("true")
}

/// The members a pod gossips with: the same instance, and the same component, where esk's
/// voting nodes (`node`) and read-only replicas (`replica`) are one cluster.
fn role(pod: &Value) -> String {
    match pod["metadata"]["labels"]["app.kubernetes.io/component"].as_str() {
        Some("node" | "replica") => "node".into(),
        other => other.unwrap_or("").to_string(),
    }
}

fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The pods of `pod`'s cluster that serve (gossip with each other), in node order.
fn serving_members<'a>(store: &'a Store, pod: &Value) -> Vec<&'a Value> {
    let info = super::kinds::by_kind("Pod").expect("Pod is served");
    let ns = pod["metadata"]["namespace"].as_str().map(str::to_string);
    let instance = pod["metadata"]["labels"]["app.kubernetes.io/instance"].clone();
    let own_role = role(pod);
    let same = |other: &Value| {
        other["metadata"]["labels"]["app.kubernetes.io/instance"] == instance
            && role(other) == own_role
    };
    let overrides = &store.overrides;
    let mut pods: Vec<&Value> = store
        .list(info, None)
        .filter(|p| p["metadata"]["namespace"].as_str() == ns.as_deref())
        .filter(|p| same(p) && !p["status"]["podIP"].is_null())
        .filter(|p| {
            let key = node_key(p);
            !overrides.gossip.unreachable.contains(&key)
                && overrides.rollout.state_of(&overrides.states, p).serving()
        })
        .collect();
    pods.sort_by_key(|p| node_order(p));
    pods
}

/// Who leads among `pods`: the test's preferred leader while it is Ready (an election keeps a
/// leader), else the first Ready voting node.
fn leader_among<'a>(pods: &[&'a Value], preferred: Option<&str>) -> Option<&'a Value> {
    let votes = |p: &&&Value| is_ready(p) && !is_read_only_replica(p);
    pods.iter()
        .filter(votes)
        .find(|p| Some(node_key(p).as_str()) == preferred)
        .or_else(|| pods.iter().find(votes))
        .copied()
}

/// The node key of the leader `pod`'s cluster has in the derived view, if any.
pub(super) fn derived_leader(store: &Store, pod: &Value) -> Option<String> {
    let pods = serving_members(store, pod);
    leader_among(&pods, store.overrides.rollout.leader.as_deref()).map(node_key)
}

/// The first Ready voting node of `pod`'s cluster other than `pod`'s own node: who an
/// election after `pod`'s node resigned makes leader.
pub(super) fn successor(store: &Store, pod: &Value) -> Option<String> {
    let own = node_key(pod);
    serving_members(store, pod)
        .into_iter()
        .find(|p| is_ready(p) && !is_read_only_replica(p) && node_key(p) != own)
        .map(node_key)
}

/// The view every node of `pod`'s cluster reports when no test says otherwise: pods serving
/// and Ready are Leader (see [`leader_among`]) and Followers; serving but not Ready ones
/// CatchingUp; a pod with READ_ONLY_REPLICA=true is a ReadOnlyReplica (PreReadOnlyReplica
/// until Ready), never the leader.
fn derived_view(store: &Store, pod: &Value) -> Gossip {
    let pods = serving_members(store, pod);
    let legacy = is_legacy(pod);
    let mut gossip = Gossip {
        members: Vec::new(),
        legacy,
    };
    let leader = leader_among(&pods, store.overrides.rollout.leader.as_deref()).map(node_key);
    for p in pods {
        let ready = is_ready(p);
        let leads = leader.as_deref() == Some(node_key(p).as_str());
        let replica = is_read_only_replica(p);
        let state = match (ready, leads, legacy) {
            _ if replica && ready => "ReadOnlyReplica",
            _ if replica => "PreReadOnlyReplica",
            (false, _, _) => "CatchingUp",
            (true, true, false) => "Leader",
            (true, true, true) => "Master",
            (true, false, false) => "Follower",
            (true, false, true) => "Slave",
        };
        // A node started on a new disk copies the log first (see `catch_up`).
        let behind = (ready && !leads && !replica)
            .then(|| store.overrides.catch_up.progress(&node_key(p)))
            .flatten();
        let state = if behind.is_some() {
            "CatchingUp"
        } else {
            state
        };
        gossip = gossip.with(&advertised(p), state);
        if let Some(m) = gossip.members.last_mut() {
            if let Some(done) = behind {
                m.writer_checkpoint = (m.writer_checkpoint as f64 * done) as i64;
            }
            m.version = version_of(p);
            m.read_only = replica;
            m.replication_host = advertised_for_replication(p);
        }
    }
    // Members lost with their zone: still listed, dead.
    let info = super::kinds::by_kind("Pod").expect("Pod is served");
    let ns = pod["metadata"]["namespace"].as_str();
    let instance = &pod["metadata"]["labels"]["app.kubernetes.io/instance"];
    let dead: Vec<&Value> = store
        .list(info, ns)
        .filter(|p| {
            &p["metadata"]["labels"]["app.kubernetes.io/instance"] == instance
                && role(p) == role(pod)
                && store.overrides.gossip.dead.contains(&node_key(p))
        })
        .collect();
    for p in dead {
        let host = advertised(p);
        if gossip.members.iter().all(|m| m.host != host) {
            let last = if legacy { "Slave" } else { "Follower" };
            gossip = gossip.with(&host, last).alive(&host, false);
        }
    }
    gossip
}

fn unavailable(message: String) -> Response {
    ApiError::new(503, "ServiceUnavailable", message).to_response()
}

/// Serves `/api/v1/namespaces/NS/pods/ID/proxy` + `rest`.
pub fn serve(store: &mut Store, req: &Request, ns: &str, id: &str, rest: &str) -> Response {
    let info = super::kinds::by_kind("Pod").expect("Pod is served");
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] if matches!(*scheme, "http" | "https") => (*scheme, *name, *port),
        _ => {
            return ApiError::bad_request(format!("invalid pod request {id:?}")).to_response();
        }
    };
    let Some(pod) = store.get(info, Some(ns), name) else {
        return ApiError::not_found(info, name).to_response();
    };
    let Some(ip) = pod["status"]["podIP"].as_str().filter(|ip| !ip.is_empty()) else {
        return ApiError::bad_request("address not allowed").to_response();
    };
    let ports: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["containerPort"].as_i64().map(|p| p.to_string()))
        .collect();
    let port = if port.is_empty() {
        ports.first().cloned().unwrap_or_else(|| "80".into())
    } else {
        port.to_string()
    };
    let key = node_key(pod);
    let refused = || {
        unavailable(format!(
            "error trying to reach service: dial tcp {ip}:{port}: connect: connection refused"
        ))
    };
    let overrides = &store.overrides;
    let serving = overrides.rollout.state_of(&overrides.states, pod).serving()
        && !overrides.gossip.unreachable.contains(&key);
    if !serving || !ports.contains(&port) {
        return refused();
    }
    let tls = serves_tls(pod);
    if scheme == "https" && !tls {
        return unavailable(
            "error trying to reach service: tls: first record does not look like a TLS handshake"
                .into(),
        );
    }
    if scheme != "https" && tls {
        return unavailable(format!(
            "error trying to reach service: read tcp 10.0.0.2:41834->{ip}:{port}: read: \
             connection reset by peer"
        ));
    }
    let view = overrides
        .gossip
        .per_node
        .get(&key)
        .or(overrides.gossip.all.as_ref())
        .cloned()
        .unwrap_or_else(|| derived_view(store, pod));
    let host = advertised(pod);
    let cluster = format!(
        "{ns}/{}",
        pod["metadata"]["labels"]["app.kubernetes.io/instance"]
            .as_str()
            .unwrap_or("")
    );
    if is_legacy(pod) && rest.starts_with("/users") {
        // The API server authenticated the request itself and removed its Authorization
        // header: the node never sees the caller's Basic credentials.
        return super::users::serve(&mut store.overrides.users, &cluster, req, rest, None);
    }
    match rest.trim_end_matches('/') {
        "/gossip" => {
            let mut view = view;
            view.legacy |= is_legacy(pod);
            Response::json(200, &view.to_json(&host, &version_of(pod)))
        }
        "/health/live" => {
            let own = view.members.iter().find(|m| m.host == host);
            let live = own.is_some_and(|m| {
                !matches!(
                    m.state.as_str(),
                    "Initializing" | "ShuttingDown" | "Shutdown"
                )
            });
            Response::new(if live { 204 } else { 503 }, "text/plain", "")
        }
        _ => Response::new(404, "text/plain", ""),
    }
}

impl KubeEmulator {
    /// Every node reports `view` (unless a node has its own, see [`KubeEmulator::set_gossip`]).
    pub fn set_gossip_all(&self, view: Gossip) {
        self.shared.lock().store.overrides.gossip.all = Some(view);
    }

    /// Node `key` (a Deployment's name, or a StatefulSet pod's name) reports `view`.
    pub fn set_gossip(&self, key: &str, view: Gossip) {
        let mut shared = self.shared.lock();
        shared
            .store
            .overrides
            .gossip
            .per_node
            .insert(key.to_string(), view);
    }

    /// Nothing answers in node `key`'s pod (or it answers again).
    pub fn set_unreachable(&self, key: &str, unreachable: bool) {
        let mut shared = self.shared.lock();
        let set = &mut shared.store.overrides.gossip.unreachable;
        if unreachable {
            set.insert(key.to_string());
        } else {
            set.remove(key);
        }
    }

    /// The password user `login` has on the 5.x cluster `instance` in `namespace`.
    pub fn user_password(&self, namespace: &str, instance: &str, login: &str) -> Option<String> {
        let mut shared = self.shared.lock();
        let cluster = format!("{namespace}/{instance}");
        shared.store.overrides.users.password(&cluster, login)
    }

    /// Back to the views derived from the pods.
    pub fn clear_gossip(&self) {
        self.shared.lock().store.overrides.gossip = GossipOverrides::default();
    }
}

/// Splits `/api/v1/namespaces/NS/pods/NAME/SUB[/REST…]` into (NS, NAME, SUB, REST).
pub fn pod_subresource(path: &str) -> Option<(&str, &str, &str, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let mut parts = rest.splitn(5, '/');
    let ns = parts.next()?;
    if parts.next()? != "pods" {
        return None;
    }
    let name = parts.next()?;
    let sub = parts.next()?;
    let tail = parts.next().map(|t| format!("/{t}")).unwrap_or_default();
    Some((ns, name, sub, tail))
}

/// The pod proxy, log and port-forward endpoints, or None for any other request.
pub fn handle(store: &mut Store, req: &Request) -> Option<Response> {
    let (ns, name, sub, rest) = pod_subresource(&req.path)?;
    match sub {
        "proxy" => Some(serve(store, req, ns, name, &rest)),
        "log" if rest.is_empty() && req.method == "GET" => {
            Some(super::logs::serve_log(store, req, ns, name))
        }
        "portforward" if rest.is_empty() => Some(super::portforward::serve(store, req, ns, name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pod_subresource_paths() {
        let (ns, name, sub, rest) =
            pod_subresource("/api/v1/namespaces/d/pods/https:es-1:2113/proxy/gossip").unwrap();
        assert_eq!(
            (ns, name, sub, rest.as_str()),
            ("d", "https:es-1:2113", "proxy", "/gossip")
        );
        let (_, _, sub, rest) = pod_subresource("/api/v1/namespaces/d/pods/p/log").unwrap();
        assert_eq!((sub, rest.as_str()), ("log", ""));
        assert!(pod_subresource("/api/v1/namespaces/d/pods/p").is_none());
    }
}

//! `POST /admin/node/resign` as KurrentDB serves it (AdminController.cs and
//! ElectionsService.cs, src/EventStore.Core at v24.10.6, src/KurrentDB.Core at v25.1.0 and
//! v26.0.0): callers in `$admins` or `$ops` get 200 and, when the node leads, an election
//! without it; anyone else 401. Insecure nodes authenticate every request as the system
//! account (PassthroughAuthenticationProvider), which is an admin. A node that does not lead
//! answers 200 and ignores the request. 5.x has no such route (oss-v5.0.11).

use super::pods::node_key;
use super::rollout::RollEvent;
use super::store::Store;
use base64::Engine;
use serde_json::Value;

/// The password the node was started with for `login` (its DEFAULT_*_PASSWORD setting, from
/// the Secret its env names).
fn configured_password(store: &Store, pod: &Value, login: &str) -> Option<String> {
    let suffix = format!("_DEFAULT_{}_PASSWORD", login.to_uppercase());
    let env = pod["spec"]["containers"][0]["env"].as_array()?;
    let entry = env
        .iter()
        .find(|e| e["name"].as_str().is_some_and(|n| n.ends_with(&suffix)))?;
    if let Some(v) = entry["value"].as_str() {
        return Some(v.to_string());
    }
    let by = &entry["valueFrom"]["secretKeyRef"];
    let info = super::kinds::by_kind("Secret")?;
    let ns = pod["metadata"]["namespace"].as_str();
    let secret = store.get(info, ns, by["name"].as_str()?)?;
    let encoded = secret["data"][by["key"].as_str()?].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether `authorization` (a Basic header) names admin or ops with the node's password.
fn may_resign(store: &Store, pod: &Value, authorization: Option<&str>) -> bool {
    if !super::proxy::serves_tls(pod) {
        return true;
    }
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Basic ")) else {
        return false;
    };
    let Some(decoded) = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    matches!(user, "admin" | "ops")
        && configured_password(store, pod, user).as_deref() == Some(password)
}

/// Serves the request to `pod`; the HTTP status.
pub(super) fn serve(
    store: &mut Store,
    pod: &Value,
    method: &str,
    authorization: Option<&str>,
) -> u16 {
    if super::proxy::is_legacy(pod) {
        return 404;
    }
    if method != "POST" {
        return 405;
    }
    if store.overrides.rollout.resign_refused || !may_resign(store, pod, authorization) {
        return 401;
    }
    let node = node_key(pod);
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let leads = super::proxy::derived_leader(store, pod).as_deref() == Some(node.as_str());
    let leader = if leads {
        let next = super::proxy::successor(store, pod);
        store.overrides.rollout.leader = next.clone();
        next
    } else {
        None
    };
    store
        .overrides
        .rollout
        .note(&ns, RollEvent::Resigned { node, leader });
    200
}

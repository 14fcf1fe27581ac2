//! What the kubelet reports for a pod once the scheduler (`scheduler.rs`) placed it: its IP,
//! phase, conditions and container statuses from the node's [`PodState`], the events that
//! state implies (its logs are served by `logs.rs`).

use super::pods::{node_key, str_of, Overrides, PodState};
use super::store::{Key, Store};

use serde_json::{json, Value};

pub(super) fn update_status(store: &mut Store, key: &Key, overrides: &Overrides) {
    let Some(pod) = store.by_key(key).cloned() else {
        return;
    };
    let mut state = overrides.rollout.state_of(&overrides.states, &pod);
    // Spread by the StatefulSet ordinal, or by the number ending the Deployment's name.
    let ordinal = pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
        .as_str()
        .map(str::to_string)
        .or_else(|| node_key(&pod).rsplit('-').next().map(str::to_string))
        .and_then(|i| i.parse().ok())
        .unwrap_or(0);
    let mut node = None;
    if state.unschedulable.is_none() && str_of(&pod, &["spec", "nodeName"]).is_empty() {
        match super::scheduler::pick_node(store, &pod, ordinal) {
            Ok(picked) => node = picked,
            Err(message) => state.unschedulable = Some(message),
        }
    }
    let scheduled = state.unschedulable.is_none();
    let node = match str_of(&pod, &["spec", "nodeName"]) {
        "" => node,
        name => Some((
            name.to_string(),
            str_of(&pod, &["status", "hostIP"]).to_string(),
        )),
    };
    let ip = match str_of(&pod, &["status", "podIP"]) {
        "" if scheduled => {
            let n = store.next_serial();
            format!("10.8.{}.{}", (n / 250) % 250, n % 250 + 2)
        }
        "" => String::new(),
        ip => ip.to_string(),
    };
    let status = pod_status(&pod, &state, node.as_ref().map(|(_, ip)| ip.as_str()), &ip);
    store.controller_update(key, |p| {
        if let Some((name, _)) = &node {
            p["spec"]["nodeName"] = name.clone().into();
        }
        p["status"] = status;
    });
    add_events(store, key, &state);
}

fn pod_status(pod: &Value, state: &PodState, host_ip: Option<&str>, ip: &str) -> Value {
    let since = str_of(pod, &["metadata", "creationTimestamp"]).to_string();
    let uid = str_of(pod, &["metadata", "uid"]);
    let name = str_of(pod, &["metadata", "name"]);
    let ns = str_of(pod, &["metadata", "namespace"]);
    let condition = |kind: &str, ok: bool, reason: Option<(&str, String)>| {
        let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" },
            "lastProbeTime": null, "lastTransitionTime": since});
        if let Some((reason, message)) = reason {
            c["reason"] = reason.into();
            c["message"] = message.into();
        }
        c
    };
    if let Some(message) = &state.unschedulable {
        return json!({
            "phase": "Pending",
            "qosClass": "Burstable",
            "conditions": [condition("PodScheduled", false, Some(("Unschedulable", message.clone())))]
        });
    }
    let ready = state.is_ready();
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| str_of(c, &["name"]).to_string())
        .collect();
    let unready = (!ready).then(|| {
        (
            "ContainersNotReady",
            format!("containers with unready status: [{}]", containers.join(" ")),
        )
    });
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let cname = str_of(c, &["name"]);
            let container_id = format!("containerd://{}", hex64(&format!("{uid}/{cname}")));
            let running = state.waiting.is_none() && state.phase() == "Running";
            let current = match &state.waiting {
                Some((reason, message)) => {
                    let message = if reason == "CrashLoopBackOff" {
                        format!("{message}={cname} pod={name}_{ns}({uid})")
                    } else {
                        message.clone()
                    };
                    json!({"waiting": {"reason": reason, "message": message}})
                }
                None if running => json!({"running": {"startedAt": since}}),
                None => json!({"waiting": {"reason": "ContainerCreating"}}),
            };
            let last = if state.restarts > 0 {
                json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": since,
                    "finishedAt": since, "containerID": container_id}})
            } else {
                json!({})
            };
            json!({
                "name": cname, "image": c["image"], "imageID": "",
                "containerID": container_id, "ready": ready && running,
                "restartCount": state.restarts, "started": running,
                "state": current, "lastState": last
            })
        })
        .collect();
    let mut status = json!({
        "phase": state.phase(),
        "qosClass": "Burstable",
        "conditions": [
            condition("PodReadyToStartContainers", true, None),
            condition("Initialized", true, None),
            condition("Ready", ready, unready.clone()),
            condition("ContainersReady", ready, unready),
            condition("PodScheduled", true, None),
        ],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": since,
        "containerStatuses": statuses
    });
    if let Some(host) = host_ip {
        status["hostIP"] = host.into();
        status["hostIPs"] = json!([{"ip": host}]);
    }
    status
}

/// The events a state implies (and the test's own), each made once.
fn add_events(store: &mut Store, key: &Key, state: &PodState) {
    let Some(pod) = store.by_key(key).cloned() else {
        return;
    };
    let name = str_of(&pod, &["metadata", "name"]);
    let node = str_of(&pod, &["spec", "nodeName"]);
    let container = pod["spec"]["containers"][0]["name"].as_str().unwrap_or("");
    let image = pod["spec"]["containers"][0]["image"].as_str().unwrap_or("");
    let mut events: Vec<(String, String, String, &str)> = Vec::new();
    if let Some(message) = &state.unschedulable {
        events.push((
            "Warning".into(),
            "FailedScheduling".into(),
            message.clone(),
            "default-scheduler",
        ));
    }
    match state.waiting.as_ref().map(|(r, m)| (r.as_str(), m)) {
        Some(("CrashLoopBackOff", _)) => events.push((
            "Warning".into(),
            "BackOff".into(),
            format!(
                "Back-off restarting failed container {container} in pod {name}_{}({})",
                key.1,
                str_of(&pod, &["metadata", "uid"])
            ),
            "kubelet",
        )),
        Some(("ImagePullBackOff" | "ErrImagePull", message)) => {
            events.push((
                "Warning".into(),
                "Failed".into(),
                format!("Failed to pull image \"{image}\": {message}"),
                "kubelet",
            ));
            events.push((
                "Normal".into(),
                "BackOff".into(),
                format!("Back-off pulling image \"{image}\""),
                "kubelet",
            ));
        }
        _ => {}
    }
    for (kind, reason, message) in &state.events {
        events.push((kind.clone(), reason.clone(), message.clone(), "kubelet"));
    }
    for (kind, reason, message, component) in events {
        let event_name = format!(
            "{name}.{}",
            &hex64(&format!("{}/{reason}/{message}", pod["metadata"]["uid"]))[..16]
        );
        let event_key: Key = ("Event".into(), key.1.clone(), event_name.clone());
        if store.by_key(&event_key).is_some() {
            continue;
        }
        let since = super::time::now();
        let mut source = json!({"component": component});
        if component == "kubelet" && !node.is_empty() {
            source["host"] = node.into();
        }
        let mut involved = json!({"kind": "Pod", "namespace": key.1, "name": name,
            "uid": pod["metadata"]["uid"], "apiVersion": "v1",
            "resourceVersion": pod["metadata"]["resourceVersion"]});
        if component == "kubelet" {
            involved["fieldPath"] = format!("spec.containers{{{container}}}").into();
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": key.1, "uid": store.new_uid(),
                         "creationTimestamp": since},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": since,
            "lastTimestamp": since,
            "count": 1,
            "type": kind,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": if component == "kubelet" { node } else { "" }
        });
        store.insert_raw(event_key, event);
    }
}

/// 64 hex digits derived from `text` (container ids and event names).
fn hex64(text: &str) -> String {
    (0..4u64)
        .map(|round| {
            let h = text.bytes().fold(
                0xcbf2_9ce4_8422_2325u64 ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3),
            );
            format!("{h:016x}")
        })
        .collect()
}

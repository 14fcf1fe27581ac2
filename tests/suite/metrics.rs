//! Metrics: a Prometheus Operator PodMonitor for the nodes' `/metrics`, only where the API
//! server serves `monitoring.coreos.com/v1` PodMonitors (the test bed's discovery serves them
//! once the operator's CRDs are installed), with an off switch, never for servers without
//! `/metrics`, and removed by `delete`.

use serde_json::json;

use crate::common::*;
use crate::status::bed_with_nodes;

fn pod_monitors(bed: &TestBed) -> Vec<serde_json::Value> {
    bed.kube
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "PodMonitor")
        .collect()
}

#[test]
fn a_pod_monitor_is_applied_only_where_its_api_is_served_and_can_be_turned_off() {
    let bed = bed_with_nodes();
    // No operator: discovery does not list the group; nothing applied, nothing fails.
    let out = esk_ok(&bed, &["create", "3"]);
    assert!(pod_monitors(&bed).is_empty());
    assert!(!stderr(&out).contains("PodMonitor"), "{}", text(&out));
    assert!(!bed
        .kube
        .requests()
        .iter()
        .any(|r| r.contains("podmonitors") && !r.starts_with("GET")));
    bed.kube.install_prometheus_operator();
    let out = esk_ok(&bed, &["create", "3"]);
    assert!(
        stderr(&out).contains("metrics: PodMonitor es-nodes scrapes every node's /metrics"),
        "{}",
        text(&out)
    );
    let monitors = pod_monitors(&bed);
    assert_eq!(monitors.len(), 1);
    let m = &monitors[0];
    assert_eq!(m["metadata"]["name"], "es-nodes");
    assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
        "node"
    );
    let endpoint = &m["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["port"], "http");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(
        endpoint["tlsConfig"],
        json!({"ca": {"configMap": {"name": "es-ca-cert", "key": "ca.crt"}},
               "serverName": "es.default.svc.cluster.local"})
    );
    assert_eq!(
        endpoint["basicAuth"]["password"],
        json!({"name": "es-credentials", "key": "ops-password"})
    );
    // The selector finds exactly the voting nodes' pods.
    let node_pods = esk_objects(&bed, "Pod", "es")
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/component"] == "node")
        .count();
    assert_eq!(node_pods, 3);
    let user = bed
        .kube
        .get("Secret", Some("default"), "es-metrics-user")
        .expect("the scrape user's Secret");
    assert_eq!(user["data"]["username"], "b3Bz", "ops");
    // Turned off: removed, with its Secret.
    esk_ok(&bed, &["create", "3", "--set", "metrics.podMonitor=false"]);
    assert!(pod_monitors(&bed).is_empty());
    assert!(bed
        .kube
        .get("Secret", Some("default"), "es-metrics-user")
        .is_none());
    esk_ok(&bed, &["create", "3"]);
    assert_eq!(pod_monitors(&bed).len(), 1);
    esk_ok(&bed, &["delete", "--yes"]);
    assert!(pod_monitors(&bed).is_empty());
}

#[test]
fn insecure_clusters_are_scraped_over_http_and_5x_not_at_all() {
    let bed = bed_with_nodes();
    bed.kube.install_prometheus_operator();
    esk_ok(&bed, &["create", "1", "--insecure"]);
    let monitors = pod_monitors(&bed);
    assert_eq!(monitors.len(), 1);
    let endpoint = &monitors[0]["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["scheme"], "http");
    assert!(endpoint["basicAuth"].is_null() && endpoint["tlsConfig"].is_null());
    assert!(bed
        .kube
        .get("Secret", Some("default"), "es-metrics-user")
        .is_none());
    // EventStoreDB 5.x has no /metrics endpoint: no PodMonitor even where the API is served.
    let out = esk_ok(
        &bed,
        &["create", "1", "--name", "old", "--profile", "eventstore-5"],
    );
    assert!(
        pod_monitors(&bed)
            .iter()
            .all(|m| m["metadata"]["name"] != "old-nodes"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_plan_shows_the_pod_monitor_and_resize_applies_it() {
    let bed = bed_with_nodes();
    esk_ok(&bed, &["create", "3"]);
    bed.kube.install_prometheus_operator();
    let before = bed.mutating_requests();
    let out = esk_ok(&bed, &["resize", "5", "--dry-run"]);
    assert!(
        stdout(&out).contains("Metrics:\n  ~ apply   PodMonitor/es-nodes"),
        "{}",
        text(&out)
    );
    let out = esk_ok(&bed, &["resize", "5", "--dry-run", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["plan"]["podMonitor"],
        json!({"action": "apply", "name": "es-nodes"})
    );
    assert_eq!(
        bed.mutating_requests(),
        before,
        "a dry run changed something"
    );
    assert!(pod_monitors(&bed).is_empty());

    esk_ok(&bed, &["resize", "5"]);
    assert_eq!(pod_monitors(&bed).len(), 1, "resize applies it like create");

    // Turned off, the plan deletes the one there is; once gone, it names none.
    let off = ["create", "5", "--set", "metrics.podMonitor=false"];
    let out = esk_ok(&bed, &[&off[..], &["--dry-run", "-o", "json"]].concat());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["plan"]["podMonitor"],
        json!({"action": "delete", "name": "es-nodes"})
    );
    esk_ok(&bed, &off);
    assert!(pod_monitors(&bed).is_empty());
    let out = esk_ok(&bed, &[&off[..], &["--dry-run"]].concat());
    assert!(!stdout(&out).contains("PodMonitor"), "{}", text(&out));
}

//! Prometheus scraping, pure: which servers serve `/metrics`, and the Prometheus Operator
//! PodMonitor (with the Secret naming its user) that scrapes the voting nodes.
//!
//! Where the server serves it: `/metrics` on the HTTP port (2113), Prometheus text through
//! OpenTelemetry's scraping endpoint, since 23.10 (`UseOpenTelemetryPrometheusScrapingEndpoint`
//! in `src/EventStore.Core/ClusterVNodeStartup.cs` at oss-v23.10.0 and v24.10.6;
//! `src/KurrentDB.Core/ClusterVNodeStartup.cs` at v25.1.0; `ApplicationBuilderExtensions.cs` at
//! v26.0.0); 20.10-22.10 and 5.x have no such endpoint. It needs `Node.Statistics.Read`
//! (`Controllers/MetricsController.cs`), which the default policy grants authenticated users
//! only unless `AllowAnonymousEndpointAccess` (default false: `ClusterVNodeOptions.cs`;
//! `LegacyPolicySelectorFactory.cs`), so a secure cluster is scraped as the `ops` user with
//! its generated password, over TLS checked against the cluster CA, naming the cluster DNS
//! name every voting node's certificate carries.

use serde_json::json;

use crate::manifest::Manifest;
use crate::names::{ca_configmap, cluster_dns, credentials_secret, labels, selector};
use crate::spec::Spec;

/// The group-version and resource of the PodMonitor API.
pub const POD_MONITOR_API: &str = "monitoring.coreos.com/v1";
pub const POD_MONITOR_RESOURCE: &str = "podmonitors";
/// What kubectl calls it (group-qualified, so no other `podmonitors` can be meant).
pub const POD_MONITOR_KUBECTL: &str = "podmonitors.monitoring.coreos.com";
/// The first server generation that serves `/metrics` (23.10).
pub const FIRST_GENERATION_WITH_METRICS: u64 = 23;

/// Whether the server version serves `/metrics`.
pub fn serves_metrics(spec: &Spec) -> bool {
    spec.generation() >= FIRST_GENERATION_WITH_METRICS
}

/// Whether a PodMonitor is wanted: the server serves `/metrics` and `metrics.podMonitor` is
/// not turned off.
pub fn wanted(spec: &Spec) -> bool {
    let on = spec
        .profile
        .get("metrics.podMonitor")
        .and_then(serde_yaml::Value::as_bool)
        .unwrap_or(true);
    on && serves_metrics(spec)
}

/// What a run does with the PodMonitor: decided with the plan (so `--dry-run` shows it) and
/// done once the cluster's objects are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodMonitorStep {
    /// Apply it (on a secure cluster with its user's Secret): the API is served and it is
    /// wanted. Applied on every run, like the cluster's other objects.
    Apply { name: String },
    /// Delete it and its user's Secret: one exists and it is turned off (or the server has no
    /// `/metrics`).
    Delete { name: String },
}

/// The step for a cluster, given whether the API server serves PodMonitors and whether the
/// cluster has one.
pub fn step(spec: &Spec, served: bool, present: bool) -> Option<PodMonitorStep> {
    let name = pod_monitor_name(spec);
    match (served, wanted(spec), present) {
        (true, true, _) => Some(PodMonitorStep::Apply { name }),
        (true, false, true) => Some(PodMonitorStep::Delete { name }),
        _ => None,
    }
}

pub fn pod_monitor_name(spec: &Spec) -> String {
    format!("{}-nodes", spec.name)
}

/// The Secret holding the scrape user's name (the password is the credentials Secret's).
pub fn auth_secret_name(spec: &Spec) -> String {
    format!("{}-metrics-user", spec.name)
}

/// The objects that make Prometheus scrape the voting nodes: the PodMonitor, and on a secure
/// cluster the Secret naming its user.
pub fn manifests(spec: &Spec) -> Vec<Manifest> {
    let meta = |name: String| {
        json!({"name": name, "namespace": spec.namespace.as_str(),
            "labels": labels(spec, "metrics", None)})
    };
    let mut endpoint = json!({"port": "http", "path": "/metrics", "interval": "30s"});
    let mut out = Vec::new();
    if spec.security.tls {
        use base64::Engine;
        let user = base64::engine::general_purpose::STANDARD.encode("ops");
        out.push(Manifest::built(
            "metrics",
            "Secret",
            &auth_secret_name(spec),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta(auth_secret_name(spec)),
                "type": "Opaque", "data": {"username": user}}),
        ));
        endpoint["scheme"] = "https".into();
        endpoint["tlsConfig"] = json!({
            "ca": {"configMap": {"name": ca_configmap(spec), "key": "ca.crt"}},
            "serverName": cluster_dns(spec),
        });
        endpoint["basicAuth"] = json!({
            "username": {"name": auth_secret_name(spec), "key": "username"},
            "password": {"name": credentials_secret(spec), "key": "ops-password"},
        });
    } else {
        endpoint["scheme"] = "http".into();
    }
    out.push(Manifest::built(
        "metrics",
        "PodMonitor",
        &pod_monitor_name(spec),
        json!({
            "apiVersion": POD_MONITOR_API,
            "kind": "PodMonitor",
            "metadata": meta(pod_monitor_name(spec)),
            "spec": {
                "selector": {"matchLabels": selector(spec, "node", None)},
                "podMetricsEndpoints": [endpoint],
            },
        }),
    ));
    out
}

//! Before a roll restarts the leader, esk asks it to resign, so the cluster elects a new leader
//! while every node is up instead of after the leader is gone (one planned hand-over instead
//! of an unplanned election and its client errors).
//!
//! The server's endpoint: `POST /admin/node/resign`, allowed to `$admins` and `$ops`
//! (AdminController.cs, OnResignNode, and LegacyPolicySelectorFactory.cs: src/EventStore.Core
//! at v24.10.6, src/KurrentDB.Core at v25.1.0 and v26.0.0). The node resigns only if it leads
//! and leaves itself out of the next election (ElectionsService.cs, Handle(ResignNode), same
//! tags). EventStore 5.x has no such endpoint (Controllers/AdminController.cs at oss-v5.0.11
//! has shutdown, scavenge and mergeindexes only), so a 5.x leader restarts as before.
//!
//! The route: the API server's pod proxy (how esk reads gossip) removes the `Authorization`
//! header once it has authenticated the request (k8s.io/apiserver,
//! pkg/endpoints/filters/authentication.go), so Basic credentials never reach the node. The
//! request therefore runs inside the cluster as for 5.x's password reset
//! (`commands::default_credentials`): a short Job on the cluster's own image (its Dockerfile
//! installs curl at v24.10.6, v25.1.0 and v26.0.0), `curl -q -K FILE` with the request in a
//! config file mounted from a Secret (never on a command line), as the `ops` user (the least
//! role the endpoint takes) with the generated password, to the leader's stable DNS name, over
//! https verified against the cluster's CA: every CA of the CA ConfigMap, bundled into the
//! same Secret, so during a certificate rotation a node serving either CA's certificate is
//! verified. An insecure cluster's
//! nodes authenticate every request as the system account (PassthroughAuthenticationProvider,
//! same tags), so the same Job sends no credentials there. The Job prefers the leader's own
//! Kubernetes node, where the image is already pulled.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::curl::quoted;
use crate::manifest::{Manifest, ObjectRef};
use crate::spec::Spec;

/// How long the request's Job may take (scheduling, start, the request).
pub const JOB_TIMEOUT: Duration = Duration::from_secs(90);
/// How long gossip may take to show another leader after the request was accepted.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// How asking the leader to resign ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Resignation {
    /// Another node leads now.
    HandedOver { leader: String, secs: f64 },
    /// Not asked or not done; why, in a few words.
    NotDone(String),
}

fn config_secret(spec: &Spec) -> String {
    format!("{}-resign-request", spec.name)
}

pub fn job_name(spec: &Spec) -> String {
    format!("{}-resign", spec.name)
}

const REQUEST_DIR: &str = "/request";

/// The curl config of the request to node `index`: https with the cluster CA and the ops
/// user's password when the cluster has TLS, plain http without credentials otherwise.
pub fn curl_config(spec: &Spec, index: u8, ops_password: Option<&str>) -> String {
    let host = crate::names::member_fqdn(spec, index);
    let scheme = if spec.security.tls { "https" } else { "http" };
    let mut lines = vec![
        format!(
            "url = {}",
            quoted(&format!("{scheme}://{host}:2113/admin/node/resign"))
        ),
        format!("request = {}", quoted("POST")),
        "fail".to_string(),
        "silent".to_string(),
        "show-error".to_string(),
        format!("max-time = {}", quoted("20")),
        format!("output = {}", quoted("/dev/null")),
    ];
    if spec.security.tls {
        lines.push(format!(
            "cacert = {}",
            quoted(&format!("{REQUEST_DIR}/ca.crt"))
        ));
        if let Some(p) = ops_password {
            lines.push(format!("user = {}", quoted(&format!("ops:{p}"))));
        }
    }
    lines.join("\n") + "\n"
}

/// The CA bundle to verify nodes with: every CA certificate of the CA ConfigMap (`ca.crt`,
/// and `ca-next.crt` during a rotation), or None when it holds none.
pub fn ca_bundle(configmap: &Value) -> Option<String> {
    let bundle: Vec<&str> = ["ca.crt", "ca-next.crt"]
        .iter()
        .filter_map(|k| configmap["data"][*k].as_str())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    (!bundle.is_empty()).then(|| bundle.join("\n") + "\n")
}

/// The Secret holding the request (and the CA bundle, on a TLS cluster).
pub fn request_secret(spec: &Spec, config: &str, ca: Option<&str>) -> Manifest {
    let name = config_secret(spec);
    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut data = json!({"resign.conf": encode(config)});
    if let Some(ca) = ca {
        data["ca.crt"] = encode(ca).into();
    }
    Manifest::built(
        "resign",
        "Secret",
        &name,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": spec.namespace.as_str(),
                "labels": crate::names::labels(spec, "resign", None)},
            "data": data,
        }),
    )
}

/// The Job that sends the request once (no retries: a refusal is an answer), preferring
/// Kubernetes node `host` (the leader's, where the image is).
pub fn job(spec: &Spec, image: &str, uid: u64, host: Option<&str>) -> Manifest {
    let labels = json!(crate::names::labels(spec, "resign", None));
    let mounts = vec![json!({"name": "request", "mountPath": REQUEST_DIR, "readOnly": true})];
    let volumes = vec![json!({"name": "request",
        "secret": {"secretName": config_secret(spec), "defaultMode": 288}})];
    let mut pod = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "securityContext": {
            "runAsUser": uid, "runAsGroup": uid, "runAsNonRoot": true,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [{
            "name": "resign",
            "image": image,
            "command": ["curl", "-q", "-K", "/request/resign.conf"],
            "securityContext": {
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": mounts,
        }],
        "volumes": volumes,
    });
    if let Some(host) = host {
        pod["affinity"] = json!({"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {
                "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                    "values": [host]}]}}]}});
    }
    let mut m = Manifest::job(
        "resign",
        spec.namespace.as_str(),
        &job_name(spec),
        &labels,
        pod,
    );
    m.value["spec"]["backoffLimit"] = serde_yaml::Value::from(0);
    m.value["spec"]["activeDeadlineSeconds"] = serde_yaml::Value::from(JOB_TIMEOUT.as_secs());
    m
}

/// The objects the request leaves behind, to delete.
pub fn leftovers(spec: &Spec) -> Vec<ObjectRef> {
    vec![
        ObjectRef {
            kind: "Job".into(),
            name: job_name(spec),
        },
        ObjectRef {
            kind: "Secret".into(),
            name: config_secret(spec),
        },
    ]
}

/// How a Job ended, from its conditions: Some(true) complete, Some(false) failed.
pub fn job_end(job: &Value) -> Option<bool> {
    let conditions = job["status"]["conditions"].as_array()?;
    let is = |kind: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    if is("Complete") {
        Some(true)
    } else if is("Failed") {
        Some(false)
    } else {
        None
    }
}

/// Seconds since `started`, for the report.
pub fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &[&str]) -> Spec {
        use clap::Parser;
        #[derive(Parser)]
        struct Args {
            #[command(flatten)]
            g: crate::cli::Global,
        }
        let mut argv = vec!["esk"];
        argv.extend(extra);
        Args::parse_from(argv)
            .g
            .spec(
                crate::spec::NodeCount::new(3).unwrap(),
                Some(crate::spec::Cloud::Gke),
            )
            .unwrap()
    }

    #[test]
    fn tls_requests_verify_the_ca_and_carry_ops_credentials() {
        let c = curl_config(&spec(&[]), 2, Some("p\"w"));
        assert!(
            c.contains(
                "url = \"https://es-2.es.default.svc.cluster.local:2113/admin/node/resign\""
            ),
            "{c}"
        );
        assert!(c.contains("cacert = \"/request/ca.crt\""), "{c}");
        assert!(c.contains(r#"user = "ops:p\"w""#), "{c}");
        assert!(
            c.contains("\nfail\n") && c.contains("request = \"POST\""),
            "{c}"
        );
        assert!(!c.contains("insecure"), "{c}");
    }

    #[test]
    fn the_bundle_holds_every_ca_of_a_rotation() {
        let cm = json!({"data": {"ca.crt": "OLD\n", "ca-next.crt": "NEW"}});
        assert_eq!(ca_bundle(&cm).as_deref(), Some("OLD\nNEW\n"));
        assert_eq!(ca_bundle(&json!({"data": {}})), None);
    }

    #[test]
    fn insecure_requests_are_plain_and_carry_no_credentials() {
        let c = curl_config(&spec(&["--insecure"]), 1, Some("x"));
        assert!(c.contains("url = \"http://es-1."), "{c}");
        assert!(!c.contains("user") && !c.contains("cacert"), "{c}");
    }
}

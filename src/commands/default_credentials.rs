//! After `esk create` on EventStore 5.x: replace the well-known default passwords of `admin`
//! and `ops` (`changeit`) with the generated ones from Secret `<name>-credentials`, once the
//! cluster has a leader. 5.x has no insecure mode, so without this anyone who reaches ports
//! 2113/1113 is admin.
//!
//! The server's user API needs Basic credentials, which the API server's pod proxy removes
//! (see `crate::credentials5`), so the requests run inside the cluster: short Jobs on the
//! cluster's own 5.x image (it ships curl), each `curl -q -K FILE` with the request in a config
//! file mounted from a Secret, never on a command line. First a Job checks whether the
//! generated admin password already works (`GET /users/$current`): then nothing is changed.
//! Otherwise a Job resets `ops`, then `admin`, authenticated as admin:changeit
//! (`POST /users/{login}/command/reset-password` `{"newPassword": …}`, UsersController.cs at
//! oss-v5.0.11). The requests go to the leader's stable DNS name. When done the credentials
//! Secret is annotated, which `status` reads; re-runs then do nothing.

use std::time::Duration;

use anyhow::Result;
use base64::Engine;
use serde_json::{json, Value};

use crate::adapters::kubectl::{JobsEnd, Kubectl};
use crate::credentials5::{DEFAULT_PASSWORD, REPLACED, REPLACED_ANNOTATION};
use crate::curl::quoted;
use crate::manifest::{Manifest, MANAGED_BY};
use crate::secrets;
use crate::spec::Spec;

/// Marks the Jobs (and their config Secret) of cluster <value>.
const JOB_LABEL: &str = "esk.io/credentials-of";

fn config_secret(spec: &Spec) -> String {
    format!("{}-credentials-requests", spec.name)
}

/// What happened; `NotYet` carries the reason for a warning.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    NotApplicable,
    AlreadyDone,
    Replaced,
    NotYet(String),
}

fn curl_config(url: &str, user: &str, password: &str, body: Option<&Value>) -> String {
    let mut lines = vec![
        format!("url = {}", quoted(url)),
        format!("user = {}", quoted(&format!("{user}:{password}"))),
        "fail".to_string(),
        "silent".to_string(),
        "show-error".to_string(),
        format!("output = {}", quoted("/dev/null")),
    ];
    if let Some(body) = body {
        lines.push(format!("request = {}", quoted("POST")));
        lines.push(format!(
            "header = {}",
            quoted("Content-Type: application/json")
        ));
        lines.push(format!("data = {}", quoted(&body.to_string())));
    }
    lines.join("\n") + "\n"
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn credentials_manifest(spec: &Spec, admin: &str, ops: &str, replaced: bool) -> Manifest {
    let name = crate::names::credentials_secret(spec);
    let mut metadata = json!({
        "name": name,
        "namespace": spec.namespace.as_str(),
        "labels": crate::names::labels(spec, "secrets", None),
    });
    if replaced {
        metadata["annotations"] = json!({REPLACED_ANNOTATION: REPLACED});
    }
    Manifest::built(
        "credentials",
        "Secret",
        &name,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata,
            "data": {"admin-password": b64(admin), "ops-password": b64(ops)},
        }),
    )
}

/// A Job running `curl -q -K /requests/<file>` for each file in order (all but the last as
/// init containers, so they run one after another).
fn job(spec: &Spec, name: &str, files: &[&str], image: &str, uid: u64) -> Manifest {
    let labels = json!({MANAGED_BY: "esk", JOB_LABEL: spec.name.as_str()});
    let container = |file: &str| {
        json!({
            "name": file.trim_end_matches(".conf"),
            "image": image,
            "command": ["curl", "-q", "-K", format!("/requests/{file}")],
            "securityContext": {
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [{"name": "requests", "mountPath": "/requests", "readOnly": true}],
        })
    };
    let (last, first) = files
        .split_last()
        .map_or((None, &[][..]), |(l, f)| (Some(*l), f));
    let mut pod = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "securityContext": {
            "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "runAsNonRoot": true,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": last.map(container).into_iter().collect::<Vec<_>>(),
        "volumes": [{"name": "requests",
            "secret": {"secretName": config_secret(spec), "defaultMode": 288}}],
    });
    if !first.is_empty() {
        pod["initContainers"] = first.iter().map(|f| container(f)).collect();
    }
    Manifest::job("credentials", spec.namespace.as_str(), name, &labels, pod)
}

/// Runs one Job to its end: whether it succeeded.
fn run_job(kubectl: &Kubectl, spec: &Spec, job: Manifest) -> Result<bool> {
    let refs = [job.object.clone()];
    // A finished Job of the same name from an earlier run would be immutable.
    kubectl.delete(&refs)?;
    kubectl.apply(&[job])?;
    let selector = format!("{JOB_LABEL}={}", spec.name);
    let names = [refs[0].name.clone()];
    let end = kubectl.wait_jobs(
        &selector,
        &names,
        Duration::from_secs(180),
        Duration::from_millis(250),
    )?;
    kubectl.delete(&refs)?;
    Ok(end == JobsEnd::Done)
}

/// The leader's stable DNS name, if the cluster has one.
fn leader(kubectl: &Kubectl, spec: &Spec) -> Result<Option<String>> {
    let proxy = kubectl.proxy()?;
    let obs = crate::health::observe::observe(kubectl, &proxy, spec)?;
    let health = crate::health::assess(spec, &obs, crate::health::clock::now());
    Ok(health
        .leader
        .map(|l| format!("{l}.{}", crate::names::cluster_dns(spec))))
}

/// Replaces 5.x's default passwords with the generated ones (see the module's doc).
pub fn replace(kubectl: &Kubectl, spec: &Spec) -> Result<Outcome> {
    if spec.generation() >= 20 {
        return Ok(Outcome::NotApplicable);
    }
    let name = crate::names::credentials_secret(spec);
    let stored = kubectl.get_json(&[
        "secret".to_string(),
        name.clone(),
        "--ignore-not-found".to_string(),
    ])?;
    if stored["metadata"]["annotations"][REPLACED_ANNOTATION] == REPLACED {
        return Ok(Outcome::AlreadyDone);
    }
    let data = secrets::decode(&stored["data"]);
    let password = |key: &str| -> Result<String> {
        match data.get(key) {
            Some(p) if !p.is_empty() => Ok(p.clone()),
            _ => crate::tls::password(),
        }
    };
    let (admin, ops) = (password("admin-password")?, password("ops-password")?);
    // Kept before any request: a password set on the server is never lost.
    kubectl.apply(&[credentials_manifest(spec, &admin, &ops, false)])?;
    let Some(host) = leader(kubectl, spec)? else {
        return Ok(Outcome::NotYet("the cluster has no leader yet".into()));
    };
    let base = format!("http://{host}:2113/users");
    let reset = |login: &str, new: &str| {
        curl_config(
            &format!("{base}/{login}/command/reset-password"),
            "admin",
            DEFAULT_PASSWORD,
            Some(&json!({"newPassword": new})),
        )
    };
    let files = [
        (
            "check.conf",
            curl_config(&format!("{base}/$current"), "admin", &admin, None),
        ),
        ("ops.conf", reset("ops", &ops)),
        ("admin.conf", reset("admin", &admin)),
    ];
    let data: serde_json::Map<String, Value> = files
        .iter()
        .map(|(f, text)| (f.to_string(), Value::String(b64(text))))
        .collect();
    let mut labels = crate::names::labels(spec, "secrets", None);
    labels.insert(JOB_LABEL.into(), spec.name.to_string());
    let requests = Manifest::built(
        "credentials",
        "Secret",
        &config_secret(spec),
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": config_secret(spec), "namespace": spec.namespace.as_str(),
                "labels": labels},
            "data": data,
        }),
    );
    let requests_ref = requests.object.clone();
    kubectl.apply(&[requests])?;
    let image = spec.profile.str("image")?;
    let uid = spec.profile.u64("runAsUser")?;
    let check = job(
        spec,
        &format!("{}-credentials-check", spec.name),
        &["check.conf"],
        &image,
        uid,
    );
    let reset = job(
        spec,
        &format!("{}-credentials-reset", spec.name),
        &["ops.conf", "admin.conf"],
        &image,
        uid,
    );
    let done = run_job(kubectl, spec, check)? || run_job(kubectl, spec, reset)?;
    kubectl.delete(&[requests_ref])?;
    if !done {
        return Ok(Outcome::NotYet(
            "neither the generated nor the default admin password was accepted".into(),
        ));
    }
    kubectl.apply(&[credentials_manifest(spec, &admin, &ops, true)])?;
    Ok(Outcome::Replaced)
}

/// After a create run: replaces the defaults, or warns why not yet (the run still succeeds:
/// the cluster is up; a re-run finishes the change).
pub(super) fn after_create(s: &super::session::Session) -> Result<()> {
    match replace(&s.kubectl, &s.spec)? {
        Outcome::Replaced => s.report.info(&format!(
            "5.x: the default passwords of admin and ops are replaced by the generated ones \
             (Secret {}, `esk credentials`)",
            crate::names::credentials_secret(&s.spec)
        )),
        Outcome::NotYet(why) => s.report.warn(&format!(
            "default credentials still active on 5.x ({why}): run `esk create {}` again",
            s.spec.nodes
        )),
        Outcome::NotApplicable | Outcome::AlreadyDone => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_configs_quote_what_they_carry() {
        let c = curl_config(
            "http://es-1.es.default.svc.cluster.local:2113/users/ops/command/reset-password",
            "admin",
            "changeit",
            Some(&json!({"newPassword": "a\"b\\c"})),
        );
        assert!(c.contains("user = \"admin:changeit\"\n"), "{c}");
        assert!(
            c.contains(r#"data = "{\"newPassword\":\"a\\\"b\\\\c\"}""#),
            "{c}"
        );
        assert!(c.contains("\nfail\n"), "{c}");
    }
}

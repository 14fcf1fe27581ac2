//! The Kubernetes side: kubectl's and the server's versions, and the access reviews.

use serde_json::Value;

use super::{describe, Check, MIN_KUBECTL, MIN_SERVER};
use crate::adapters::kubectl::ResourceAttributes;

/// The first `major.minor[.patch]` in `text`: `v1.32.4-dispatcher`, `528.0.0`,
/// `aws-cli/1.45.11 Python/3.11.7 …`.
pub fn version_numbers(text: &str) -> Option<(u32, u32, u32)> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let run: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = run.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// (major, minor, as shown) of a Kubernetes version object: `gitVersion` (`v1.30.5-gke.100`)
/// else `major`/`minor` (EKS says `"minor": "30+"`).
pub fn kube_version(v: &Value) -> Option<(u32, u32, String)> {
    if let Some(git) = v["gitVersion"].as_str() {
        if let Some((major, minor, _)) = version_numbers(git) {
            return Some((major, minor, git.trim_start_matches('v').to_string()));
        }
    }
    let digits = |k: &str| -> Option<u32> {
        let s: String = v[k]
            .as_str()?
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        s.parse().ok()
    };
    let (major, minor) = (digits("major")?, digits("minor")?);
    Some((major, minor, format!("{major}.{minor}")))
}

/// `kubectl version`'s client part; `None` when kubectl is not on PATH.
pub fn kubectl(client: Option<&Value>) -> Check {
    let Some(client) = client else {
        return Check::fail(
            "kubectl",
            "not found on PATH",
            "install kubectl (https://kubernetes.io/docs/tasks/tools/)",
        );
    };
    let (min_major, min_minor) = MIN_KUBECTL;
    match kube_version(client) {
        Some((major, minor, shown)) if (major, minor) >= MIN_KUBECTL => {
            Check::pass("kubectl", shown)
        }
        Some((_, _, shown)) => Check::fail(
            "kubectl",
            format!("{shown} is older than {min_major}.{min_minor}"),
            format!("install kubectl {min_major}.{min_minor} or newer"),
        ),
        None => Check::fail(
            "kubectl",
            "`kubectl version` printed no version",
            "reinstall kubectl",
        ),
    }
}

/// The API server: reachable, and new enough.
pub fn server(server: &Result<Value, String>, context: &str) -> Check {
    let (min_major, min_minor) = MIN_SERVER;
    match server {
        Err(e) => Check::fail(
            "Kubernetes API",
            format!("context {context} does not answer: {e}"),
            "check `kubectl cluster-info`; refresh the context with `gcloud container clusters \
             get-credentials` or `aws eks update-kubeconfig`",
        ),
        Ok(v) => match kube_version(v) {
            Some((major, minor, shown)) if (major, minor) >= MIN_SERVER => Check::pass(
                "Kubernetes API",
                format!("context {context}, server {shown}"),
            ),
            Some((_, _, shown)) => Check::fail(
                "Kubernetes API",
                format!("context {context}: server {shown} is older than {min_major}.{min_minor}"),
                format!("upgrade the cluster to Kubernetes {min_major}.{min_minor} or newer"),
            ),
            None => Check::fail(
                "Kubernetes API",
                format!("context {context} reported no version"),
                "check `kubectl version`",
            ),
        },
    }
}

/// The access reviews' answers.
pub fn permissions(answers: &[(ResourceAttributes, bool)], namespace: &str) -> Check {
    let denied: Vec<String> = answers
        .iter()
        .filter(|(_, allowed)| !allowed)
        .map(|(q, _)| match &q.namespace {
            Some(_) => describe(q),
            None => format!("{} (cluster-wide)", describe(q)),
        })
        .collect();
    if denied.is_empty() {
        return Check::pass(
            "permissions",
            format!(
                "all {} allowed (in namespace {namespace} and cluster-wide)",
                answers.len()
            ),
        );
    }
    Check::fail(
        "permissions",
        format!(
            "{} of {} denied in namespace {namespace}: {}",
            denied.len(),
            answers.len(),
            denied.join(", ")
        ),
        "ask a cluster admin to grant these (a Role in the namespace, a ClusterRole for the \
         cluster-wide ones); `kubectl auth can-i VERB RESOURCE` rechecks one",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use serde_json::json;

    #[test]
    fn versions_are_read_from_what_the_tools_print() {
        assert_eq!(version_numbers("v1.32.4-dispatcher"), Some((1, 32, 4)));
        assert_eq!(version_numbers("528.0.0"), Some((528, 0, 0)));
        assert_eq!(
            version_numbers("aws-cli/1.45.11 Python/3.11.7 Linux/6.1 botocore/1.43.11"),
            Some((1, 45, 11))
        );
        assert_eq!(version_numbers("none"), None);
        let eks = json!({"major": "1", "minor": "30+"});
        assert_eq!(kube_version(&eks), Some((1, 30, "1.30".into())));
        let gke = json!({"major": "1", "minor": "30", "gitVersion": "v1.30.5-gke.1014001"});
        assert_eq!(
            kube_version(&gke),
            Some((1, 30, "1.30.5-gke.1014001".into()))
        );
    }

    #[test]
    fn old_servers_and_clients_fail() {
        let old = Ok(json!({"gitVersion": "v1.28.9"}));
        assert_eq!(server(&old, "c").status, Status::Fail);
        let current = Ok(json!({"gitVersion": "v1.29.0"}));
        assert_eq!(server(&current, "c").status, Status::Pass);
        let c = kubectl(Some(&json!({"gitVersion": "v1.27.3"})));
        assert_eq!(c.status, Status::Fail, "{c}");
        assert_eq!(kubectl(None).status, Status::Fail);
        let unreachable = server(&Err("connection refused".into()), "c");
        assert!(
            unreachable.detail.contains("connection refused"),
            "{unreachable}"
        );
    }
}

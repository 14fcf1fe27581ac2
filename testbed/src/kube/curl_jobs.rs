//! What a Job's `curl -K FILE` containers do inside a cluster, run when the Job is made: the
//! config file comes from the Secret mounted over its path; a request to a 5.x node's DNS name
//! (`<node>.<cluster>.<ns>.svc…`) reaches that cluster's user API (`users`) directly, with its
//! Basic credentials intact (no API server in between); one to a 20.10+ node reaches its
//! resign endpoint (`resign`), over https with `cacert` naming a mounted file (Secret or
//! ConfigMap) that holds the CA the node trusts when the node serves TLS (curl refuses a private CA otherwise;
//! the bed also fails `insecure`, which esk never uses), over http when it does not. `fail` makes a 4xx/5xx answer fail
//! the container, as curl's `--fail` does; containers run in order (init containers first)
//! and the first failure fails the Job. Jobs running anything else succeed as before.

use super::store::Store;
use crate::http::Request;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// Runs the Job's curl containers; `false` if one failed.
pub fn run(store: &mut Store, job: &Value) -> bool {
    let ns = job["metadata"]["namespace"].as_str().unwrap_or("default");
    let spec = &job["spec"]["template"]["spec"];
    let containers: Vec<Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default())
        .collect();
    for c in &containers {
        let command: Vec<&str> = c["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if command.first() != Some(&"curl") {
            continue;
        }
        let Some(config) = config_file(store, ns, spec, c, &command) else {
            return false;
        };
        if !request(store, ns, spec, c, &parse(&config)) {
            return false;
        }
    }
    true
}

/// The text of the file `-K PATH` names, from the Secret volume mounted over it.
fn config_file(
    store: &Store,
    ns: &str,
    spec: &Value,
    c: &Value,
    command: &[&str],
) -> Option<String> {
    let at = command
        .iter()
        .position(|a| *a == "-K" || *a == "--config")?;
    mounted_file(store, ns, spec, c, command.get(at + 1)?, "secret")
}

/// The text of file `path` in container `c`, from the `kind` (`secret` or `configMap`) volume
/// mounted over it.
fn mounted_file(
    store: &Store,
    ns: &str,
    spec: &Value,
    c: &Value,
    path: &str,
    kind: &str,
) -> Option<String> {
    let mount = c["volumeMounts"].as_array()?.iter().find(|m| {
        m["mountPath"]
            .as_str()
            .is_some_and(|p| path.starts_with(&format!("{p}/")))
    })?;
    let file = path
        .strip_prefix(mount["mountPath"].as_str()?)?
        .trim_start_matches('/');
    let volume = spec["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == mount["name"])?;
    let source = &volume[kind];
    let (object_kind, name) = match kind {
        "secret" => ("Secret", source["secretName"].as_str()?),
        _ => ("ConfigMap", source["name"].as_str()?),
    };
    let info = super::kinds::by_kind(object_kind)?;
    let object = store.get(info, Some(ns), name)?;
    if object_kind == "ConfigMap" {
        return object["data"][file].as_str().map(str::to_string);
    }
    let encoded = object["data"][file].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The CA bundle a TLS node trusts: `ca.crt` of the ConfigMap mounted at its trusted roots.
fn trusted_ca(store: &Store, node: &Value) -> Option<String> {
    let spec = &node["spec"];
    let ns = node["metadata"]["namespace"].as_str()?;
    spec["volumes"].as_array()?.iter().find_map(|v| {
        let name = v["configMap"]["name"].as_str()?;
        let info = super::kinds::by_kind("ConfigMap")?;
        let cm = store.get(info, Some(ns), name)?;
        cm["data"]["ca.crt"].as_str().map(str::to_string)
    })
}

/// curl's config syntax: `name = "value"` (backslash escapes inside quotes) or a bare `name`.
fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once(['=', ':', ' ']) {
            Some((n, v)) => (n.trim(), v.trim().trim_start_matches(['=', ':']).trim()),
            None => (line, ""),
        };
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => {
                let mut s = String::new();
                let mut chars = quoted.chars();
                while let Some(ch) = chars.next() {
                    if ch == '\\' {
                        s.extend(chars.next());
                    } else {
                        s.push(ch);
                    }
                }
                s
            }
            None => value.to_string(),
        };
        out.insert(name.to_string(), value);
    }
    out
}

/// One request as curl would send it; `false` when it fails (no such node, a TLS mismatch, an
/// unverified certificate, or `fail` and a 4xx/5xx answer).
fn request(
    store: &mut Store,
    ns: &str,
    job_spec: &Value,
    c: &Value,
    conf: &BTreeMap<String, String>,
) -> bool {
    let Some(url) = conf.get("url") else {
        return false;
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.split(':').next().unwrap_or("");
    // <node>.<cluster>.<ns>.svc.…: a running node of that cluster.
    let labels: Vec<&str> = host.split('.').collect();
    let (Some(node), Some(cluster), Some(host_ns)) = (labels.first(), labels.get(1), labels.get(2))
    else {
        return false;
    };
    let Some(info) = super::kinds::by_kind("Pod") else {
        return false;
    };
    let pod = store
        .objects()
        .find(|p| {
            p["kind"] == info.kind
                && p["metadata"]["namespace"] == *host_ns
                && p["spec"]["hostname"] == *node
                && p["spec"]["subdomain"] == *cluster
                && p["status"]["podIP"].is_string()
        })
        .cloned();
    let Some(pod) = pod else {
        return false;
    };
    if *host_ns != ns && !store.namespace_exists(host_ns) {
        return false;
    }
    let tls = super::proxy::serves_tls(&pod);
    if (scheme == "https") != tls || !matches!(scheme, "http" | "https") {
        return false;
    }
    if tls {
        // The bundle must hold the CA the node's certificate chains to.
        let given = conf.get("cacert").and_then(|path| {
            mounted_file(store, ns, job_spec, c, path, "secret")
                .or_else(|| mounted_file(store, ns, job_spec, c, path, "configMap"))
        });
        let verified = match (given, trusted_ca(store, &pod)) {
            (Some(bundle), Some(ca)) => !ca.trim().is_empty() && bundle.contains(ca.trim()),
            _ => false,
        };
        if !verified || conf.contains_key("insecure") {
            return false;
        }
    }
    let data = conf.get("data").cloned().unwrap_or_default();
    let method = conf
        .get("request")
        .cloned()
        .unwrap_or_else(|| if data.is_empty() { "GET" } else { "POST" }.to_string());
    let authorization = conf.get("user").map(|u| {
        let token = base64::engine::general_purpose::STANDARD.encode(u);
        format!("Basic {token}")
    });
    let status = if super::proxy::is_legacy(&pod) {
        let req = Request {
            method,
            path: format!("/{path}"),
            query: Vec::new(),
            headers: Default::default(),
            body: data.into_bytes(),
        };
        let key = format!("{host_ns}/{cluster}");
        super::users::serve(
            &mut store.overrides.users,
            &key,
            &req,
            &req.path,
            authorization.as_deref(),
        )
        .status
    } else if path.trim_end_matches('/') == "admin/node/resign" {
        super::resign::serve(store, &pod, &method, authorization.as_deref())
    } else {
        404
    };
    !(conf.contains_key("fail") && status >= 400)
}

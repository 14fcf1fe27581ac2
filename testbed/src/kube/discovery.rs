//! `/version` and API discovery: aggregated (`APIGroupDiscoveryList`, what kubectl asks for
//! first) and legacy (`APIVersions`, `APIGroupList`, `APIResourceList`).

use super::kinds::{group_versions, kinds_in, Crds, KindInfo};
use crate::http::{Request, Response};
use serde_json::{json, Value};

/// The exact media type kubectl accepts for aggregated discovery.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/version` for a server of Kubernetes `major.minor` (1.32 unless a test sets another).
pub fn version(major: u32, minor: u32) -> Value {
    json!({
        "major": major.to_string(),
        "minor": minor.to_string(),
        "gitVersion": format!("v{major}.{minor}.0"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// Answers a discovery path, or `None` when `path` is not one; `crds`: which optional CRD
/// groups are installed.
pub fn handle(req: &Request, crds: Crds) -> Option<Response> {
    // Only v2 is served: kubectl 1.27-1.29 ask for v2beta1 and then get the legacy documents.
    let aggregated = req.header("accept").is_some_and(|a| {
        a.split(',').any(|media| {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            params.contains(&"as=APIGroupDiscoveryList") && params.contains(&"v=v2")
        })
    });
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let body = match segments.as_slice() {
        ["api"] if aggregated => return Some(aggregated_response(true, crds)),
        ["apis"] if aggregated => return Some(aggregated_response(false, crds)),
        ["api"] => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
        }),
        ["apis"] => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": group_versions(crds)
                .into_iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, v)| api_group(g, v))
                .collect::<Vec<_>>()
        }),
        ["apis", group] => {
            let (g, v) = group_versions(crds).into_iter().find(|(g, _)| g == group)?;
            let mut body = api_group(g, v);
            body["kind"] = "APIGroup".into();
            body["apiVersion"] = "v1".into();
            body
        }
        ["api", version] => resource_list("", version)?,
        ["apis", group, version] => resource_list(group, version)?,
        _ => return None,
    };
    Some(Response::json(200, &body))
}

fn api_group(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

fn resource_list(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&KindInfo> = kinds_in(group, version).collect();
    if kinds.is_empty() {
        return None;
    }
    let gv = kinds[0].api_version();
    let mut resources = Vec::new();
    for k in kinds {
        let mut r = json!({
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": k.verbs,
        });
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        resources.push(r);
        if !k.has_status() {
            continue;
        }
        resources.push(json!({
            "name": format!("{}/status", k.plural),
            "singularName": "",
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": ["get", "patch", "update"]
        }));
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources
    }))
}

fn aggregated_resource(k: &KindInfo) -> Value {
    let gvk = json!({"group": k.group, "version": k.version, "kind": k.kind});
    let mut r = json!({
        "resource": k.plural,
        "responseKind": gvk,
        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": k.singular,
        "verbs": k.verbs,
        "subresources": if k.has_status() {
            json!([{"subresource": "status", "responseKind": gvk, "verbs": ["get", "patch", "update"]}])
        } else {
            json!([])
        }
    });
    if !k.short_names.is_empty() {
        r["shortNames"] = json!(k.short_names);
    }
    if !k.categories.is_empty() {
        r["categories"] = json!(k.categories);
    }
    r
}

fn aggregated_response(core: bool, crds: Crds) -> Response {
    let items: Vec<Value> = group_versions(crds)
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, v)| {
            let mut metadata = json!({"creationTimestamp": null});
            if !g.is_empty() {
                metadata["name"] = g.into();
            }
            json!({
                "metadata": metadata,
                "versions": [{
                    "version": v,
                    "resources": kinds_in(g, v).map(aggregated_resource).collect::<Vec<_>>(),
                    "freshness": "Current"
                }]
            })
        })
        .collect();
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items
    });
    let mut response = Response::new(200, AGGREGATED_V2, body.to_string());
    response.headers.push(("Vary".into(), "Accept".into()));
    response
}

//! A minimal OpenAPI v3: just enough for kubectl's `--validate=strict` to find, per kind, a
//! PATCH operation tagged with `x-kubernetes-group-version-kind` that takes a
//! `fieldValidation` query parameter, so it sends `fieldValidation=Strict` and lets the
//! server validate.

use super::kinds::{group_versions, kinds_in, Crds, KindInfo};
use crate::http::Response;
use serde_json::{json, Map, Value};

/// `/openapi/v2`, which kubectl falls back to for client-side validation of kinds the v3
/// documents do not describe (e.g. `extensions/v1beta1` Deployments): an empty document (the
/// empty protobuf message when protobuf is asked for), so kubectl skips validation of unknown
/// kinds and then fails on the REST mapping with `no matches for kind`, as against a real
/// server.
pub fn v2(accept: &str) -> Response {
    if accept.contains("protobuf") {
        Response::new(
            200,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            Vec::new(),
        )
    } else {
        Response::json(
            200,
            &json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": {}}),
        )
    }
}

/// `openapi/v3` → the index; `openapi/v3/apis/apps/v1` → that group-version's document
/// (`crds`: the CRD groups installed).
pub fn handle(path: &str, crds: Crds) -> Option<Value> {
    let rest = path.trim_matches('/').strip_prefix("openapi/v3")?;
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Some(index(crds));
    }
    group_versions(crds)
        .into_iter()
        .find(|(g, v)| gv_path(g, v) == rest)
        .map(|(g, v)| document(g, v))
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn index(crds: Crds) -> Value {
    let mut paths = Map::new();
    for (g, v) in group_versions(crds) {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=EMULATOR{}", p.len())}),
        );
    }
    json!({"paths": paths})
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation_id(verb: &str, k: &KindInfo) -> String {
    let group: String = k
        .group
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 { c.to_ascii_uppercase() } else { c })
        .collect();
    let group = if group.is_empty() {
        "Core".into()
    } else {
        group
    };
    let scope = if k.namespaced { "Namespaced" } else { "" };
    format!("{verb}{group}{}{scope}{}", k.version.to_uppercase(), k.kind)
}

/// One group-version's document: per kind, a GET and a PATCH operation on the named object.
/// There are deliberately no component schemas: kubectl then computes client-side apply
/// patches from its built-in types instead of from (here incomplete) OpenAPI schemas.
fn document(group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for k in kinds_in(group, version) {
        let gvk = json!({"group": k.group, "version": k.version, "kind": k.kind});
        let item = if k.namespaced {
            format!(
                "{}/namespaces/{{namespace}}/{}/{{name}}",
                k.prefix(),
                k.plural
            )
        } else {
            format!("{}/{}/{{name}}", k.prefix(), k.plural)
        };
        let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .into_iter()
            .map(query_param)
            .collect();
        let ok = json!({"200": {"description": "OK"}, "201": {"description": "Created"}});
        paths.insert(
            item,
            json!({
                "get": {
                    "operationId": operation_id("read", k),
                    "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": ok
                },
                "patch": {
                    "operationId": operation_id("patch", k),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": params,
                    "responses": ok
                },
                "parameters": [
                    {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}
                ]
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}}
    })
}

//! The resource endpoints: `/api/v1/...` and `/apis/GROUP/VERSION/...` with GET (get, list),
//! POST, PUT, PATCH (server-side apply, merge patch) and DELETE, each answered the way the
//! real API server answers it.

use super::body::{body_object, check_fields, check_identity, check_target, respond};
use super::kinds::KindInfo;
use super::patch::{apply_patch, PatchKind};
use super::route::{parse_route, Route};
use super::scale;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{success, ApiError, FieldError};
use super::store::{Store, Writer};
use super::table;
use super::time::unix_now;
use crate::http::{Request, Response};
use serde_json::{json, Value};

/// Serves one resource request against `store` (a scratch copy for `dryRun=All`).
pub fn handle(store: &mut Store, req: &Request) -> Result<Response, ApiError> {
    let route = parse_route(&req.path)?;
    if req.query_param("dryRun").is_some_and(|v| v == "All") {
        let mut scratch = store.clone();
        return dispatch(&mut scratch, req, &route);
    }
    dispatch(store, req, &route)
}

fn dispatch(store: &mut Store, req: &Request, route: &Route) -> Result<Response, ApiError> {
    let ns = route.namespace.as_deref();
    if route.info.namespaced && ns.is_none() && (route.name.is_some() || req.method == "POST") {
        return Err(ApiError::no_route());
    }
    match (route.subresource.as_deref(), route.name.as_deref()) {
        (None, _) => {}
        (Some("status"), Some(name)) if req.method == "GET" => {
            return store
                .get(route.info, ns, name)
                .map(|obj| Response::json(200, obj))
                .ok_or_else(|| ApiError::not_found(route.info, name));
        }
        (Some("scale"), Some(name)) if scale::has_scale(route.info) => {
            return scale::handle(store, req, route.info, ns, name);
        }
        _ => return Err(ApiError::no_route()),
    }
    match (req.method.as_str(), route.name.as_deref()) {
        ("GET", None) => list(store, req, route.info, ns),
        ("GET", Some(name)) => {
            let object = store
                .get(route.info, ns, name)
                .ok_or_else(|| ApiError::not_found(route.info, name))?;
            if table::wanted(req.header("accept")) {
                let rv = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
                let t = table::table(route.info, &[object], rv, unix_now());
                return Ok(Response::json(200, &t));
            }
            Ok(Response::json(200, object))
        }
        ("POST", None) => create(store, req, route.info, ns),
        ("PUT", Some(name)) => update(store, req, route.info, ns, name),
        ("PATCH", Some(name)) => patch(store, req, route.info, ns, name),
        ("DELETE", Some(name)) => delete(store, req, route.info, ns, name),
        ("DELETE", None) => delete_collection(store, req, route.info, ns),
        (method, _) => Err(ApiError::method_not_allowed(method)),
    }
}

fn list(
    store: &Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(req.query_param("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(req.query_param("fieldSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let items: Vec<&Value> = store
        .list(info, ns)
        .filter(|o| labels.matches(o["metadata"]["labels"].as_object()) && fields.matches(o))
        .collect();
    let rv = store.revision().to_string();
    if table::wanted(req.header("accept")) {
        return Ok(Response::json(
            200,
            &table::table(info, &items, &rv, unix_now()),
        ));
    }
    Ok(Response::json(
        200,
        &json!({
            "kind": format!("{}List", info.kind),
            "apiVersion": info.api_version(),
            "metadata": {"resourceVersion": rv},
            "items": items
        }),
    ))
}

pub(super) fn manager<'a>(req: &'a Request, default: &'a str) -> &'a str {
    req.query_param("fieldManager")
        .filter(|m| !m.is_empty())
        .unwrap_or(default)
}

fn create(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
) -> Result<Response, ApiError> {
    let mut body = body_object(req, info)?;
    check_identity(info, &body, false)?;
    if body["metadata"]["name"].as_str().unwrap_or("").is_empty() {
        if let Some(prefix) = body["metadata"]["generateName"].as_str().map(String::from) {
            let suffix: String = store
                .new_uid()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(5)
                .collect();
            body["metadata"]["name"] = format!("{prefix}{suffix}").into();
        }
    }
    let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
    check_target(&mut body, ns, &name, info)?;
    let warnings = check_fields(req, info, &mut body, false)?;
    if !name.is_empty() && store.get(info, ns, &name).is_some() {
        return Err(ApiError::already_exists(info, &name));
    }
    let writer = Writer {
        manager: manager(req, "kubectl-create"),
        operation: "Update",
        fields: None,
    };
    let (object, _) = store.write(info, ns, body, &writer)?;
    Ok(respond(201, &object, &warnings))
}

pub(super) fn check_resource_version(
    info: &KindInfo,
    name: &str,
    body: &Value,
    stored: &Value,
) -> Result<(), ApiError> {
    match body["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() && stored["metadata"]["resourceVersion"] != rv => {
            Err(ApiError::conflict(info, name))
        }
        _ => Ok(()),
    }
}

fn update(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<Response, ApiError> {
    let mut body = body_object(req, info)?;
    check_identity(info, &body, false)?;
    check_target(&mut body, ns, name, info)?;
    let warnings = check_fields(req, info, &mut body, false)?;
    let stored = store
        .get(info, ns, name)
        .ok_or_else(|| ApiError::not_found(info, name))?;
    check_resource_version(info, name, &body, stored)?;
    let writer = Writer {
        manager: manager(req, "kubectl-replace"),
        operation: "Update",
        fields: None,
    };
    let (object, _) = store.write(info, ns, body, &writer)?;
    Ok(respond(200, &object, &warnings))
}

fn patch(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<Response, ApiError> {
    let content_type = req.header("content-type").unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/apply-patch+yaml" | "application/apply-patch+json" => {
            apply(store, req, info, ns, name)
        }
        _ => match PatchKind::from_media(media) {
            Some(kind) => patch_stored(store, req, info, ns, name, kind),
            None => Err(ApiError::unsupported_media(
                content_type,
                "supported patch types: application/apply-patch+yaml, \
                 application/merge-patch+json, application/strategic-merge-patch+json, \
                 application/json-patch+json",
            )),
        },
    }
}

fn apply(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<Response, ApiError> {
    let manager = req.query_param("fieldManager").unwrap_or("");
    if manager.is_empty() {
        let options = &super::kinds::KindInfo {
            group: "meta.k8s.io",
            kind: "PatchOptions",
            ..*info
        };
        return Err(ApiError::invalid(
            options,
            "",
            &[FieldError::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    let mut body = body_object(req, info)?;
    check_identity(info, &body, true)?;
    check_target(&mut body, ns, name, info)?;
    if !body["metadata"]["managedFields"].is_null() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let warnings = check_fields(req, info, &mut body, true)?;
    if let Some(stored) = store.get(info, ns, name) {
        check_resource_version(info, name, &body, stored)?;
        super::ownership::keep_others(stored, &mut body, manager);
    }
    let writer = Writer {
        manager,
        operation: "Apply",
        fields: None,
    };
    let (object, created) = store.write(info, ns, body, &writer)?;
    Ok(respond(if created { 201 } else { 200 }, &object, &warnings))
}

/// A merge, strategic merge or JSON patch of the stored object (or of its scale).
fn patch_stored(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
    name: &str,
    kind: PatchKind,
) -> Result<Response, ApiError> {
    let stored = store
        .get(info, ns, name)
        .ok_or_else(|| ApiError::not_found(info, name))?
        .clone();
    let mut candidate = stored.clone();
    if let Some(meta) = candidate["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    apply_patch(kind, &mut candidate, &req.body)?;
    check_resource_version(info, name, &candidate, &stored)?;
    check_identity(info, &candidate, false)?;
    check_target(&mut candidate, ns, name, info)?;
    let warnings = check_fields(req, info, &mut candidate, false)?;
    // What a merge patch sets is its manager's; other patch kinds are not tracked.
    let fields = match kind {
        PatchKind::Merge | PatchKind::Strategic => serde_json::from_slice::<Value>(&req.body)
            .ok()
            .map(|p| super::ownership::fields_of(&p)),
        PatchKind::Json => None,
    };
    let writer = Writer {
        manager: manager(req, "kubectl-patch"),
        operation: "Update",
        fields,
    };
    let (object, _) = store.write(info, ns, candidate, &writer)?;
    Ok(respond(200, &object, &warnings))
}

fn delete(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<Response, ApiError> {
    let stored = store
        .get(info, ns, name)
        .ok_or_else(|| ApiError::not_found(info, name))?;
    if let Ok(options) = serde_json::from_slice::<Value>(&req.body) {
        let wanted = &options["preconditions"]["uid"];
        if wanted.is_string() && *wanted != stored["metadata"]["uid"] {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    wanted.as_str().unwrap_or(""),
                    stored["metadata"]["uid"].as_str().unwrap_or("")
                ),
            ));
        }
        let wanted = &options["preconditions"]["resourceVersion"];
        if wanted.is_string() && *wanted != stored["metadata"]["resourceVersion"] {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {}.{} \"{name}\": the ResourceVersion in \
                     the precondition ({}) does not match the ResourceVersion in record ({}). The \
                     object might have been modified",
                    info.plural,
                    info.group,
                    wanted.as_str().unwrap_or(""),
                    stored["metadata"]["resourceVersion"].as_str().unwrap_or("")
                ),
            ));
        }
    }
    let removed = store.delete(info, ns, name, grace_period(req))?;
    if store.get(info, ns, name).is_some() {
        // Kept, Terminating (a pod whose kubelet is away, a claim still in use).
        return Ok(Response::json(200, &removed));
    }
    if info.kind == "Namespace" {
        let mut terminating = removed;
        terminating["metadata"]["deletionTimestamp"] = super::time::now().into();
        terminating["status"] = json!({"phase": "Terminating"});
        return Ok(Response::json(200, &terminating));
    }
    Ok(Response::json(
        200,
        &success(info, name, &removed["metadata"]["uid"]),
    ))
}

/// The delete's `gracePeriodSeconds` (DeleteOptions body, else query; kubectl sends 0 only
/// with `--force`).
fn grace_period(req: &Request) -> Option<i64> {
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|o| o["gracePeriodSeconds"].as_i64())
        .or_else(|| {
            req.query_param("gracePeriodSeconds")
                .and_then(|g| g.parse().ok())
        })
}

fn delete_collection(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(req.query_param("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let names: Vec<(Option<String>, String)> = store
        .list(info, ns)
        .filter(|o| labels.matches(o["metadata"]["labels"].as_object()))
        .map(|o| {
            (
                o["metadata"]["namespace"].as_str().map(String::from),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut items = Vec::new();
    for (item_ns, name) in names {
        items.push(store.delete(info, item_ns.as_deref(), &name, grace_period(req))?);
    }
    Ok(Response::json(
        200,
        &json!({
            "kind": format!("{}List", info.kind),
            "apiVersion": info.api_version(),
            "metadata": {"resourceVersion": store.revision().to_string()},
            "items": items
        }),
    ))
}

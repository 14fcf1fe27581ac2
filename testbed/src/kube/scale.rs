//! The `scale` subresource of Deployments and StatefulSets (`kubectl scale`): an
//! `autoscaling/v1` `Scale` view of `spec.replicas`, readable, replaceable and patchable.

use super::kinds::KindInfo;
use super::patch::{apply_patch, PatchKind};
use super::resource::{check_resource_version, manager};
use super::status::{ApiError, FieldError};
use super::store::{Store, Writer};
use crate::http::{Request, Response};
use serde_json::{json, Value};

pub fn has_scale(info: &KindInfo) -> bool {
    matches!(info.kind, "Deployment" | "StatefulSet")
}

fn scale_of(obj: &Value) -> Value {
    let selector: Vec<String> = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]
        },
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector.join(",")}
    })
}

pub fn handle(
    store: &mut Store,
    req: &Request,
    info: &KindInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<Response, ApiError> {
    let stored = store
        .get(info, ns, name)
        .ok_or_else(|| ApiError::not_found(info, name))?
        .clone();
    let current = scale_of(&stored);
    let desired = match req.method.as_str() {
        "GET" => return Ok(Response::json(200, &current)),
        "PUT" => serde_json::from_slice::<Value>(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?,
        "PATCH" => {
            let media = req.header("content-type").unwrap_or("");
            let kind = PatchKind::from_media(media.split(';').next().unwrap_or("").trim())
                .ok_or_else(|| {
                    ApiError::unsupported_media(media, "scale takes merge or JSON patches here")
                })?;
            let mut scale = current.clone();
            if let Some(meta) = scale["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
            }
            apply_patch(kind, &mut scale, &req.body)?;
            scale
        }
        method => return Err(ApiError::method_not_allowed(method)),
    };
    check_resource_version(info, name, &desired, &stored)?;
    let replicas = match desired["spec"]["replicas"].as_i64() {
        Some(n) if n >= 0 => n,
        _ => {
            let error = FieldError::invalid(
                "spec.replicas",
                &desired["spec"]["replicas"],
                "must be greater than or equal to 0",
            );
            return Err(ApiError::invalid(info, name, &[error]));
        }
    };
    let mut candidate = stored;
    candidate["spec"]["replicas"] = replicas.into();
    let writer = Writer {
        manager: manager(req, "kubectl-scale"),
        operation: "Update",
        fields: None,
    };
    let (object, _) = store.write(info, ns, candidate, &writer)?;
    Ok(Response::json(200, &scale_of(&object)))
}

//! Request bodies: decoding, identity checks (apiVersion, kind, name, namespace against the
//! URL) and `fieldValidation`, with the API server's error messages.

use super::kinds::KindInfo;
use super::schema;
use super::status::ApiError;
use crate::http::{Request, Response};
use serde_json::{json, Value};

/// The request body as a JSON object, or the API server's 400/415.
pub fn body_object(req: &Request, info: &KindInfo) -> Result<Value, ApiError> {
    let content_type = req.header("content-type").unwrap_or("application/json");
    if content_type.contains("protobuf") {
        return Err(ApiError::unsupported_media(
            content_type,
            "this emulator speaks JSON only; send manifests (kubectl create -f / apply -f) or use --dry-run=client -o yaml",
        ));
    }
    let value: Value = serde_json::from_slice(&req.body).map_err(|e| {
        let text = String::from_utf8_lossy(&req.body);
        if content_type.contains("yaml") && !text.trim_start().starts_with('{') {
            ApiError::unsupported_media(
                content_type,
                "this emulator accepts JSON bodies only (kubectl always sends JSON), not YAML",
            )
        } else {
            ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                info.kind, info.version, info.kind
            ))
        }
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: the body is not a JSON object",
            info.kind, info.version, info.kind
        )));
    }
    Ok(value)
}

/// The body's apiVersion/kind (when present) must be the URL's.
pub fn check_identity(info: &KindInfo, body: &Value, required: bool) -> Result<(), ApiError> {
    if !body["metadata"].is_object() && !body["metadata"].is_null() {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: json: cannot unmarshal {} into Go \
             struct field {}.metadata of type v1.ObjectMeta",
            info.kind,
            info.version,
            info.kind,
            if body["metadata"].is_array() {
                "array"
            } else {
                "value"
            },
            info.kind
        )));
    }
    match body["apiVersion"].as_str() {
        Some(v) if v != info.api_version() => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                info.api_version()
            )))
        }
        None if required => {
            return Err(ApiError::bad_request(format!(
                "Object 'apiVersion' is missing in '{body}'"
            )))
        }
        _ => {}
    }
    match body["kind"].as_str() {
        Some(k) if k != info.kind => Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            info.kind
        ))),
        None if required => Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{body}'"
        ))),
        _ => Ok(()),
    }
}

/// The body's name and namespace (when present) must be the URL's.
pub fn check_target(
    body: &mut Value,
    ns: Option<&str>,
    name: &str,
    info: &KindInfo,
) -> Result<(), ApiError> {
    match body["metadata"]["name"].as_str() {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        None => body["metadata"]["name"] = name.into(),
        _ => {}
    }
    if let (Some(body_ns), Some(url_ns)) = (body["metadata"]["namespace"].as_str(), ns) {
        if info.namespaced && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

/// Applies `fieldValidation`: unknown fields fail (Strict) or are dropped with a warning;
/// fields that must be strings always fail. Returns the warnings to send.
pub fn check_fields(
    req: &Request,
    info: &KindInfo,
    body: &mut Value,
    apply: bool,
) -> Result<Vec<String>, ApiError> {
    let problems = schema::check(info, body);
    let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ns = body["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let typed_patch = || {
        format!(
            "failed to create typed patch object ({ns}/{name}; {}, Kind={})",
            info.api_version(),
            info.kind
        )
    };
    if let Some((path, expected, found)) = problems.wrong_type.first() {
        return Err(ApiError::bad_request(if apply {
            format!(
                "{}: .{path}: expected {expected}, got {found}",
                typed_patch()
            )
        } else {
            format!(
                "{} in version \"{}\" cannot be handled as a {}: json: cannot unmarshal {found} into Go struct field {} of type {expected}",
                info.kind, info.version, info.kind, path
            )
        }));
    }
    if problems.unknown.is_empty() {
        return Ok(Vec::new());
    }
    let strict = req.query_param("fieldValidation") == Some("Strict");
    if strict {
        let message = if apply {
            let listed: Vec<String> = problems
                .unknown
                .iter()
                .map(|p| format!(".{p}: field not declared in schema"))
                .collect();
            format!("{}: {}", typed_patch(), listed.join(", "))
        } else {
            let listed: Vec<String> = problems
                .unknown
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect();
            format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                info.kind,
                info.version,
                info.kind,
                listed.join(", ")
            )
        };
        return Err(ApiError::bad_request(message));
    }
    schema::prune(info, body);
    if req.query_param("fieldValidation") == Some("Ignore") {
        return Ok(Vec::new());
    }
    Ok(problems
        .unknown
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect())
}

pub fn respond(status: u16, object: &Value, warnings: &[String]) -> Response {
    let mut response = Response::json(status, object);
    for w in warnings {
        response
            .headers
            .push(("Warning".into(), format!("299 - {}", json!(w))));
    }
    response
}

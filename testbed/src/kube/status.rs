//! `Status` objects: how a real API server reports every failure.

use super::kinds::KindInfo;
use crate::http::Response;
use serde_json::{json, Value};

/// A failed request, rendered as a `Status` with the matching HTTP code.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// One field-level validation error, as in `spec.selector: Invalid value: ...: field is immutable`.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub kind: FieldErrorKind,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub enum FieldErrorKind {
    /// Carries the rejected value, rendered as the real server does (strings quoted).
    Invalid(String),
    Required,
    Forbidden,
    /// Carries the missing name.
    NotFound(String),
}

impl FieldError {
    pub fn invalid(field: &str, value: &Value, detail: impl Into<String>) -> FieldError {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        FieldError {
            field: field.to_string(),
            kind: FieldErrorKind::Invalid(shown),
            detail: detail.into(),
        }
    }

    pub fn required(field: &str, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            kind: FieldErrorKind::Required,
            detail: detail.into(),
        }
    }

    pub fn forbidden(field: &str, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            kind: FieldErrorKind::Forbidden,
            detail: detail.into(),
        }
    }

    pub fn not_found(field: &str, value: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            kind: FieldErrorKind::NotFound(format!("{value:?}")),
            detail: String::new(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Invalid(_) => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::NotFound(_) => "FieldValueNotFound",
        }
    }

    /// The message without the leading field path.
    fn body(&self) -> String {
        let head = match &self.kind {
            FieldErrorKind::Invalid(value) => format!("Invalid value: {value}"),
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::NotFound(value) => format!("Not found: {value}"),
        };
        if self.detail.is_empty() {
            head
        } else {
            format!("{head}: {}", self.detail)
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// The Status a real server answers for an HTTP code without more specific knowledge.
    pub fn for_code(code: u16, message: impl Into<String>) -> ApiError {
        ApiError::new(code, reason_for_code(code), message)
    }

    fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn not_found(info: &KindInfo, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", info.qualified_resource()),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    pub fn namespace_not_found(namespace: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
        )
        .with_details(json!({"name": namespace, "kind": "namespaces"}))
    }

    /// A path the server does not serve at all.
    pub fn no_route() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn already_exists(info: &KindInfo, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", info.qualified_resource()),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    pub fn conflict(info: &KindInfo, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                info.qualified_resource()
            ),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    pub fn invalid(info: &KindInfo, name: &str, errors: &[FieldError]) -> ApiError {
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let joined = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason(), "message": e.body(), "field": e.field}))
            .collect();
        ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", info.qualified_kind()),
        )
        .with_details(json!({
            "name": name, "group": info.group, "kind": info.kind, "causes": causes
        }))
    }

    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    pub fn unsupported_media(content_type: &str, why: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format ({content_type}): {why}"),
        )
    }

    pub fn to_value(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }

    pub fn to_response(&self) -> Response {
        Response::json(self.code, &self.to_value())
    }
}

/// The `reason` a real server puts in a Status for a bare HTTP code.
pub fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        504 => "Timeout",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    }
}

/// `{"kind":"Status","status":"Success",...}` as answered by a DELETE.
pub fn success(info: &KindInfo, name: &str, uid: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": info.group, "kind": info.plural, "uid": uid}
    })
}

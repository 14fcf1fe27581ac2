//! Field formats and errors of the Compute Engine API: the Google error body, RFC 1035 names,
//! labels, label fingerprints and timestamps.

use crate::http::Response;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) type Labels = BTreeMap<String, String>;

/// The fingerprint the real API reports for a resource without labels.
const EMPTY_FINGERPRINT: &str = "42WmSpB8rSM=";

/// An error as the API reports it: HTTP `status`, `errors[0].reason` and the message.
#[derive(Clone, Debug)]
pub(super) struct ApiError {
    pub status: u16,
    pub reason: String,
    pub message: String,
}

pub(super) type ApiResult = Result<Value, ApiError>;

pub(super) fn api_error(status: u16, reason: &str, message: impl Into<String>) -> ApiError {
    let (reason, message) = (reason.to_string(), message.into());
    ApiError {
        status,
        reason,
        message,
    }
}

pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    api_error(400, "invalid", message)
}

pub(super) fn not_found(resource: &str) -> ApiError {
    api_error(
        404,
        "notFound",
        format!("The resource '{resource}' was not found"),
    )
}

/// 400 `resourceNotReady`: the disk or snapshot is still being made (or deleted).
pub(super) fn not_ready(resource: &str) -> ApiError {
    api_error(
        400,
        "resourceNotReady",
        format!("The resource '{resource}' is not ready"),
    )
}

impl ApiError {
    /// `{"error":{"code","message","errors":[{"reason","message","domain"}]}}`, as gcloud parses.
    pub fn response(&self) -> Response {
        let error = json!({"reason": self.reason, "message": self.message, "domain": "global"});
        let body = json!({"code": self.status, "message": self.message, "errors": [error]});
        Response::json(self.status, &json!({ "error": body }))
    }
}

/// A realistic message for an injected fault.
pub(super) fn fault_message(reason: &str) -> String {
    match reason {
        "QUOTA_EXCEEDED" | "quotaExceeded" => {
            "Quota 'DISKS_TOTAL_GB' exceeded.  Limit: 4096.0 in region us-central1.".into()
        }
        "backendError" => "Internal error. Please try again or contact Google Support.".into(),
        "rateLimitExceeded" => "Rate Limit Exceeded".into(),
        other => format!("Injected fault: {other}"),
    }
}

pub(super) fn parse_body(body: &[u8]) -> ApiResult {
    serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid JSON payload received. {e}")))
}

/// RFC 1035 names, as the API requires for disks.
pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    let b = name.as_bytes();
    let chars_ok = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    let ends_ok = b.first().is_some_and(u8::is_ascii_lowercase) && b.last() != Some(&b'-');
    if b.len() <= 63 && chars_ok && ends_ok {
        return Ok(());
    }
    let pattern = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19})";
    let field = format!("Invalid value for field 'resource.name': '{name}'");
    Err(invalid(format!(
        "{field}. Must be a match of regex '{pattern}'"
    )))
}

pub(super) fn parse_labels(value: &Value) -> Result<Labels, ApiError> {
    let object = match value {
        Value::Null => return Ok(Labels::new()),
        Value::Object(object) => object,
        _ => return Err(invalid("Invalid value for field 'labels'")),
    };
    let label = |(k, v): (&String, &Value)| match v.as_str() {
        Some(v) => Ok((k.clone(), v.to_string())),
        None => Err(invalid(format!("Invalid value for field 'labels.{k}'"))),
    };
    object.iter().map(label).collect()
}

/// URL-safe base64 of a hash of the labels: gcloud round-trips it through urlsafe_b64decode, so
/// a fingerprint with `+` or `/` would come back changed.
pub(super) fn fingerprint(labels: &Labels) -> String {
    if labels.is_empty() {
        return EMPTY_FINGERPRINT.to_string();
    }
    let bytes = labels
        .iter()
        .flat_map(|(k, v)| k.bytes().chain([0]).chain(v.bytes()).chain([1]));
    let fnv1a = |h: u64, b: u8| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    let hash = bytes.fold(0xcbf2_9ce4_8422_2325, fnv1a);
    base64::engine::general_purpose::URL_SAFE.encode(hash.to_be_bytes())
}

/// RFC 3339 at UTC-7 (Pacific daylight time), the way the API writes timestamps.
pub(super) fn timestamp(t: SystemTime) -> String {
    let since_epoch = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let millis = since_epoch.as_millis() as i64 - 7 * 3_600_000;
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = crate::civil::civil_from_days(days);
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{frac:03}-07:00")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_timestamps_fingerprints_and_names() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp(t), "2023-11-14T15:13:20.123-07:00");
        let fp = fingerprint(&Labels::from([("a".into(), "b".into())]));
        assert!(!fp.contains(['+', '/']) && fp != EMPTY_FINGERPRINT);
        assert!(check_name("d-1").is_ok() && check_name("1d").is_err());
        assert!(check_name("d-").is_err() && check_name("D").is_err());
        assert!(parse_labels(&json!({"k": 1})).is_err());
    }
}

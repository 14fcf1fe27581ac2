//! Injected failures for the Kubernetes emulator: a [`Fault`] fails matching requests with a
//! proper `Status`, optionally after letting some of them by, and optionally with the
//! `Retry-After` a throttling API server sends.

use super::status::ApiError;
use crate::armed::{Armory, Shots};
use crate::http::Response;
use serde_json::json;

/// Makes the next `times` requests whose method matches (any, if `None`) and whose
/// `path?query` contains `path_contains` fail with `status` and a proper `Status` body.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    pub times: usize,
}

impl Fault {
    fn matches(&self, method: &str, target: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        method_ok && target.contains(&self.path_contains)
    }
}

impl Shots for Fault {
    fn shots(&mut self) -> &mut usize {
        &mut self.times
    }
}

#[derive(Default)]
pub(super) struct Faults {
    armed: Armory<Fault>,
    retry_after: Option<u32>,
}

/// A fault that fired: what to answer.
pub(super) struct Injected {
    status: u16,
    retry_after: Option<u32>,
}

impl Injected {
    /// The `Status` for the request `line` ("METHOD /path?query").
    pub fn response(&self, line: &str) -> Response {
        let code = self.status;
        let mut error = ApiError::for_code(code, format!("injected fault: {code} for {line}"));
        let retry_after = self.retry_after.filter(|_| code == 429 || code >= 500);
        if let Some(seconds) = retry_after {
            error.details = Some(json!({"retryAfterSeconds": seconds}));
        }
        let mut response = error.to_response();
        if let Some(seconds) = retry_after {
            response
                .headers
                .push(("Retry-After".into(), seconds.to_string()));
        }
        response
    }
}

impl Faults {
    pub fn inject_after(&mut self, skip: usize, fault: Fault) {
        self.armed.arm(skip, fault);
    }

    pub fn set_retry_after(&mut self, seconds: Option<u32>) {
        self.retry_after = seconds;
    }

    /// The HTTP status to fail `METHOD target` with, if a fault takes it (see
    /// [`Armory::take`]).
    pub fn take(&mut self, method: &str, target: &str) -> Option<Injected> {
        let fired = self.armed.take(|f| f.matches(method, target))?;
        Some(Injected {
            status: fired.status,
            retry_after: self.retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_then_fails_then_passes() {
        let mut faults = Faults::default();
        let fault = Fault {
            method: Some("PATCH".into()),
            path_contains: "/deployments/es-1".into(),
            status: 503,
            times: 2,
        };
        faults.inject_after(1, fault);
        let target = "/apis/apps/v1/namespaces/es/deployments/es-1?fieldManager=esk";
        assert!(faults.take("GET", target).is_none());
        let outcomes: Vec<bool> = (0..4)
            .map(|_| faults.take("PATCH", target).is_some())
            .collect();
        assert_eq!(outcomes, [false, true, true, false]);
        faults.set_retry_after(Some(1));
        faults.inject_after(
            0,
            Fault {
                method: None,
                path_contains: "/".into(),
                status: 429,
                times: 1,
            },
        );
        let response = faults.take("GET", target).map(|i| i.response("GET /x"));
        let response = response.expect("fired");
        assert_eq!(response.status, 429);
        assert!(response
            .headers
            .contains(&("Retry-After".into(), "1".into())));
    }
}

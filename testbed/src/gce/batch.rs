//! `POST /batch/compute/v1`: a multipart/mixed body whose `application/http` parts are requests,
//! answered by a multipart/mixed body whose parts carry `Content-ID: <response-ID>` and an
//! `HTTP/1.1 …` response, which is what gcloud (apitools) sends and parses.

use super::{handle, values::invalid, State};
use crate::http::{self, Request, Response};
use std::sync::Mutex;

const REPLY_BOUNDARY: &str = "batch_esk_testbed_reply";

/// Runs the parts in order. Operation waits in one batch still overlap: each sleeps until a
/// deadline fixed when its operation started.
pub(super) fn batch(state: &Mutex<State>, req: &Request) -> Response {
    let boundary = req
        .header("content-type")
        .and_then(http::multipart_boundary);
    let Some(boundary) = boundary else {
        return invalid("Batch request without a multipart boundary").response();
    };
    let mut out = Vec::new();
    for part in http::split_multipart(&req.body, &boundary) {
        let id = part
            .headers
            .get("content-id")
            .map_or("", |v| v.trim_matches(['<', '>']));
        let response = match parse_inner_request(&part.body) {
            Some(inner) => handle(state, inner),
            None => invalid("Malformed batch part").response(),
        };
        let (status, reason) = (response.status, http::reason(response.status));
        let mut head = format!("--{REPLY_BOUNDARY}\r\nContent-Type: application/http\r\n");
        head += &format!("Content-ID: <response-{id}>\r\n\r\nHTTP/1.1 {status} {reason}\r\n");
        for (name, value) in &response.headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += &format!("Content-Length: {}\r\n\r\n", response.body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&response.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{REPLY_BOUNDARY}--\r\n").as_bytes());
    let content_type = format!("multipart/mixed; boundary={REPLY_BOUNDARY}");
    Response::new(200, &content_type, out)
}

/// The requests in a batch's parts (malformed parts left out), without running them.
pub(super) fn inner_requests(req: &Request) -> Vec<Request> {
    let boundary = req
        .header("content-type")
        .and_then(http::multipart_boundary);
    let Some(boundary) = boundary else {
        return Vec::new();
    };
    http::split_multipart(&req.body, &boundary)
        .iter()
        .filter_map(|part| parse_inner_request(&part.body))
        .collect()
}

/// Parses "METHOD /path?query HTTP/1.1\nheaders\n\nbody" (the target may be a full URL).
fn parse_inner_request(raw: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(raw).ok()?;
    let (head, body) = http::split_head(text);
    let (request_line, headers) = head.split_once('\n').unwrap_or((head, ""));
    let mut words = request_line.split_whitespace();
    let method = words.next()?.to_string();
    let mut target = words.next()?;
    if let Some((_, after_scheme)) = target.split_once("://") {
        target = &after_scheme[after_scheme.find('/')?..];
    }
    let (path, query) = http::split_target(target);
    let (headers, body) = (http::parse_headers(headers), body.as_bytes().to_vec());
    Some(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts_as_gcloud_writes_them() {
        let part = "POST /compute/v1/projects/p/zones/z/disks?alt=json HTTP/1.1\nContent-Type: application/json\nHost: x\n\n{\"name\": \"d\"}";
        let req = parse_inner_request(part.as_bytes()).expect("parsed");
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("POST", "/compute/v1/projects/p/zones/z/disks")
        );
        assert_eq!(req.query_param("alt"), Some("json"));
        assert_eq!(req.body, b"{\"name\": \"d\"}");
        let full =
            parse_inner_request(b"GET http://h:1/compute/v1/x HTTP/1.1\n\n").expect("parsed");
        assert_eq!(full.path, "/compute/v1/x");
        assert!(parse_inner_request(b"\n\n").is_none());
    }
}

//! A forwarding proxy on 127.0.0.1 in front of moto_server, which has no fault injection of
//! its own: it logs the EC2 `Action` of every request, answers chosen ones with an EC2 error
//! of the real shape, and forwards everything else to moto unchanged.

use crate::armed::{Armory, Shots};
use crate::http::{self, Request, Response, Server};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Makes `times` requests whose `Action=` is `action` fail with an EC2 error: HTTP `status`,
/// `<Code>code</Code>` and `<Message>message</Message>` in EC2's
/// `<Response><Errors><Error>…</Error></Errors><RequestID>…</RequestID></Response>` body.
/// A failed request never reaches moto.
#[derive(Clone, Debug)]
pub struct AwsFault {
    pub action: String,
    pub status: u16,
    pub code: String,
    pub message: String,
    pub times: usize,
}

impl AwsFault {
    /// EC2's throttling error: HTTP 503 `RequestLimitExceeded`, "Request limit exceeded.".
    pub fn request_limit_exceeded(action: &str, times: usize) -> AwsFault {
        AwsFault {
            action: action.into(),
            status: 503,
            code: "RequestLimitExceeded".into(),
            message: "Request limit exceeded.".into(),
            times,
        }
    }

    /// HTTP 400 `VolumeInUse`, as EC2 refuses to delete an attached volume.
    pub fn volume_in_use(
        action: &str,
        volume_id: &str,
        instance_id: &str,
        times: usize,
    ) -> AwsFault {
        AwsFault {
            action: action.into(),
            status: 400,
            code: "VolumeInUse".into(),
            message: format!("Volume {volume_id} is currently attached to {instance_id}"),
            times,
        }
    }
}

impl Shots for AwsFault {
    fn shots(&mut self) -> &mut usize {
        &mut self.times
    }
}

#[derive(Default)]
struct State {
    actions: Vec<String>,
    armed: Armory<AwsFault>,
    serial: u64,
}

impl State {
    /// The fault that answers a request for `action` (see [`Armory::take`]).
    fn take(&mut self, action: &str) -> Option<AwsFault> {
        self.armed.take(|f| f.action == action)
    }
}

pub(super) struct Proxy {
    server: Server,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Proxy {
    /// Listens on a free 127.0.0.1 port and forwards to moto on `moto_port`.
    pub fn start(moto_port: u16) -> std::io::Result<Proxy> {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Server::start(Arc::new(move |req| handle(&shared, moto_port, req)))?;
        Ok(Proxy { server, state })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn actions(&self) -> Vec<String> {
        lock(&self.state).actions.clone()
    }

    pub fn inject_fault_after(&self, skip: usize, fault: AwsFault) {
        lock(&self.state).armed.arm(skip, fault);
    }
}

/// The `Action` of an EC2 query request, from the form body or the query string.
fn action(req: &Request) -> Option<String> {
    if let Some(a) = req.query_param("Action") {
        return Some(a.to_string());
    }
    let body = String::from_utf8_lossy(&req.body);
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(http::percent_decode)
}

fn handle(state: &Mutex<State>, moto_port: u16, req: Request) -> Response {
    let action = action(&req);
    let fault = {
        let mut state = lock(state);
        state.serial += 1;
        let serial = state.serial;
        action.as_deref().and_then(|a| {
            state.actions.push(a.to_string());
            state.take(a).map(|f| (f, serial))
        })
    };
    if let Some((fault, serial)) = fault {
        return error_response(&fault, serial);
    }
    if action.as_deref() == Some("CreateVolume") {
        if let Some(refused) = unknown_zone(moto_port, &req) {
            return refused;
        }
    }
    forward(moto_port, &req).unwrap_or_else(|e| {
        let fault = AwsFault {
            action: String::new(),
            status: 502,
            code: "InternalError".into(),
            message: format!("the test bed's proxy could not reach moto: {e}"),
            times: 0,
        };
        error_response(&fault, 0)
    })
}

/// A form parameter of an EC2 query request, decoded.
fn form_param(req: &Request, name: &str) -> Option<String> {
    let body = String::from_utf8_lossy(&req.body);
    let prefix = format!("{name}=");
    body.split('&')
        .find_map(|kv| kv.strip_prefix(prefix.as_str()).map(http::percent_decode))
}

/// EC2 refuses a volume in an availability zone its region does not have (moto makes one
/// anyway, in no zone): the zones are the region's as moto lists them, asked with the
/// request's own credentials (their scope names the region).
fn unknown_zone(moto_port: u16, req: &Request) -> Option<Response> {
    let zone = form_param(req, "AvailabilityZone")?;
    let mut probe = req.clone();
    probe.body = b"Action=DescribeAvailabilityZones&Version=2016-11-15".to_vec();
    let listed = forward(moto_port, &probe).ok()?;
    let known =
        String::from_utf8_lossy(&listed.body).contains(&format!("<zoneName>{zone}</zoneName>"));
    if known || listed.status != 200 {
        return None;
    }
    let fault = AwsFault {
        action: "CreateVolume".into(),
        status: 400,
        code: "InvalidParameterValue".into(),
        message: format!("Invalid availability zone: [{zone}]"),
        times: 0,
    };
    Some(error_response(&fault, 0))
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An EC2 error as the real service writes it (no namespace on `Response`, a UUID RequestID).
fn error_response(fault: &AwsFault, serial: u64) -> Response {
    let request_id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        0x5e5e_0000u32 | (serial as u32 & 0xffff),
        serial & 0xffff,
        serial & 0xfff,
        serial & 0xfff,
        serial
    );
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code>\
         <Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
        xml_escape(&fault.code),
        xml_escape(&fault.message)
    );
    let mut response = Response::new(fault.status, "text/xml;charset=UTF-8", body);
    response
        .headers
        .push(("x-amzn-RequestId".into(), request_id));
    response
}

/// Percent-encodes all but unreserved characters (and `/` when `keep_slash`).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends the request to moto on a fresh connection and reads its whole answer.
fn forward(moto_port: u16, req: &Request) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", moto_port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut target = encode(&req.path, true);
    let query: Vec<String> = req
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, false), encode(v, false)))
        .collect();
    if !query.is_empty() {
        target = format!("{target}?{}", query.join("&"));
    }
    let mut head = format!("{} {target} HTTP/1.1\r\n", req.method);
    for (name, value) in &req.headers {
        if !["connection", "content-length", "transfer-encoding"].contains(&name.as_str()) {
            head += &format!("{name}: {value}\r\n");
        }
    }
    head += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&req.body);
    stream.write_all(&out)?;
    read_response(BufReader::new(stream))
}

fn read_response(mut reader: impl BufRead) -> std::io::Result<Response> {
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => {}
            _ => headers.push((name.to_string(), value.to_string())),
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = size.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(std::io::Error::other)?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
        stream: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_on_the_kth_matching_action_then_stop() {
        let mut state = State::default();
        let fault = AwsFault::request_limit_exceeded("DeleteVolume", 2);
        state.armed.arm(1, fault);
        let fired: Vec<bool> = [
            "DeleteVolume",
            "DescribeVolumes",
            "DeleteVolume",
            "DeleteVolume",
            "DeleteVolume",
        ]
        .iter()
        .map(|a| state.take(a).is_some())
        .collect();
        assert_eq!(fired, [false, false, true, true, false]);
    }

    #[test]
    fn errors_have_the_ec2_shape() {
        let response = error_response(&AwsFault::request_limit_exceeded("X", 1), 7);
        assert_eq!(response.status, 503);
        let body = String::from_utf8_lossy(&response.body);
        assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>"), "{body}");
        assert!(body.ends_with("</RequestID></Response>"));
    }

    #[test]
    fn reads_length_chunked_and_eof_bodies() {
        let length = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 3\r\n\r\nabcdef";
        let r = read_response(length.as_bytes()).expect("parsed");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        assert_eq!(
            r.headers,
            [("Content-Type".to_string(), "text/xml".to_string())]
        );
        let chunked =
            "HTTP/1.1 400 BAD\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n";
        let r = read_response(chunked.as_bytes()).expect("parsed");
        assert_eq!((r.status, r.body.as_slice()), (400, &b"abc"[..]));
        let eof = read_response("HTTP/1.0 200 OK\r\n\r\nxyz".as_bytes()).expect("parsed");
        assert_eq!(eof.body, b"xyz");
        assert_eq!(encode("a b/c=", true), "a%20b/c%3D");
    }
}

//! A deliberately small HTTP/1.1 server for the emulators: one thread per connection,
//! keep-alive, Content-Length or chunked request bodies, whole responses written at once
//! (with TCP_NODELAY, or every request of a Python or Go client stalls ~40 ms on Nagle).
//! A `101 Switching Protocols` answer hands the connection over to the other protocol: the
//! server then only reads (and drops) what the client sends until it closes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One parsed request. Header names are lower-cased.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string, percent-decoded.
    pub path: String,
    /// Query parameters in order, percent-decoded.
    pub query: Vec<(String, String)>,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A body written as it is produced, chunked, after `body` (a followed log); `None` for
    /// a whole response.
    pub stream: Option<Stream>,
}

/// Writes a streamed body, a chunk per write, and returns when the stream ends (the
/// response then ends with the last chunk) or the client is gone (a write fails).
#[derive(Clone)]
pub struct Stream(pub Arc<StreamWriter>);

/// What writes a streamed body.
pub type StreamWriter = dyn Fn(&mut dyn Write) -> std::io::Result<()> + Send + Sync;

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

/// One chunk of a chunked body per write, sent at once.
struct Chunked<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Chunked<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        write!(self.0, "{:x}\r\n", buf.len())?;
        self.0.write_all(buf)?;
        self.0.write_all(b"\r\n")?;
        self.0.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            stream: None,
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status, "application/json", value.to_string())
    }
}

pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// A running server; dropping it stops accepting and closes idle connections.
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Server {
    /// Binds 127.0.0.1 on a free port and serves `handler` until dropped.
    pub fn start(handler: Handler) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let (stop, conns) = (stopping.clone(), connections.clone());
        let accept = std::thread::Builder::new()
            .name(format!("http-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    if let Ok(clone) = stream.try_clone() {
                        if let Ok(mut list) = conns.lock() {
                            list.push(clone);
                        }
                    }
                    let handler = handler.clone();
                    let _ = std::thread::Builder::new()
                        .name("http-conn".into())
                        .spawn(move || serve_connection(stream, handler));
                }
            })?;
        Ok(Server {
            addr,
            stopping,
            accept: Some(accept),
            connections,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        if let Ok(list) = self.connections.lock() {
            for conn in list.iter() {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }
}

fn serve_connection(stream: TcpStream, handler: Handler) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let response = handler(request);
        let upgraded = response.status == 101;
        if write_response(&mut writer, &response).is_err() || close {
            // The server keeps a clone of every stream (to close it on drop), so dropping
            // ours would not end the connection: a client reading to EOF would hang.
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        if upgraded {
            // The connection stays open for as long as the client keeps it.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn read_line(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let Some(request_line) = read_line(reader)? else {
        return Ok(None);
    };
    let mut parts = request_line.split_whitespace();
    let method = parts
        .next()
        .ok_or_else(|| invalid("no method"))?
        .to_string();
    let target = parts.next().ok_or_else(|| invalid("no target"))?;
    let mut headers = BTreeMap::new();
    while let Some(line) = read_line(reader)? {
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let body = read_body(reader, &headers)?;
    let (path, query) = split_target(target);
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
    }))
}

fn read_body(
    reader: &mut impl BufRead,
    headers: &BTreeMap<String, String>,
) -> std::io::Result<Vec<u8>> {
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        loop {
            let size_line = read_line(reader)?.ok_or_else(|| invalid("eof in chunk"))?;
            let size_hex = size_line.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailers, then the blank line.
                while let Some(line) = read_line(reader)? {
                    if line.is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            read_line(reader)?;
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn write_response(writer: &mut impl Write, response: &Response) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(response.body.len() + 256);
    write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    )?;
    for (name, value) in &response.headers {
        write!(out, "{name}: {value}\r\n")?;
    }
    if let Some(stream) = &response.stream {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        writer.write_all(&out)?;
        let mut chunks = Chunked(writer);
        chunks.write_all(&response.body)?;
        (stream.0)(&mut chunks)?;
        chunks.0.write_all(b"0\r\n\r\n")?;
        return chunks.0.flush();
    }
    if response.status == 101 {
        out.extend_from_slice(b"\r\n");
    } else {
        write!(out, "Content-Length: {}\r\n\r\n", response.body.len())?;
    }
    out.extend_from_slice(&response.body);
    writer.write_all(&out)?;
    writer.flush()
}

pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Splits `/a/b?x=1&y=2` into a decoded path and decoded query pairs.
pub fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (percent_decode(path), pairs)
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parsed `multipart/*` body part: its headers (lower-cased names) and raw content.
#[derive(Debug, Clone)]
pub struct Part {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// The `boundary=` parameter of a multipart Content-Type.
pub fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').map(str::trim).find_map(|p| {
        p.strip_prefix("boundary=")
            .map(|b| b.trim_matches('"').to_string())
    })
}

/// Splits a multipart body on `--boundary` lines.
pub fn split_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in text.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let (head, content) = split_head(chunk);
        let content = content
            .strip_suffix("\r\n")
            .or_else(|| content.strip_suffix('\n'))
            .unwrap_or(content);
        parts.push(Part {
            headers: parse_headers(head),
            body: content.as_bytes().to_vec(),
        });
    }
    parts
}

/// Splits "headers\r\n\r\nbody" (or with bare \n) into its two halves.
pub fn split_head(text: &str) -> (&str, &str) {
    if let Some(i) = text.find("\r\n\r\n") {
        (&text[..i], &text[i + 4..])
    } else if let Some(i) = text.find("\n\n") {
        (&text[..i], &text[i + 2..])
    } else {
        (text, "")
    }
}

pub fn parse_headers(head: &str) -> BTreeMap<String, String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_decodes_targets() {
        let (path, query) = split_target("/a%2Fb/c?labelSelector=app%3Des%2Cx+in+(1)&limit=500");
        assert_eq!(path, "/a/b/c");
        assert_eq!(query[0], ("labelSelector".into(), "app=es,x in (1)".into()));
        assert_eq!(query[1], ("limit".into(), "500".into()));
    }

    #[test]
    fn splits_multipart_parts() {
        let body = "--xyz\r\nContent-Type: application/http\r\nContent-ID: <1>\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\n--xyz\r\nContent-ID: <2>\r\n\r\nPOST /b\r\n--xyz--\r\n";
        let parts = split_multipart(body.as_bytes(), "xyz");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].headers["content-id"], "<1>");
        assert!(String::from_utf8_lossy(&parts[0].body).starts_with("GET /a"));
        assert_eq!(parts[1].headers["content-id"], "<2>");
    }
}

//! A private `kubectl proxy` on a Unix socket: many reads of the API server (each node's gossip
//! through the pod proxy, logs) for the cost of one kubectl process, where `kubectl get --raw`
//! would cost one process per request (~60-120 ms of CPU each, seconds for 99 nodes). The
//! socket lives in a directory only the user can enter, so esk opens no port; kubectl brings
//! its own credentials, and the proxy stops when esk drops it.

use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::process::Tool;

/// How long kubectl may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One answer from the API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

pub struct KubeProxy {
    child: duct::Handle,
    dir: PathBuf,
    socket: PathBuf,
}

impl KubeProxy {
    /// Starts `kubectl proxy` for `context` and waits until it serves.
    pub fn start(tool: &Tool, context: Option<&str>) -> Result<KubeProxy> {
        let dir = private_dir()?;
        let socket = dir.join("kube.sock");
        let mut args = vec![
            "proxy".to_string(),
            format!("--unix-socket={}", socket.display()),
        ];
        if let Some(c) = context {
            args.push(format!("--context={c}"));
        }
        let child = match tool.spawn(&args) {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let proxy = KubeProxy { child, dir, socket };
        let started = Instant::now();
        while !proxy.socket.exists() {
            if let Some(out) = proxy.child.try_wait()? {
                bail!(
                    "`kubectl proxy` stopped ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("`kubectl proxy` did not start within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(proxy)
    }

    /// `GET path` (an API path with its query, built from validated names), within `timeout`.
    pub fn get(&self, path: &str, timeout: Duration) -> Result<Reply> {
        let mut stream =
            UnixStream::connect(&self.socket).context("connecting to kubectl proxy")?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: esk\r\n\
             Accept: application/json, */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes())?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .with_context(|| format!("reading {path} through kubectl proxy"))?;
        parse_reply(&raw).with_context(|| format!("reading {path} through kubectl proxy"))
    }
}

impl Drop for KubeProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory only this user can enter.
fn private_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "esk-proxy-{}-{nanos:x}-{attempt}",
            std::process::id()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("could not create a private directory in {}", base.display())
}

/// Parses an HTTP/1.1 response (whole, as read until the server closed).
fn parse_reply(raw: &[u8]) -> Result<Reply> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body)?;
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.truncate(len);
    }
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk")?;
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_replies() {
        let plain = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(
            parse_reply(plain).unwrap(),
            Reply {
                status: 503,
                body: "{}".into()
            }
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_reply(chunked).unwrap().body, "{\"a\":1}");
        assert!(parse_reply(b"garbage").is_err());
    }
}
